//! [`Riscv64VCpu`]: the riscv64 H-extension implementation of [`AxArchVCpu`].

use core::marker::PhantomData;

use axvm_types::{
    AxVmError, AxVmResult, GuestPhysAddr, NestedPagingConfig, VCpuId, VMId, VirtualIrq,
};

use super::{
    context::{FpState, SSTATUS_SPP, TrapFrame, VsState, fs_clean, fs_dirty, hstatus, reg},
    entry,
    exit::{self, RemoteFence, TrapEffects, cause},
    hw::{self, GuestHwState, HostHwState, Residency, has_sstc},
    paging,
};
use crate::{AxArchVCpu, AxVCpuExitReason, AxVCpuHal, PhysCpuBinding, ratelimit::log_limited};

/// `hvip` bits: the VS-level interrupts the hypervisor makes pending.
pub mod hvip {
    /// VS-level software interrupt (the guest sees cause 1).
    pub const VSSIP: u64 = 1 << 2;
    /// VS-level timer interrupt (cause 5).
    pub const VSTIP: u64 = 1 << 6;
    /// VS-level external interrupt (cause 9).
    pub const VSEIP: u64 = 1 << 10;
}

/// Parameters of [`Riscv64VCpu::new`] (through [`AxVCpu::new`](crate::AxVCpu::new)).
/// None yet: the hart id is the guest's to learn from `a0` at entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Riscv64CreateConfig;

/// Parameters of [`Riscv64VCpu::setup`](AxArchVCpu::setup).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Riscv64SetupConfig {
    /// Trap WFI (`hstatus.VTW`): it becomes a [`Halt`](AxVCpuExitReason::Halt)
    /// exit. Default `true`.
    pub trap_wfi: bool,
    /// The SBI extensions the hypervisor answers (the backend forwards them as
    /// [`Hypercall`](AxVCpuExitReason::Hypercall) exits, e.g. [`sbi::DBCN`]):
    /// `probe_extension` reports them available beside the backend's own
    /// ([`sbi::is_implemented`]), which Linux needs before it uses one (`earlycon=sbi`
    /// writes through DBCN only once probed). Default: none.
    ///
    /// [`sbi::DBCN`]: exit::sbi::DBCN
    /// [`sbi::is_implemented`]: exit::sbi::is_implemented
    pub hypervisor_extensions: &'static [u64],
    /// Give the guest Sstc when the hart has it ([`has_sstc`]): its `stimecmp`
    /// is `vstimecmp` and its timer interrupt needs no hypervisor. `false` keeps the
    /// SBI TIME path (a deadline, `hvip.VSTIP` and the hypervisor's timer; see the
    /// crate README) on any hart. Default `true`.
    pub sstc: bool,
}

impl Default for Riscv64SetupConfig {
    fn default() -> Self {
        Self {
            trap_wfi: true,
            hypervisor_extensions: &[],
            sstc: true,
        }
    }
}

impl Riscv64SetupConfig {
    /// The guest's `hstatus`: 64-bit VS-mode, `sret` enters the guest in VS-mode,
    /// WFI trapped as configured.
    #[must_use]
    pub const fn hstatus(&self) -> u64 {
        let value = hstatus::VSXL_64 | hstatus::SPV | hstatus::SPVP;
        if self.trap_wfi {
            value | hstatus::VTW
        } else {
            value
        }
    }
}

/// A riscv64 virtual hart for a hypervisor running in HS-mode, generic over the
/// hypervisor's [`AxVCpuHal`] (used to acknowledge physical interrupts).
///
/// See the crate README for what the hypervisor must set up and the table of how
/// guest traps become exits.
pub struct Riscv64VCpu<H: AxVCpuHal> {
    frame: TrapFrame,
    vs: VsState,
    fp: FpState,
    /// Set when `fp` changed outside the guest (it must be loaded at `bind`).
    fp_stale: bool,
    /// Where the vCPU was last bound (see `hw::rebind`).
    residency: Residency,
    /// The timer is Sstc's (`vstimecmp`); otherwise the SBI TIME deadline below.
    sstc: bool,
    timer_deadline: u64,
    effects: TrapEffects,
    /// What `probe_extension` reports besides the backend's own extensions.
    hypervisor_extensions: &'static [u64],
    hvip: u64,
    /// The interrupt the controller model last handed over (`set_irq_list`), which
    /// `hvip.VSEIP` stands for.
    external: Option<VirtualIrq>,
    hgatp: Option<(u64, u16)>,
    /// Set when `hgatp` changed while bound but not on this hart.
    hgatp_dirty: bool,
    host: Option<HostHwState>,
    binding: PhysCpuBinding,
    vm_id: VMId,
    vcpu_id: VCpuId,
    _hal: PhantomData<fn() -> H>,
}

