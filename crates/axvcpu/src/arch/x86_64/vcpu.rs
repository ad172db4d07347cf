//! [`X86VCpu`]: the Intel VMX implementation of [`AxArchVCpu`].

pub mod controls;

use core::marker::PhantomData;

use axvm_types::{
    AccessWidth, AxVmError, AxVmResult, GuestPhysAddr, HostPhysAddr, NestedPagingConfig, VCpuId,
    VMId,
};

pub use self::controls::CrFixed;
use self::controls::{Controls, PROC_INTERRUPT_WINDOW_EXITING};
use super::{
    context::{
        GuestRegs, RSP, merge_load,
        start::{GuestStart, RFLAGS_IF},
        switched::{DebugRegs, MXCSR_RESET, SwitchedRegs, XSAVE_AREA_SIZE, XSAVE_MXCSR_OFFSET},
        vmcs::{self, VmcsAccess},
    },
    entry::{ENTRY_EXITED, ENTRY_FAIL_INVALID, vmexit_landing},
    exit::{ExitCtx, ExitEnv, advance_rip, lapic::VLapic, qual},
    hw::{self, CurrentVmcs, HostState, XsaveAreas},
    paging,
};
use crate::{AxArchVCpu, AxVCpuExitReason, AxVCpuHal, PhysCpuBinding};

/// Parameters of [`X86VCpu::new`] (through [`AxVCpu::new`](crate::AxVCpu::new)):
/// none yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct X86CreateConfig;

/// The state a guest starts in at its entry point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum X86StartMode {
    /// Real mode: CS selector = `(entry >> 4) & 0xf000`, CS base = selector << 4,
    /// RIP = entry − base; the entry must be below 1 MiB.
    Real,
    /// The state a start-up IPI leaves an application processor in: real mode at
    /// the start of the page of the entry, CS selector = vector << 8, CS base =
    /// vector << 12, IP = 0, where the vector is the entry's page number modulo 256
    /// (the IPI's 8 bits; any entry is accepted, so `setup` needs no real one).
    /// For every vCPU but the bootstrap one; `set_entry` with the `CpuUp` exit's
    /// `entry_point` when the guest starts it.
    StartupIpi,
    /// 32-bit flat protected mode with paging off, as a Multiboot loader leaves the
    /// CPU: CS base 0, limit 4 GiB, 32-bit code (selector 0x08); DS, ES, SS, FS,
    /// GS flat data (selector 0x10); RIP = entry; EFLAGS = 2. The hypervisor sets
    /// EAX/EBX (magic, information structure) with `set_gpr`.
    #[default]
    Protected32,
    /// 64-bit mode with paging on through the guest's own page tables at
    /// guest-physical `cr3` (CR0.PG|PE, CR4.PAE, EFER.LME|LMA, CS.L = 1).
    Long64 {
        /// The guest-physical address of the guest's PML4.
        cr3: u64,
    },
}

/// Parameters of [`X86VCpu::setup`](AxArchVCpu::setup).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct X86SetupConfig {
    /// The state the guest starts in (default: 32-bit protected mode).
    pub start_mode: X86StartMode,
}

/// An x86_64 virtual CPU on Intel VMX with EPT, VPID and unrestricted guest,
/// generic over the hypervisor's [`AxVCpuHal`] (frames for the VMCS, and the
/// mapping through which guest instructions are read).
///
/// See the crate README for what the hypervisor must set up and the table of how
/// VM exits become [`AxVCpuExitReason`]s.
pub struct X86VCpu<H: AxVCpuHal> {
    regs: GuestRegs,
    vmcs: Option<HostPhysAddr>,
    vmcs_ready: bool,
    launched: bool,
    host: Option<HostState>,
    binding: PhysCpuBinding,
    /// The EPT pointer or VPID changed while bound but not on this CPU.
    paging_pending: bool,
    controls: Option<Controls>,
    fixed: CrFixed,
    entry: u64,
    start_mode: X86StartMode,
    set_up: bool,
    reset_pending: bool,
    eptp: Option<u64>,
    vpid: u16,
    pending_rsp: Option<u64>,
    pending_irqs: [u64; 4],
    event_queued: bool,
    window_exiting: bool,
    access_len: u64,
    /// The last exit was a start-up IPI's `CpuUp`: the guest made no call, so
    /// `set_return_value` must not touch RAX.
    after_cpu_up: bool,
    lapic: VLapic,
    /// The guest's KERNEL_GS_BASE, CR2 and XCR0 while not bound.
    switched: SwitchedRegs,
    /// The host's, while bound.
    host_switched: SwitchedRegs,
    /// The XSAVE areas, from the first `bind` on a CPU with XSAVE.
    xsave: Option<XsaveAreas>,
    debug: DebugRegs,
    vm_id: VMId,
    vcpu_id: VCpuId,
    _hal: PhantomData<fn() -> H>,
}

impl<H: AxVCpuHal> core::fmt::Debug for X86VCpu<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("X86VCpu")
            .field("vm_id", &self.vm_id)
            .field("vcpu_id", &self.vcpu_id)
            .field("entry", &format_args!("{:#x}", self.entry))
            .field("start_mode", &self.start_mode)
            .field("bound_cpu", &self.binding.cpu())
            .field("launched", &self.launched)
            .finish_non_exhaustive()
    }
}

/// The machine a bound vCPU's exits are handled on.
struct HwEnv<H>(CurrentVmcs, PhantomData<fn() -> H>);

impl<H> VmcsAccess for HwEnv<H> {
    fn read(&self, field: u32) -> AxVmResult<u64> {
        self.0.read(field)
    }
    fn write(&mut self, field: u32, value: u64) -> AxVmResult {
        self.0.write(field, value)
    }
}

impl<H: AxVCpuHal> ExitEnv for HwEnv<H> {
    fn cpuid(&self, leaf: u32, subleaf: u32) -> [u32; 4] {
        hw::cpuid(leaf, subleaf)
    }
    fn rdtsc(&self) -> u64 {
        hw::rdtsc()
    }
    fn read_host(&self, hpa: u64) -> Option<u64> {
        hw::read_host::<H>(hpa)
    }
    fn set_xcr0(&mut self, value: u64) {
        hw::set_guest_xcr0(value);
    }
    fn host_nmi(&mut self) {
        hw::deliver_nmi_to_host();
    }
}

/// Writes the execution, exit and entry controls and the CR guest/host masks.
///
/// # Errors
///
/// When a VMCS access fails.
pub(crate) fn write_controls<V: VmcsAccess>(
    vmcs: &mut V,
    controls: &Controls,
    fixed: &CrFixed,
) -> AxVmResult {
    vmcs.write(vmcs::PIN_CONTROLS, controls.pin.into())?;
    vmcs.write(vmcs::PROC_CONTROLS, controls.proc.into())?;
    vmcs.write(vmcs::PROC_CONTROLS2, controls.proc2.into())?;
    vmcs.write(vmcs::EXIT_CONTROLS, controls.exit.into())?;
    vmcs.write(vmcs::ENTRY_CONTROLS, controls.entry.into())?;
    // No exception exits, no CR3 targets, no MSR lists: every count starts at 0.
    for field in [
        vmcs::EXCEPTION_BITMAP,
        vmcs::PAGE_FAULT_ERROR_CODE_MASK,
        vmcs::PAGE_FAULT_ERROR_CODE_MATCH,
        vmcs::CR3_TARGET_COUNT,
        vmcs::EXIT_MSR_STORE_COUNT,
        vmcs::EXIT_MSR_LOAD_COUNT,
        vmcs::ENTRY_MSR_LOAD_COUNT,
    ] {
        vmcs.write(field, 0)?;
    }
    vmcs.write(vmcs::ENTRY_INTR_INFO, 0)?;
    vmcs.write(vmcs::CR0_GUEST_HOST_MASK, fixed.cr0_mask())?;
    vmcs.write(vmcs::CR4_GUEST_HOST_MASK, fixed.cr4_mask())
}