impl<H: AxVCpuHal> core::fmt::Debug for Riscv64VCpu<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Riscv64VCpu")
            .field("vm_id", &self.vm_id)
            .field("vcpu_id", &self.vcpu_id)
            .field("pc", &format_args!("{:#x}", self.frame.sepc))
            .field("hstatus", &format_args!("{:#x}", self.frame.hstatus))
            .field("hgatp", &self.hgatp.map(|(hgatp, _)| hgatp))
            .field("bound_cpu", &self.binding.cpu())
            .finish_non_exhaustive()
    }
}

impl<H: AxVCpuHal> Riscv64VCpu<H> {
    /// The guest's general registers, PC and trap CSRs (current after each exit).
    #[must_use]
    pub const fn regs(&self) -> &TrapFrame {
        &self.frame
    }

    /// The guest's general registers and PC, mutably (between runs).
    pub const fn regs_mut(&mut self) -> &mut TrapFrame {
        &mut self.frame
    }

    /// The guest's VS-level CSRs as of the last `unbind` (or the reset state).
    #[must_use]
    pub const fn vs_state(&self) -> &VsState {
        &self.vs
    }

    /// The guest's VS-level CSRs, mutably: changes take effect at the next `bind`.
    pub const fn vs_state_mut(&mut self) -> &mut VsState {
        &mut self.vs
    }

    /// The guest's FP registers as of the last `unbind` (or the reset state: zero).
    #[must_use]
    pub const fn fp_state(&self) -> &FpState {
        &self.fp
    }

    /// The guest's FP registers, mutably: changes take effect at the next `bind`.
    pub const fn fp_state_mut(&mut self) -> &mut FpState {
        self.fp_stale = true;
        &mut self.fp
    }

    /// The guest's program counter (`sepc`).
    #[must_use]
    pub const fn pc(&self) -> u64 {
        self.frame.sepc
    }

    /// `hgatp`, once nested paging is set.
    #[must_use]
    pub fn hgatp(&self) -> Option<u64> {
        self.hgatp.map(|(hgatp, _)| hgatp)
    }

    /// Whether the guest's timer is Sstc's (set up with
    /// [`Riscv64SetupConfig::sstc`] on a hart that [`has_sstc`]): its device tree
    /// may then list `sstc`, and it must not otherwise.
    #[must_use]
    pub const fn uses_sstc(&self) -> bool {
        self.sstc
    }

    /// The `time` value at which the guest's timer interrupt becomes pending;
    /// `u64::MAX` when off. With Sstc its `vstimecmp` (read from the hart while
    /// the vCPU is loaded here), otherwise the deadline of its last SBI `set_timer`.
    #[must_use]
    pub fn timer_deadline(&self) -> u64 {
        if !self.sstc {
            self.timer_deadline
        } else if self.binding.is_loaded_here::<H>() {
            hw::read_vstimecmp()
        } else {
            self.vs.vstimecmp
        }
    }

    /// Sets the guest's Sstc timer (`vstimecmp`), on the hart when loaded here.
    fn set_vstimecmp(&mut self, deadline: u64) {
        if self.binding.is_loaded_here::<H>() {
            hw::write_vstimecmp(deadline);
        } else {
            self.vs.vstimecmp = deadline;
        }
    }

    /// The virtual interrupts pending for the guest (`hvip`, see [`hvip`]).
    #[must_use]
    pub const fn pending_interrupts(&self) -> u64 {
        self.hvip
    }

    /// Whether an interrupt the guest enables (in its `vsie`) is pending for it: one
    /// injected (`hvip`), or its timer due. A guest in WFI (a `Halt` exit) would be
    /// woken by it, so the hypervisor must not sleep on its behalf.
    #[must_use]
    pub fn has_pending_interrupt(&self) -> bool {
        let vsie = if self.binding.is_loaded_here::<H>() {
            hw::read_vsie()
        } else {
            self.vs.vsie
        };
        let timer = if hw::time() >= self.timer_deadline() {
            hvip::VSTIP
        } else {
            0
        };
        // vsie's enables (bits 1, 5, 9) sit one bit below their hvip bits.
        (self.hvip | timer) & (vsie << 1) & (hvip::VSSIP | hvip::VSTIP | hvip::VSEIP) != 0
    }

    /// Whether the vCPU is loaded on a physical hart (between `bind` and `unbind`).
    #[must_use]
    pub const fn is_bound(&self) -> bool {
        self.binding.is_bound()
    }

    /// Withdraws the injected interrupt `vector` (1, 5 or 9, see
    /// [`inject_interrupt`](AxArchVCpu::inject_interrupt)); whether it was pending.
    pub fn clear_virtual_irq(&mut self, vector: usize) -> bool {
        let Some(bit) = hvip_bit(vector) else {
            return false;
        };
        let pending = self.hvip & bit != 0;
        self.hvip &= !bit;
        pending
    }

    /// Puts the vCPU back in its reset state (general, FP registers and VS CSRs zero,
    /// VS-mode, no timer, no pending interrupt), keeping its entry point, nested
    /// paging and traps: what SBI HSM `hart_start` promises a hart that was stopped.
    /// Set the new entry, `a0` and `a1` afterwards.
    ///
    /// # Errors
    ///
    /// `BadState` while bound (the live state is in the physical hart).
    pub fn reset(&mut self) -> AxVmResult {
        if self.binding.is_bound() {
            return Err(AxVmError::BadState);
        }
        self.frame = TrapFrame {
            sepc: self.frame.sepc,
            sstatus: fs_clean(SSTATUS_SPP),
            hstatus: self.frame.hstatus,
            ..TrapFrame::default()
        };
        self.vs = VsState::reset();
        self.fp = FpState::default();
        self.fp_stale = true;
        self.timer_deadline = u64::MAX;
        self.effects = TrapEffects::default();
        self.hvip = 0;
        self.external = None;
        Ok(())
    }

    fn hw_state(&mut self) -> AxVmResult<GuestHwState<'_>> {
        let (hgatp, vmid) = self.hgatp.ok_or(AxVmError::BadState)?;
        Ok(GuestHwState {
            vs: &mut self.vs,
            fp: &mut self.fp,
            fp_dirty: fs_dirty(self.frame.sstatus),
            sstc: self.sstc,
            resident: false,
            hgatp,
            vmid,
        })
    }

    /// Turns the trap the guest just took (in the frame) into an exit; `Nothing` to
    /// enter the guest again.
    #[inline]
    fn handle_exit(&mut self) -> AxVmResult<AxVCpuExitReason> {
        if self.frame.scause & cause::INTERRUPT != 0 {
            return Ok(AxVCpuExitReason::ExternalInterrupt {
                vector: H::irq_fetch() as u64,
            });
        }
        let exit = exit::decode_trap(
            &mut self.frame,
            &mut self.effects,
            self.hypervisor_extensions,
            entry::read_guest_insn,
        );
        if let Some(deadline) = self.effects.timer {
            self.set_timer(deadline);
        }
        if let Some(fence) = self.effects.fence {
            self.remote_fence(fence);
        }
        exit
    }

    /// SBI `set_timer`: with Sstc the hart's `vstimecmp`, which also withdraws a
    /// pending timer interrupt by itself; otherwise the deadline, and the injected
    /// interrupt withdrawn.
    #[cold]
    fn set_timer(&mut self, deadline: u64) {
        if self.sstc {
            self.set_vstimecmp(deadline);
        } else {
            self.timer_deadline = deadline;
            self.hvip &= !hvip::VSTIP;
        }
    }

    /// Performs the guest's remote fence (the guest's hart id is its vCPU id): on
    /// this hart alone when it named only itself, otherwise through the firmware on
    /// every hart. A firmware error is the guest's answer.
    ///
    /// Out of line and cold: inlined into `run`, its constants and registers were
    /// set up on every `run` call (about 35 instructions per exit).
    #[cold]
    #[inline(never)]
    fn remote_fence(&mut self, fence: RemoteFence) {
        if fence.is_local(self.vcpu_id as u64) {
            hw::fence_guest();
            return;
        }
        let call = fence.firmware_call();
        let error = hw::firmware_call(call);
        if error != exit::sbi::SUCCESS {
            log_limited!(
                warn,
                "riscv64 vCPU {}/{}: the firmware refused remote fence {:#x}/{}: error {}",
                self.vm_id,
                self.vcpu_id,
                call.eid,
                call.fid,
                error as i64
            );
            self.frame.set_gpr(reg::A0, error);
        }
    }

    #[cfg(target_arch = "riscv64")]
    fn enter(&mut self) -> AxVmResult {
        // SAFETY: the vCPU is bound to this hart (checked by `run`); the hypervisor
        // promised (README) to run in HS-mode with this crate's vector in `stvec` and
        // `sscratch` = 0.
        unsafe { entry::enter_guest(&mut self.frame) };
        Ok(())
    }

    #[cfg(not(target_arch = "riscv64"))]
    #[allow(clippy::unused_self)] // Same signature as on riscv64.
    fn enter(&mut self) -> AxVmResult {
        Err(AxVmError::Unsupported)
    }
}