/// Writes the host-state area: where and how a VM exit returns to the hypervisor.
///
/// # Errors
///
/// When a VMCS access fails.
pub(crate) fn write_host_state<V: VmcsAccess>(
    vmcs: &mut V,
    host: &HostState,
    rip: u64,
) -> AxVmResult {
    use vmcs::*;
    vmcs.write(HOST_CR0, host.cr0)?;
    vmcs.write(HOST_CR3, host.cr3)?;
    vmcs.write(HOST_CR4, host.cr4)?;
    for (field, selector) in [
        (HOST_ES_SELECTOR, host.es),
        (HOST_CS_SELECTOR, host.cs),
        (HOST_SS_SELECTOR, host.ss),
        (HOST_DS_SELECTOR, host.ds),
        (HOST_FS_SELECTOR, host.fs),
        (HOST_GS_SELECTOR, host.gs),
        (HOST_TR_SELECTOR, host.tr),
    ] {
        vmcs.write(field, selector.into())?;
    }
    vmcs.write(HOST_FS_BASE, host.fs_base)?;
    vmcs.write(HOST_GS_BASE, host.gs_base)?;
    vmcs.write(HOST_TR_BASE, host.tr_base)?;
    vmcs.write(HOST_GDTR_BASE, host.gdtr_base)?;
    vmcs.write(HOST_IDTR_BASE, host.idtr_base)?;
    vmcs.write(HOST_SYSENTER_CS, host.sysenter_cs)?;
    vmcs.write(HOST_SYSENTER_ESP, host.sysenter_esp)?;
    vmcs.write(HOST_SYSENTER_EIP, host.sysenter_eip)?;
    vmcs.write(HOST_EFER, host.efer)?;
    vmcs.write(HOST_PAT, host.pat)?;
    vmcs.write(HOST_RIP, rip)
}

/// The highest pending vector of `pending` (a 256-bit set), if any.
#[must_use]
pub(crate) fn highest_pending(pending: &[u64; 4]) -> Option<u8> {
    (0u8..4).rev().find_map(|word| {
        let bits = *pending.get(usize::from(word))?;
        (bits != 0).then(|| {
            word.wrapping_mul(64)
                .wrapping_add(63u8.wrapping_sub(bits.leading_zeros() as u8))
        })
    })
}

impl<H: AxVCpuHal> X86VCpu<H> {
    /// The guest's general registers (current after each exit; `rsp` is in the
    /// VMCS, not here).
    #[must_use]
    pub const fn regs(&self) -> &GuestRegs {
        &self.regs
    }

    /// The guest's general registers, mutably (between runs).
    pub const fn regs_mut(&mut self) -> &mut GuestRegs {
        &mut self.regs
    }

    /// The start mode set by `setup`.
    #[must_use]
    pub const fn start_mode(&self) -> X86StartMode {
        self.start_mode
    }

    /// The EPT pointer, once nested paging is set.
    #[must_use]
    pub const fn eptp(&self) -> Option<u64> {
        self.eptp
    }

    /// The VPID the vCPU's translations are tagged with.
    #[must_use]
    pub const fn vpid(&self) -> u16 {
        self.vpid
    }

    /// Whether the vCPU's VMCS is current on a physical CPU (between `bind` and
    /// `unbind`).
    #[must_use]
    pub const fn is_bound(&self) -> bool {
        self.binding.is_bound()
    }

    /// Whether the VMCS is current on the calling CPU: only then may it be read
    /// or written.
    fn here(&self) -> bool {
        self.binding.is_loaded_here::<H>()
    }

    /// Whether external interrupt `vector` is waiting to be injected.
    #[must_use]
    pub fn is_interrupt_pending(&self, vector: u8) -> bool {
        let word = usize::from(vector / 64);
        self.pending_irqs
            .get(word)
            .is_some_and(|bits| bits & (1 << (vector % 64)) != 0)
    }