/// The `hvip` bit of interrupt cause `vector` as the guest sees it.
const fn hvip_bit(vector: usize) -> Option<u64> {
    match vector {
        1 => Some(hvip::VSSIP),
        5 => Some(hvip::VSTIP),
        9 => Some(hvip::VSEIP),
        _ => None,
    }
}

impl<H: AxVCpuHal> AxArchVCpu for Riscv64VCpu<H> {
    type CreateConfig = Riscv64CreateConfig;
    type SetupConfig = Riscv64SetupConfig;

    fn new(vm_id: VMId, vcpu_id: VCpuId, _config: Self::CreateConfig) -> AxVmResult<Self> {
        Ok(Self {
            frame: TrapFrame {
                sstatus: fs_clean(SSTATUS_SPP),
                hstatus: Riscv64SetupConfig::default().hstatus(),
                ..TrapFrame::default()
            },
            vs: VsState::reset(),
            fp: FpState::default(),
            fp_stale: true,
            residency: None,
            sstc: false,
            timer_deadline: u64::MAX,
            effects: TrapEffects::default(),
            hypervisor_extensions: &[],
            hvip: 0,
            external: None,
            hgatp: None,
            hgatp_dirty: false,
            host: None,
            binding: PhysCpuBinding::new(),
            vm_id,
            vcpu_id,
            _hal: PhantomData,
        })
    }

    fn set_entry(&mut self, entry: GuestPhysAddr) -> AxVmResult {
        let pc = entry.as_usize() as u64;
        if pc % 2 != 0 {
            log::error!("riscv64 vCPU: entry point {pc:#x} is not 2-byte aligned");
            return Err(AxVmError::InvalidInput);
        }
        self.frame.sepc = pc;
        Ok(())
    }

    fn set_ept_root(&mut self, paging: NestedPagingConfig) -> AxVmResult {
        let hgatp = paging::hgatp(&paging, hw::gstage_caps()?)?;
        self.hgatp = Some((hgatp, paging.vmid));
        if self.binding.is_loaded_here::<H>() {
            hw::write_hgatp(hgatp, paging.vmid);
        } else {
            // Loaded elsewhere: `run` there writes it; unbound: `bind` does.
            self.hgatp_dirty = self.binding.is_bound();
        }
        Ok(())
    }

    fn setup(&mut self, config: Self::SetupConfig) -> AxVmResult {
        if self.hgatp.is_none() {
            return Err(AxVmError::BadState);
        }
        if self.binding.is_bound() {
            // The timer's CSRs are loaded for the mode it has.
            return Err(AxVmError::BadState);
        }
        self.frame.hstatus = config.hstatus();
        self.hypervisor_extensions = config.hypervisor_extensions;
        self.sstc = config.sstc && has_sstc();
        Ok(())
    }

    fn run(&mut self) -> AxVmResult<AxVCpuExitReason> {
        if self.host.is_none() || !self.binding.is_loaded_here::<H>() {
            return Err(AxVmError::BadState);
        }
        if self.hgatp_dirty {
            let (hgatp, vmid) = self.hgatp.ok_or(AxVmError::BadState)?;
            hw::write_hgatp(hgatp, vmid);
            self.hgatp_dirty = false;
        }
        loop {
            // With Sstc the deadline stays u64::MAX: the hart raises the interrupt.
            if hw::time() >= self.timer_deadline {
                self.hvip |= hvip::VSTIP;
            }
            hw::write_hvip(self.hvip);
            self.enter()?;
            // The guest clears a software interrupt it took through its sip, which
            // is hvip.VSSIP: it must not be raised again at the next entry.
            if self.hvip & hvip::VSSIP != 0 {
                self.hvip &= hw::read_hvip() | !hvip::VSSIP;
            }
            let exit = self.handle_exit();
            match exit {
                // A new SBI TIME deadline is returned (as `Nothing`) so the hypervisor
                // can arm its timer for it.
                Ok(AxVCpuExitReason::Nothing) if self.effects.timer.is_none() || self.sstc => {}
                _ => return exit,
            }
        }
    }

    fn bind(&mut self) -> AxVmResult {
        if self.binding.is_bound() {
            return Err(AxVmError::BadState);
        }
        let binding = PhysCpuBinding::claim_here::<H>()?;
        let cpu = binding.cpu().ok_or(AxVmError::BadState)?;
        let (residency, resident) = hw::rebind(self.residency, cpu);
        self.residency = residency;
        let resident = resident && !self.fp_stale;
        // On an error the binding is dropped, which gives the hart back.
        let mut state = self.hw_state()?;
        state.resident = resident;
        let host = hw::load(state);
        if host.is_err() {
            // Nothing is known to be loaded: the next bind loads everything.
            self.residency = None;
        }
        self.host = Some(host?);
        self.fp_stale = false;
        // The FP registers now hold `self.fp`: Dirty from here on means changed.
        self.frame.sstatus = fs_clean(self.frame.sstatus);
        self.binding = binding;
        self.hgatp_dirty = false;
        Ok(())
    }

    fn unbind(&mut self) -> AxVmResult {
        let host = self.host.ok_or(AxVmError::BadState)?;
        if !self.binding.is_loaded_here::<H>() {
            return Err(AxVmError::BadState);
        }
        hw::save(self.hw_state()?, host);
        self.frame.sstatus = fs_clean(self.frame.sstatus);
        self.host = None;
        self.binding.release::<H>()
    }

    fn is_loaded_here(&self) -> bool {
        self.binding.is_loaded_here::<H>()
    }

    fn set_gpr(&mut self, reg: usize, value: u64) {
        self.frame.set_gpr(reg, value);
    }

    fn inject_interrupt(&mut self, vector: usize) -> AxVmResult {
        let bit = hvip_bit(vector).ok_or(AxVmError::InvalidInput)?;
        self.hvip |= bit;
        Ok(())
    }

    /// One: `hvip.VSEIP` is a single bit for every external interrupt, and the guest
    /// learns which one from its interrupt controller (a vPLIC's claim register).
    fn irq_slots(&self) -> usize {
        1
    }

    /// Raises `hvip.VSEIP` while the interrupt given is pending, clears it for an
    /// empty list; it reaches the hart at the next entry. `more_pending` changes
    /// nothing: the guest's claim takes the interrupt given and the model hands over
    /// the next one after that MMIO exit.
    ///
    /// # Errors
    ///
    /// `InvalidInput` (nothing changes) for more than one interrupt.
    fn set_irq_list(&mut self, irqs: &[VirtualIrq], more_pending: bool) -> AxVmResult {
        let _ = more_pending;
        let external = match irqs {
            [] => None,
            [irq] => Some(*irq),
            _ => return Err(AxVmError::InvalidInput),
        };
        if external.is_some_and(|irq| irq.state.is_pending()) {
            self.hvip |= hvip::VSEIP;
        } else {
            self.hvip &= !hvip::VSEIP;
        }
        self.external = external;
        Ok(())
    }

    /// What `set_irq_list` was given, unchanged: the guest claims and completes
    /// through MMIO, which the controller model sees itself.
    fn irq_list(&self) -> &[VirtualIrq] {
        self.external.as_slice()
    }

    fn set_return_value(&mut self, value: u64) {
        self.frame.set_gpr(reg::A0, value);
    }

    fn skip_instruction(&mut self) {
        let len = if self.effects.insn_len == 0 {
            4
        } else {
            self.effects.insn_len
        };
        self.frame.sepc = self.frame.sepc.wrapping_add(len);
    }
}

impl<H: AxVCpuHal> Drop for Riscv64VCpu<H> {
    /// A vCPU dropped while loaded on this hart gives the hart back to the host's
    /// state first; one loaded elsewhere only frees its claim (that hart's next
    /// `bind` loads every CSR the guest could have changed).
    fn drop(&mut self) {
        if self.binding.is_loaded_here::<H>() {
            let _ = self.unbind();
        }
    }
}

#[cfg(test)]
mod tests {
    use axvm_types::HostPhysAddr;

    use super::*;
    use crate::{AxVCpu, VCpuState, arch::test_hal::TestHal};

    type VCpu = Riscv64VCpu<TestHal<5>>;

    fn paging() -> NestedPagingConfig {
        NestedPagingConfig {
            root: HostPhysAddr::from(0x8040_4000),
            levels: 3,
            gpa_bits: 41,
            vmid: 3,
        }
    }

    fn vcpu_with(setup: Riscv64SetupConfig) -> VCpu {
        let mut vcpu = VCpu::new(1, 2, Riscv64CreateConfig).unwrap();
        vcpu.set_entry(GuestPhysAddr::from(0x9000_0000)).unwrap();
        vcpu.set_ept_root(paging()).unwrap();
        vcpu.setup(setup).unwrap();
        vcpu
    }

    fn vcpu() -> VCpu {
        vcpu_with(Riscv64SetupConfig::default())
    }

    /// A vCPU on the SBI TIME path.
    fn sbi_time_vcpu() -> VCpu {
        vcpu_with(Riscv64SetupConfig {
            sstc: false,
            ..Riscv64SetupConfig::default()
        })
    }