    /// Allocates the XSAVE areas on first use, on a CPU with XSAVE: the guest's
    /// starts in the init state with the reset MXCSR.
    fn prepare_xsave(&mut self) -> AxVmResult {
        let mask = hw::guest_xcr0_mask();
        if mask == 0 || self.xsave.is_some() {
            return Ok(());
        }
        if hw::host_xsave_size() > XSAVE_AREA_SIZE {
            log::error!("x86 vCPU: the host's XSAVE area does not fit a frame");
            return Err(AxVmError::Unsupported);
        }
        let guest = H::alloc_frame().ok_or(AxVmError::NoMemory)?;
        let Some(host) = H::alloc_frame() else {
            H::dealloc_frame(guest);
            return Err(AxVmError::NoMemory);
        };
        let mxcsr = H::phys_to_virt(guest)
            .as_mut_ptr()
            .wrapping_add(XSAVE_MXCSR_OFFSET)
            .cast::<u32>();
        // SAFETY: a fresh frame the vCPU owns (HAL contract), reachable at
        // `phys_to_virt`; MXCSR's offset is 4-byte aligned inside it.
        unsafe { mxcsr.write(MXCSR_RESET) };
        self.xsave = Some(XsaveAreas { guest, host, mask });
        Ok(())
    }

    fn env() -> HwEnv<H> {
        HwEnv(CurrentVmcs, PhantomData)
    }

    /// Sets up the VMCS on first use (VMCLEAR, VMPTRLD, controls) or makes it
    /// current again, then refreshes host state, nested paging and pending guest
    /// state.
    fn load(&mut self, host: &HostState) -> AxVmResult {
        let frame = match self.vmcs {
            Some(frame) => frame,
            None => {
                let frame = H::alloc_frame().ok_or(AxVmError::NoMemory)?;
                self.vmcs = Some(frame);
                frame
            }
        };
        let paddr = frame.as_usize() as u64;
        let caps = hw::caps()?;
        let mut env = Self::env();
        if !self.vmcs_ready {
            let controls = Controls::new(&caps)?;
            hw::write_revision::<H>(frame, caps.revision_id());
            hw::vmclear(paddr)?;
            hw::vmptrld(paddr)?;
            self.fixed = caps.cr;
            write_controls(&mut env, &controls, &self.fixed)?;
            self.controls = Some(controls);
            self.launched = false;
            self.window_exiting = false;
            self.reset_pending = true;
            self.vmcs_ready = true;
        } else {
            hw::vmptrld(paddr)?;
        }
        write_host_state(&mut env, host, vmexit_landing())?;
        self.write_paging(&mut env)?;
        self.apply_pending(&mut env)
    }

    /// Points the current VMCS at the EPT and VPID and drops what the TLBs cached
    /// for them.
    fn write_paging(&mut self, env: &mut HwEnv<H>) -> AxVmResult {
        let controls = self.controls.ok_or(AxVmError::BadState)?;
        let eptp = self.eptp.ok_or(AxVmError::BadState)?;
        env.write(vmcs::EPT_POINTER, eptp)?;
        env.write(vmcs::VPID, self.vpid.into())?;
        hw::invept(controls.invalidation.invept, eptp)?;
        hw::invvpid(controls.invalidation.invvpid, self.vpid)?;
        self.paging_pending = false;
        Ok(())
    }

    /// Writes guest state changed while the VMCS was not current.
    fn apply_pending<V: VmcsAccess>(&mut self, vmcs: &mut V) -> AxVmResult {
        if self.reset_pending {
            GuestStart::new(self.start_mode, self.entry)?.write(vmcs, &self.fixed)?;
            self.reset_pending = false;
        }
        if let Some(rsp) = self.pending_rsp.take() {
            vmcs.write(vmcs::GUEST_RSP, rsp)?;
        }
        Ok(())
    }