    fn set_timer(vcpu: &mut VCpu, deadline: u64) -> AxVmResult<AxVCpuExitReason> {
        vcpu.regs_mut().scause = cause::VS_ECALL;
        vcpu.regs_mut().x[reg::A7] = exit::sbi::TIME;
        vcpu.regs_mut().x[reg::A6] = 0;
        vcpu.regs_mut().x[reg::A0] = deadline;
        vcpu.handle_exit()
    }

    #[test]
    fn a_new_vcpu_enters_vs_mode_at_its_entry() {
        let vcpu = vcpu();
        assert_eq!(vcpu.pc(), 0x9000_0000);
        // SPP = VS-mode; FS = Clean, so the guest's FP works once it enables it in
        // vsstatus, and Dirty will mean it changed its registers.
        assert_eq!(vcpu.regs().sstatus, 0x4100);
        assert_eq!(*vcpu.fp_state(), FpState::default());
        // VSXL = 64, VTW, SPVP, SPV
        assert_eq!(vcpu.regs().hstatus, 0x2_0020_0180);
        assert_eq!(vcpu.hgatp(), Some(0x8000_3000_0008_0404));
        assert_eq!(vcpu.timer_deadline(), u64::MAX);
        assert!(!vcpu.is_bound());
        assert_eq!(
            Riscv64SetupConfig {
                trap_wfi: false,
                ..Riscv64SetupConfig::default()
            }
            .hstatus(),
            0x2_0000_0180
        );
        // The host model's hart has Sstc.
        assert!(has_sstc() && vcpu.uses_sstc());
        assert!(!sbi_time_vcpu().uses_sstc());
    }

    #[test]
    fn setup_needs_nested_paging_and_a_valid_entry() {
        let mut vcpu = VCpu::new(1, 0, Riscv64CreateConfig).unwrap();
        assert_eq!(
            vcpu.setup(Riscv64SetupConfig::default()),
            Err(AxVmError::BadState)
        );
        assert_eq!(
            vcpu.set_entry(GuestPhysAddr::from(0x9000_0001)),
            Err(AxVmError::InvalidInput)
        );
        // A compressed instruction may start on a 2-byte boundary.
        assert_eq!(vcpu.set_entry(GuestPhysAddr::from(0x9000_0002)), Ok(()));
        let bad = NestedPagingConfig {
            gpa_bits: 39,
            ..paging()
        };
        assert_eq!(vcpu.set_ept_root(bad), Err(AxVmError::InvalidInput));
    }

    #[test]
    fn registers_and_skips() {
        let mut vcpu = vcpu();
        vcpu.set_gpr(0, 1);
        vcpu.set_gpr(10, 0x8200_0000);
        vcpu.set_gpr(99, 1);
        assert_eq!(vcpu.regs().gpr(0), 0);
        assert_eq!(vcpu.regs().gpr(10), 0x8200_0000);
        vcpu.set_return_value(7);
        assert_eq!(vcpu.regs().gpr(10), 7);
        // A compressed store to the UART, then a 32-bit one.
        vcpu.regs_mut().scause = cause::STORE_GUEST_PAGE_FAULT;
        vcpu.regs_mut().htval = 0x0400_0000;
        vcpu.regs_mut().htinst = 0x00a0_2021;
        assert!(matches!(
            vcpu.handle_exit(),
            Ok(AxVCpuExitReason::MmioWrite { .. })
        ));
        vcpu.skip_instruction();
        assert_eq!(vcpu.pc(), 0x9000_0002);
        vcpu.regs_mut().htinst = 0x00a0_2023;
        vcpu.handle_exit().unwrap();
        vcpu.skip_instruction();
        assert_eq!(vcpu.pc(), 0x9000_0006);
    }

    #[test]
    fn exits_are_decoded_from_the_frame() {
        let mut vcpu = vcpu();
        vcpu.regs_mut().scause = cause::INTERRUPT | 9;
        assert_eq!(
            vcpu.handle_exit(),
            Ok(AxVCpuExitReason::ExternalInterrupt { vector: 5 })
        );
        vcpu.regs_mut().scause = cause::VS_ECALL;
        vcpu.regs_mut().x[reg::A7] = exit::sbi::SRST;
        vcpu.regs_mut().x[reg::A6] = 0;
        vcpu.regs_mut().x[reg::A0] = 0;
        assert_eq!(vcpu.handle_exit(), Ok(AxVCpuExitReason::SystemDown));
        assert_eq!(vcpu.pc(), 0x9000_0004);
        vcpu.regs_mut().scause = 2;
        assert_eq!(vcpu.handle_exit(), Err(AxVmError::Unsupported));
    }