    /// Injects the highest pending interrupt if the guest can take it now, or
    /// asks for an exit as soon as it can.
    fn prepare_injection<V: VmcsAccess>(&mut self, vmcs: &mut V) -> AxVmResult {
        let want_window = match highest_pending(&self.pending_irqs) {
            None => false,
            Some(_) if self.event_queued => true,
            Some(vector) => {
                let rflags = vmcs.read(vmcs::GUEST_RFLAGS)?;
                let blocked = vmcs.read(vmcs::GUEST_INTERRUPTIBILITY)? & 0b11 != 0;
                if rflags & RFLAGS_IF != 0 && !blocked {
                    vmcs.write(
                        vmcs::ENTRY_INTR_INFO,
                        qual::external_interrupt(vector).into(),
                    )?;
                    if let Some(bits) = self.pending_irqs.get_mut(usize::from(vector / 64)) {
                        *bits &= !(1 << (vector % 64));
                    }
                    // An interrupt wakes a halted guest.
                    vmcs.write(vmcs::GUEST_ACTIVITY_STATE, 0)?;
                    highest_pending(&self.pending_irqs).is_some()
                } else {
                    true
                }
            }
        };
        if want_window != self.window_exiting {
            let controls = self.controls.ok_or(AxVmError::BadState)?;
            let proc = if want_window {
                controls.proc | PROC_INTERRUPT_WINDOW_EXITING
            } else {
                controls.proc
            };
            vmcs.write(vmcs::PROC_CONTROLS, proc.into())?;
            self.window_exiting = want_window;
        }
        self.event_queued = false;
        Ok(())
    }

    /// Enters the guest once; the `ENTRY_*` code.
    #[cfg(all(target_arch = "x86_64", target_os = "none"))]
    fn enter(&mut self) -> AxVmResult<u64> {
        // SAFETY: the vCPU is bound (checked by `run`): its VMCS is current with
        // the host state of this CPU and HOST_RIP at the landing; the hypervisor
        // promised (README) to run in VMX root operation with interrupts disabled.
        Ok(unsafe { super::entry::enter_guest(&mut self.regs, self.launched) })
    }

    #[cfg(not(all(target_arch = "x86_64", target_os = "none")))]
    #[allow(clippy::unused_self)] // Same signature as on bare-metal x86_64.
    fn enter(&mut self) -> AxVmResult<u64> {
        Err(AxVmError::Unsupported)
    }

    /// Handles the exit of the last entry (code `code`); `Nothing` to enter again.
    fn after_entry<E: ExitEnv>(&mut self, env: &mut E, code: u64) -> AxVmResult<AxVCpuExitReason> {
        if code != ENTRY_EXITED {
            let reason = if code == ENTRY_FAIL_INVALID {
                0
            } else {
                env.read(vmcs::VM_INSTRUCTION_ERROR)?
            };
            log::error!(
                "x86 vCPU {}/{}: VMLAUNCH/VMRESUME failed, VM-instruction error {reason}",
                self.vm_id,
                self.vcpu_id
            );
            return Ok(AxVCpuExitReason::FailEntry { reason });
        }
        self.launched = true;
        let eptp = self.eptp.ok_or(AxVmError::BadState)?;
        let mut ctx = ExitCtx {
            env,
            regs: &mut self.regs,
            eptp,
            fixed: self.fixed,
            vcpu_id: self.vcpu_id,
            lapic: &mut self.lapic,
            debug: &mut self.debug,
            xcr0_mask: self.xsave.map_or(0, |areas| areas.mask),
            access_len: 0,
            event_queued: false,
        };
        let exit = ctx.handle();
        self.access_len = ctx.access_len;
        self.event_queued = ctx.event_queued;
        self.after_cpu_up = matches!(exit, Ok(AxVCpuExitReason::CpuUp { .. }));
        exit
    }
}

impl<H: AxVCpuHal> AxArchVCpu for X86VCpu<H> {
    type CreateConfig = X86CreateConfig;
    type SetupConfig = X86SetupConfig;