    #[test]
    fn the_sbi_time_path_keeps_a_deadline_and_injects() {
        let mut vcpu = sbi_time_vcpu();
        // set_timer withdraws a pending timer interrupt; `run` returns its `Nothing`
        // (see `run`) so the hypervisor can arm its timer.
        vcpu.inject_interrupt(5).unwrap();
        assert_eq!(set_timer(&mut vcpu, 1000), Ok(AxVCpuExitReason::Nothing));
        assert_eq!(vcpu.timer_deadline(), 1000);
        assert_eq!(vcpu.pending_interrupts(), 0);
        assert_eq!(vcpu.vs_state().vstimecmp, u64::MAX);
        assert_eq!(vcpu.effects.timer, Some(1000));
    }

    #[test]
    fn the_sstc_path_is_vstimecmp() {
        let mut vcpu = vcpu();
        assert_eq!(vcpu.timer_deadline(), u64::MAX);
        // set_timer programs vstimecmp; an interrupt the hypervisor injected stays.
        vcpu.inject_interrupt(5).unwrap();
        assert_eq!(set_timer(&mut vcpu, 2000), Ok(AxVCpuExitReason::Nothing));
        assert_eq!(vcpu.vs_state().vstimecmp, 2000);
        assert_eq!(vcpu.timer_deadline(), 2000);
        assert_eq!(vcpu.pending_interrupts(), hvip::VSTIP);
        // The guest's own stimecmp writes reach the saved state at unbind.
        vcpu.vs_state_mut().vstimecmp = 3000;
        assert_eq!(vcpu.timer_deadline(), 3000);
        vcpu.reset().unwrap();
        assert_eq!(vcpu.timer_deadline(), u64::MAX);
    }

    #[test]
    fn pending_interrupts_wake_only_when_enabled() {
        // vsie: SSIE (1), STIE (5), SEIE (9).
        let mut sbi = sbi_time_vcpu();
        assert!(!sbi.has_pending_interrupt());
        sbi.inject_interrupt(1).unwrap();
        assert!(!sbi.has_pending_interrupt(), "software interrupts disabled");
        sbi.vs_state_mut().vsie = 1 << 1;
        assert!(sbi.has_pending_interrupt());
        sbi.clear_virtual_irq(1);
        // The timer due (the host model's time is 0): pending once enabled.
        set_timer(&mut sbi, 0).unwrap();
        assert!(!sbi.has_pending_interrupt());
        sbi.vs_state_mut().vsie = 1 << 5;
        assert!(sbi.has_pending_interrupt());
        set_timer(&mut sbi, 1).unwrap();
        assert!(!sbi.has_pending_interrupt(), "not due yet");
        // With Sstc: vstimecmp due.
        let mut sstc = vcpu();
        sstc.vs_state_mut().vsie = (1 << 5) | (1 << 9);
        assert!(!sstc.has_pending_interrupt());
        sstc.vs_state_mut().vstimecmp = 0;
        assert!(sstc.has_pending_interrupt());
        sstc.vs_state_mut().vstimecmp = u64::MAX;
        sstc.inject_interrupt(9).unwrap();
        assert!(sstc.has_pending_interrupt());
    }

    #[test]
    fn virtual_interrupts() {
        let mut vcpu = vcpu();
        assert_eq!(vcpu.inject_interrupt(3), Err(AxVmError::InvalidInput));
        vcpu.inject_interrupt(9).unwrap();
        vcpu.inject_interrupt(1).unwrap();
        assert_eq!(vcpu.pending_interrupts(), hvip::VSEIP | hvip::VSSIP);
        assert!(vcpu.clear_virtual_irq(9));
        assert!(!vcpu.clear_virtual_irq(9));
        assert!(!vcpu.clear_virtual_irq(4));
        assert_eq!(vcpu.pending_interrupts(), hvip::VSSIP);
    }

    #[test]
    fn the_hypervisors_extensions_are_probed_as_set_up() {
        let probe_dbcn = |vcpu: &mut VCpu| {
            vcpu.regs_mut().scause = cause::VS_ECALL;
            vcpu.regs_mut().x[reg::A7] = exit::sbi::BASE;
            vcpu.regs_mut().x[reg::A6] = 3;
            vcpu.regs_mut().x[reg::A0] = exit::sbi::DBCN;
            assert_eq!(vcpu.handle_exit(), Ok(AxVCpuExitReason::Nothing));
            vcpu.regs().gpr(reg::A1)
        };
        assert_eq!(probe_dbcn(&mut vcpu()), 0);
        let mut vcpu = vcpu();
        vcpu.setup(Riscv64SetupConfig {
            hypervisor_extensions: &[exit::sbi::DBCN],
            ..Riscv64SetupConfig::default()
        })
        .unwrap();
        assert_eq!(probe_dbcn(&mut vcpu), 1);
    }