    fn new(vm_id: VMId, vcpu_id: VCpuId, _config: X86CreateConfig) -> AxVmResult<Self> {
        Ok(Self {
            regs: GuestRegs::default(),
            vmcs: None,
            vmcs_ready: false,
            launched: false,
            host: None,
            binding: PhysCpuBinding::new(),
            paging_pending: false,
            controls: None,
            fixed: CrFixed::default(),
            entry: 0,
            start_mode: X86StartMode::default(),
            set_up: false,
            reset_pending: false,
            eptp: None,
            vpid: 1,
            pending_rsp: None,
            pending_irqs: [0; 4],
            event_queued: false,
            window_exiting: false,
            access_len: 0,
            after_cpu_up: false,
            lapic: VLapic::new(u8::try_from(vcpu_id).unwrap_or(u8::MAX)),
            switched: SwitchedRegs::reset(),
            host_switched: SwitchedRegs::reset(),
            xsave: None,
            debug: DebugRegs::default(),
            vm_id,
            vcpu_id,
            _hal: PhantomData,
        })
    }

    /// Sets the entry point; after `setup` this also puts the vCPU back in its start
    /// mode's state (segments, control registers, RIP), as for an AP started later.
    fn set_entry(&mut self, entry: GuestPhysAddr) -> AxVmResult {
        let entry = entry.as_usize() as u64;
        if self.set_up {
            GuestStart::new(self.start_mode, entry)?;
            self.reset_pending = true;
        }
        self.entry = entry;
        if self.here() {
            self.apply_pending(&mut Self::env())?;
        }
        Ok(())
    }

    fn set_ept_root(&mut self, config: NestedPagingConfig) -> AxVmResult {
        let eptp = paging::eptp(&config)?;
        self.eptp = Some(eptp);
        self.vpid = paging::vpid(config.vmid);
        if self.here() {
            self.write_paging(&mut Self::env())?;
        } else {
            // Loaded elsewhere: `run` there writes them; unbound: `bind` does.
            self.paging_pending = self.binding.is_bound();
        }
        Ok(())
    }

    fn setup(&mut self, config: X86SetupConfig) -> AxVmResult {
        if self.eptp.is_none() {
            return Err(AxVmError::BadState);
        }
        GuestStart::new(config.start_mode, self.entry)?;
        self.start_mode = config.start_mode;
        self.set_up = true;
        self.reset_pending = true;
        if self.here() {
            self.apply_pending(&mut Self::env())?;
        }
        Ok(())
    }

    fn run(&mut self) -> AxVmResult<AxVCpuExitReason> {
        let host = self.host.ok_or(AxVmError::BadState)?;
        if !self.here() {
            return Err(AxVmError::BadState);
        }
        let mut env = Self::env();
        if self.paging_pending {
            self.write_paging(&mut env)?;
        }
        self.apply_pending(&mut env)?;
        loop {
            self.prepare_injection(&mut env)?;
            let code = self.enter()?;
            hw::restore_descriptor_tables(&host);
            let exit = self.after_entry(&mut env, code);
            if !matches!(exit, Ok(AxVCpuExitReason::Nothing)) {
                return exit;
            }
        }
    }

    fn bind(&mut self) -> AxVmResult {
        if self.binding.is_bound() || !self.set_up {
            return Err(AxVmError::BadState);
        }
        // On an error the binding is dropped, which gives the CPU back.
        let binding = PhysCpuBinding::claim_here::<H>()?;
        self.prepare_xsave()?;
        let host = hw::host_state()?;
        if let Err(error) = self.load(&host) {
            if let Some(frame) = self.vmcs.filter(|_| self.vmcs_ready) {
                // Leave no half-loaded VMCS current on this CPU.
                let _ = hw::vmclear(frame.as_usize() as u64);
                self.launched = false;
            }
            return Err(error);
        }
        self.host_switched = hw::switch_to_guest::<H>(&self.switched, self.xsave.as_ref());
        self.host = Some(host);
        self.binding = binding;
        Ok(())
    }