    #[test]
    fn the_irq_list_drives_vseip() {
        use axvm_types::VirqState;

        let mut vcpu = vcpu();
        assert_eq!(vcpu.irq_slots(), 1);
        assert!(vcpu.irq_list().is_empty());
        let uart = VirtualIrq {
            intid: 10,
            priority: 6,
            state: VirqState::Pending,
            ..VirtualIrq::default()
        };
        vcpu.set_irq_list(&[uart], false).unwrap();
        assert_eq!(vcpu.pending_interrupts(), hvip::VSEIP);
        assert_eq!(vcpu.irq_list(), &[uart]);
        assert_eq!(
            vcpu.set_irq_list(&[uart; 2], true),
            Err(AxVmError::InvalidInput)
        );
        assert_eq!(vcpu.irq_list(), &[uart], "a refused list changes nothing");
        // Only a pending interrupt raises the line; the timer's bit is left alone.
        vcpu.inject_interrupt(5).unwrap();
        let active = VirtualIrq {
            state: VirqState::Active,
            ..uart
        };
        vcpu.set_irq_list(&[active], false).unwrap();
        assert_eq!(vcpu.pending_interrupts(), hvip::VSTIP);
        vcpu.set_irq_list(&[uart], true).unwrap();
        vcpu.set_irq_list(&[], false).unwrap();
        assert_eq!(vcpu.pending_interrupts(), hvip::VSTIP);
        assert!(vcpu.irq_list().is_empty());
        vcpu.set_irq_list(&[uart], false).unwrap();
        vcpu.reset().unwrap();
        assert!(vcpu.irq_list().is_empty());
        assert_eq!(vcpu.pending_interrupts(), 0);
    }

    #[test]
    fn reset_clears_the_registers_but_keeps_the_entry() {
        let mut vcpu = vcpu();
        vcpu.set_gpr(5, 5);
        vcpu.vs_state_mut().vsatp = 0x8000_0000_0008_0000;
        vcpu.fp_state_mut().f[3] = 0x4009_21fb_5444_2d18;
        vcpu.fp_state_mut().fcsr = 0x1f;
        vcpu.regs_mut().sstatus |= crate::arch::riscv64::context::fs::DIRTY;
        vcpu.inject_interrupt(5).unwrap();
        vcpu.reset().unwrap();
        assert_eq!(*vcpu.fp_state(), FpState::default());
        assert_eq!(vcpu.regs().sstatus, 0x4100);
        assert_eq!(vcpu.regs().x[5], 0);
        assert_eq!(vcpu.pc(), 0x9000_0000);
        assert_eq!(vcpu.regs().hstatus, 0x2_0020_0180);
        assert_eq!(*vcpu.vs_state(), VsState::reset());
        assert_eq!(vcpu.pending_interrupts(), 0);
    }

    #[test]
    fn off_riscv64_the_hardware_operations_are_unsupported() {
        let mut vcpu: AxVCpu<VCpu> = AxVCpu::new(1, 0, 0, None, Riscv64CreateConfig).unwrap();
        vcpu.setup(
            GuestPhysAddr::from(0x9000_0000),
            paging(),
            Riscv64SetupConfig::default(),
        )
        .unwrap();
        assert_eq!(vcpu.state(), VCpuState::Free);
        if cfg!(not(target_arch = "riscv64")) {
            assert_eq!(vcpu.bind(), Err(AxVmError::Unsupported));
            assert!(crate::arch::test_hal::this_cpu_is_free());
            assert_eq!(vcpu.arch_mut().run(), Err(AxVmError::BadState));
            assert_eq!(vcpu.arch_mut().unbind(), Err(AxVmError::BadState));
        }
        // Completing an MMIO read writes the register and moves past the load.
        vcpu.arch_mut().regs_mut().scause = cause::LOAD_GUEST_PAGE_FAULT;
        vcpu.arch_mut().regs_mut().htinst = 0x0000_0583; // lb a1, transformed
        let read = vcpu.arch_mut().handle_exit().unwrap();
        vcpu.complete_read(&read, 0x80).unwrap();
        assert_eq!(vcpu.arch().regs().x[11], 0xffff_ffff_ffff_ff80);
        assert_eq!(vcpu.arch().pc(), 0x9000_0004);
    }
}