    fn unbind(&mut self) -> AxVmResult {
        self.host.ok_or(AxVmError::BadState)?;
        if !self.here() {
            return Err(AxVmError::BadState);
        }
        let frame = self.vmcs.ok_or(AxVmError::BadState)?;
        hw::vmclear(frame.as_usize() as u64)?;
        hw::switch_to_host::<H>(&mut self.switched, &self.host_switched, self.xsave.as_ref());
        self.launched = false;
        self.host = None;
        self.binding.release::<H>()
    }

    fn is_loaded_here(&self) -> bool {
        self.here()
    }

    /// Sets register `reg` in the x86 numbering (0..15 = `rax rcx rdx rbx rsp rbp
    /// rsi rdi r8`..`r15`); `rsp` goes to the VMCS.
    fn set_gpr(&mut self, reg: usize, value: u64) {
        if reg != RSP {
            self.regs.set(reg, value);
        } else if self.here() {
            if let Err(error) = Self::env().write(vmcs::GUEST_RSP, value) {
                log::error!("x86 vCPU {}: cannot write RSP: {error:?}", self.vcpu_id);
            }
        } else {
            self.pending_rsp = Some(value);
        }
    }

    /// An x86 load: 8- and 16-bit results keep the register's other bits, 32-bit
    /// ones zero-extend.
    fn write_load_result(&mut self, reg: usize, value: u64, width: AccessWidth) {
        let old = if reg != RSP {
            self.regs.get(reg)
        } else if self.here() {
            Self::env().read(vmcs::GUEST_RSP).unwrap_or(0)
        } else {
            self.pending_rsp.unwrap_or(0)
        };
        self.set_gpr(reg, merge_load(old, value, width));
    }

    /// Makes external interrupt `vector` (32..=255) pending; it is injected at the
    /// first entry where the guest has interrupts enabled.
    fn inject_interrupt(&mut self, vector: usize) -> AxVmResult {
        let vector = u8::try_from(vector).map_err(|_| AxVmError::InvalidInput)?;
        if vector < 32 {
            return Err(AxVmError::InvalidInput);
        }
        let bits = self
            .pending_irqs
            .get_mut(usize::from(vector / 64))
            .ok_or(AxVmError::InvalidInput)?;
        *bits |= 1 << (vector % 64);
        Ok(())
    }

    /// Sets RAX, the result of a VMCALL; ignored after a `CpuUp` exit, which a
    /// start-up IPI (a `MOV` to the local APIC) caused, not a call.
    fn set_return_value(&mut self, value: u64) {
        if !self.after_cpu_up {
            self.regs.set(0, value);
        }
    }

    /// Only on the vCPU's own CPU: RIP is in the VMCS.
    fn skip_instruction(&mut self) {
        if !self.here() {
            return;
        }
        if let Err(error) = advance_rip(&mut Self::env(), self.access_len) {
            log::error!("x86 vCPU {}: cannot move RIP: {error:?}", self.vcpu_id);
        }
    }
}

impl<H: AxVCpuHal> Drop for X86VCpu<H> {
    /// Unbinds a vCPU loaded on this CPU (VMCLEAR) and frees its VMCS. A VMCS
    /// still current on another CPU cannot be cleared from here, and that CPU may
    /// write it back at any time, so its frame is left to it (logged), not freed.
    fn drop(&mut self) {
        if self.here() {
            if let Err(error) = self.unbind() {
                log::error!(
                    "x86 vCPU {}: unbind on drop failed: {error:?}",
                    self.vcpu_id
                );
            }
        }
        if let Some(areas) = self.xsave.take() {
            H::dealloc_frame(areas.guest);
            H::dealloc_frame(areas.host);
        }
        let Some(frame) = self.vmcs.take() else {
            return;
        };
        if self.binding.is_bound() {
            log::warn!(
                "x86 vCPU {}/{} dropped while bound to CPU {:?}: its VMCS frame {frame:?} is \
                 not freed",
                self.vm_id,
                self.vcpu_id,
                self.binding.cpu()
            );
        } else {
            H::dealloc_frame(frame);
        }
    }
}

#[cfg(test)]
mod tests;
