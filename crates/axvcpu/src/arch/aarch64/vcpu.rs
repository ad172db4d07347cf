//! [`Aarch64VCpu`]: the aarch64 EL2 implementation of [`AxArchVCpu`].

use core::marker::PhantomData;

use axvm_types::{
    AxVmError, AxVmResult, GuestPhysAddr, NestedPagingConfig, VCpuId, VMId, VirtualIrq,
};

use super::{
    context::{El1State, FpState, SPSR_EL1H_DAIF_MASKED, TrapFrame},
    entry::{EXIT_AARCH32, EXIT_FIQ, EXIT_IRQ, EXIT_SERROR, EXIT_SYNC},
    exit::{self, Esr},
    gic::{self, CpuInterfaceState, IchVtr, SysRegs},
    hw::{self, GuestHwState, HostHwState},
    paging::{self, Stage2Regs},
    vtimer,
};
use crate::{AxArchVCpu, AxVCpuExitReason, AxVCpuHal, PhysCpuBinding, ratelimit::log_limited};

/// `HCR_EL2` bits the backend uses.
pub mod hcr {
    /// Stage-2 translation on.
    pub const VM: u64 = 1 << 0;
    /// Set/way invalidation override (data cache invalidate by set/way becomes clean
    /// and invalidate).
    pub const SWIO: u64 = 1 << 1;
    /// Physical FIQs go to EL2; virtual FIQs enabled.
    pub const FMO: u64 = 1 << 3;
    /// Physical IRQs go to EL2; virtual IRQs enabled.
    pub const IMO: u64 = 1 << 4;
    /// Physical SErrors go to EL2; virtual SErrors enabled.
    pub const AMO: u64 = 1 << 5;
    /// A virtual IRQ is pending.
    pub const VI: u64 = 1 << 7;
    /// TLB and branch-predictor maintenance at EL1 is broadcast (inner shareable).
    pub const FB: u64 = 1 << 9;
    /// Barrier shareability upgrade: inner shareable.
    pub const BSU_IS: u64 = 1 << 10;
    /// WFI traps to EL2.
    pub const TWI: u64 = 1 << 13;
    /// WFE traps to EL2.
    pub const TWE: u64 = 1 << 14;
    /// Reads of the ID registers (op0 3, op1 0, CRn 0, CRm 1-7) trap to EL2.
    pub const TID3: u64 = 1 << 18;
    /// SMC traps to EL2.
    pub const TSC: u64 = 1 << 19;
    /// Accesses to IMPLEMENTATION DEFINED registers trap to EL2.
    pub const TIDCP: u64 = 1 << 20;
    /// `ACTLR_EL1` accesses trap to EL2.
    pub const TACR: u64 = 1 << 21;
    /// EL1 is AArch64.
    pub const RW: u64 = 1 << 31;
    /// LORegion register accesses trap to EL2 (RES0 without FEAT_LOR).
    pub const TLOR: u64 = 1 << 35;
}

/// Parameters of [`Aarch64VCpu::new`] (through [`AxVCpu::new`](crate::AxVCpu::new)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Aarch64CreateConfig {
    /// The affinity the guest reads from `MPIDR_EL1` (Aff3 in bits \[39:32\], Aff2–Aff0
    /// in bits \[23:0\]; bit 31 is always set). `None`: the vCPU id in Aff0 (and Aff1
    /// for ids above 255), so PSCI CPU_ON's target is the vCPU id.
    pub mpidr: Option<u64>,
}

/// Parameters of [`Aarch64VCpu::setup`](AxArchVCpu::setup).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aarch64SetupConfig {
    /// Trap WFI: it becomes a [`Halt`](AxVCpuExitReason::Halt) exit. Default `true`.
    pub trap_wfi: bool,
    /// Trap WFE: it becomes a [`Halt`](AxVCpuExitReason::Halt) exit. Default `true`.
    /// Turn it off for SMP guests that spin on WFE in their locks.
    pub trap_wfe: bool,
    /// `CNTVOFF_EL2`: what the guest's virtual counter lags the physical one by.
    /// Give every vCPU of a VM the same value. Default 0: the guest counts as the
    /// physical counter does.
    pub cntvoff: u64,
}

impl Default for Aarch64SetupConfig {
    fn default() -> Self {
        Self {
            trap_wfi: true,
            trap_wfe: true,
            cntvoff: 0,
        }
    }
}

impl Aarch64SetupConfig {
    /// The guest's `HCR_EL2`: stage 2 on, EL1 in AArch64, physical interrupts and
    /// SErrors routed to EL2, SMC trapped, WFI / WFE trapped as configured, and the
    /// registers whose state the backend does not switch trapped: the ID registers
    /// (answered sanitised), `ACTLR_EL1`, LORegions (RAZ/WI) and IMPLEMENTATION
    /// DEFINED registers (exits).
    #[must_use]
    pub const fn hcr(&self) -> u64 {
        let mut value = hcr::VM
            | hcr::SWIO
            | hcr::FMO
            | hcr::IMO
            | hcr::AMO
            | hcr::FB
            | hcr::BSU_IS
            | hcr::TID3
            | hcr::TSC
            | hcr::TIDCP
            | hcr::TACR
            | hcr::RW
            | hcr::TLOR;
        if self.trap_wfi {
            value |= hcr::TWI;
        }
        if self.trap_wfe {
            value |= hcr::TWE;
        }
        value
    }
}

/// The `VMPIDR_EL2` value of vCPU `vcpu_id`: its id in Aff0 (and Aff1, Aff2 for ids
/// that do not fit), with the RES1 bit 31.
#[must_use]
pub const fn default_mpidr(vcpu_id: VCpuId) -> u64 {
    let id = vcpu_id as u64;
    (1 << 31) | (id & 0xff_ffff)
}

/// An aarch64 virtual CPU for a hypervisor running at EL2 (nVHE), generic over the
/// hypervisor's [`AxVCpuHal`] (used to acknowledge physical interrupts).
///
/// See the crate README for what the hypervisor must set up and the table of how
/// guest exceptions become exits.
pub struct Aarch64VCpu<H: AxVCpuHal> {
    frame: TrapFrame,
    el1: El1State,
    fp: FpState,
    hcr: u64,
    hcr_dirty: bool,
    stage2: Option<Stage2Regs>,
    vmpidr: u64,
    /// Set when the stage-2 registers changed while bound but not on this CPU.
    stage2_dirty: bool,
    host: Option<HostHwState>,
    binding: PhysCpuBinding,
    pending_virq: Option<usize>,
    gic: CpuInterfaceState,
    vm_id: VMId,
    vcpu_id: VCpuId,
    _hal: PhantomData<fn() -> H>,
}

impl<H: AxVCpuHal> core::fmt::Debug for Aarch64VCpu<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Aarch64VCpu")
            .field("vm_id", &self.vm_id)
            .field("vcpu_id", &self.vcpu_id)
            .field("pc", &format_args!("{:#x}", self.frame.elr))
            .field("hcr", &format_args!("{:#x}", self.hcr))
            .field("stage2", &self.stage2)
            .field("bound_cpu", &self.binding.cpu())
            .field("irqs", &self.gic.list())
            .finish_non_exhaustive()
    }
}

/// The largest interrupt number [`inject_interrupt`](AxArchVCpu::inject_interrupt)
/// accepts: the last GIC SPI.
pub const MAX_INJECTABLE_IRQ: usize = 1019;

impl<H: AxVCpuHal> Aarch64VCpu<H> {
    /// The guest's general registers, PC and PSTATE (current after each exit).
    #[must_use]
    pub const fn regs(&self) -> &TrapFrame {
        &self.frame
    }

    /// The guest's general registers, PC and PSTATE, mutably (between runs).
    pub const fn regs_mut(&mut self) -> &mut TrapFrame {
        &mut self.frame
    }

    /// The guest's EL1 system registers and virtual timer, as of the last `unbind`
    /// (or the reset state before the first bind).
    #[must_use]
    pub const fn el1_state(&self) -> &El1State {
        &self.el1
    }

    /// The guest's EL1 state, mutably: changes take effect at the next `bind`.
    pub const fn el1_state_mut(&mut self) -> &mut El1State {
        &mut self.el1
    }

    /// The guest's FP/SIMD registers as of the last `unbind`.
    #[must_use]
    pub const fn fp_state(&self) -> &FpState {
        &self.fp
    }

    /// The guest's program counter (`ELR_EL2`).
    #[must_use]
    pub const fn pc(&self) -> u64 {
        self.frame.elr
    }

    /// The guest's `HCR_EL2`.
    #[must_use]
    pub const fn hcr(&self) -> u64 {
        self.hcr
    }

    /// `VTCR_EL2` and `VTTBR_EL2`, once nested paging is set.
    #[must_use]
    pub const fn stage2(&self) -> Option<Stage2Regs> {
        self.stage2
    }

    /// The `MPIDR_EL1` the guest reads (`VMPIDR_EL2`).
    #[must_use]
    pub const fn mpidr(&self) -> u64 {
        self.vmpidr
    }

    /// Whether the vCPU is loaded on a physical CPU (between `bind` and `unbind`).
    #[must_use]
    pub const fn is_bound(&self) -> bool {
        self.binding.is_bound()
    }

    /// The interrupt injected with `inject_interrupt` and not yet cleared.
    #[must_use]
    pub const fn pending_virtual_irq(&self) -> Option<usize> {
        self.pending_virq
    }

    /// The GICv3 virtual CPU interface (`ICH_VTR_EL2`) of the CPU the vCPU was
    /// created on; `None` when it has none usable (no GIC system registers, or
    /// `ICC_SRE_EL2.SRE` = 0), and then [`irq_slots`] is 0.
    ///
    /// [`irq_slots`]: AxArchVCpu::irq_slots
    #[must_use]
    pub const fn ich_vtr(&self) -> Option<IchVtr> {
        self.gic.vtr()
    }

    /// When the guest's virtual timer raises its interrupt, in physical counter
    /// ticks (`CNTPCT_EL0`, i.e. `CNTV_CVAL_EL0` + `CNTVOFF_EL2`), while it is enabled
    /// with its interrupt unmasked; `None` otherwise. A host that finds a halted
    /// vCPU with a deadline can sleep until then (the vCPU's timer stays loaded
    /// while it is bound, so its interrupt wakes the CPU). Read from the CPU when
    /// the vCPU is loaded here, else from its saved state.
    #[must_use]
    pub fn timer_deadline(&self) -> Option<u64> {
        let (ctl, cval) = if self.binding.is_loaded_here::<H>() {
            hw::read_vtimer()
        } else {
            (self.el1.cntv_ctl_el0, self.el1.cntv_cval_el0)
        };
        vtimer::timer_deadline(ctl, cval, self.el1.cntvoff_el2)
    }

    /// Withdraws the injected virtual IRQ (clears `HCR_EL2.VI` from the next entry
    /// on) and returns its number. Without a virtual GIC the guest cannot acknowledge
    /// the interrupt itself: the hypervisor calls this once the guest has handled it
    /// (for example when the guest signals it with a hypercall).
    pub fn clear_virtual_irq(&mut self) -> Option<usize> {
        let vector = self.pending_virq.take();
        if vector.is_some() {
            self.set_hcr(self.hcr & !hcr::VI);
        }
        vector
    }

    /// Puts the vCPU back in its reset state (general, EL1 and FP/SIMD registers;
    /// EL1h with interrupts masked, MMU off; its virtual CPU interface with no
    /// interrupt loaded, priority mask and group enables zero), keeping its entry
    /// point, nested paging, traps, counter offset and affinity: what PSCI CPU_ON
    /// promises a CPU that was turned off. Set the new entry and `x0` afterwards.
    ///
    /// # Errors
    ///
    /// `BadState` while bound (the live state is in the physical CPU).
    pub fn reset(&mut self) -> AxVmResult {
        if self.binding.is_bound() {
            return Err(AxVmError::BadState);
        }
        self.frame = TrapFrame {
            elr: self.frame.elr,
            spsr: SPSR_EL1H_DAIF_MASKED,
            ..TrapFrame::default()
        };
        self.el1 = El1State {
            cntvoff_el2: self.el1.cntvoff_el2,
            ..El1State::reset()
        };
        self.fp = FpState::default();
        self.gic.reset();
        Ok(())
    }

    fn set_hcr(&mut self, value: u64) {
        if value != self.hcr {
            self.hcr = value;
            self.hcr_dirty = true;
        }
    }

    fn hw_state(&mut self) -> AxVmResult<GuestHwState<'_>> {
        let stage2 = self.stage2.ok_or(AxVmError::BadState)?;
        Ok(GuestHwState {
            el1: &mut self.el1,
            fp: &mut self.fp,
            gic: &mut self.gic,
            hcr: self.hcr,
            stage2,
            vmpidr: self.vmpidr,
        })
    }

    /// Turns the exception the guest just took (`code` from the vector table, the
    /// syndrome in the frame) into an exit; `Nothing` to enter the guest again.
    ///
    /// (One result type from the decoder to `run`'s caller lets the compiler build
    /// the exit in place instead of copying it at each step.)
    #[inline]
    fn handle_exit(&mut self, code: u64) -> AxVmResult<AxVCpuExitReason> {
        // An exception from AArch32 EL0 code (a 32-bit process of an AArch64 guest
        // kernel) is handled like one from AArch64: interrupts and stage-2 aborts are
        // the same, and the decoder refuses the AArch32-only classes.
        match code & !EXIT_AARCH32 {
            EXIT_SYNC => exit::decode_sync(&mut self.frame, hw::read_id_reg),
            EXIT_IRQ | EXIT_FIQ => Ok(AxVCpuExitReason::ExternalInterrupt {
                vector: H::irq_fetch() as u64,
            }),
            EXIT_SERROR => {
                log_limited!(
                    error,
                    "aarch64 vCPU {}/{}: SError (ESR_EL2 {:#x}) at guest PC {:#x}",
                    self.vm_id,
                    self.vcpu_id,
                    self.frame.esr,
                    self.frame.elr
                );
                Err(AxVmError::BadState)
            }
            _ => {
                log::error!("aarch64 vCPU: unknown exit code {code:#x} from the vector table");
                Err(AxVmError::BadState)
            }
        }
    }

    #[cfg(target_arch = "aarch64")]
    fn enter(&mut self) -> AxVmResult<u64> {
        // SAFETY: the vCPU is bound to this CPU (checked by `run`); the hypervisor
        // promised (README) to run at EL2 on SP_EL2 with this crate's vectors installed.
        Ok(unsafe { super::entry::enter_guest(&mut self.frame) })
    }

    #[cfg(not(target_arch = "aarch64"))]
    #[allow(clippy::unused_self)] // Same signature as on aarch64.
    fn enter(&mut self) -> AxVmResult<u64> {
        Err(AxVmError::Unsupported)
    }
}

impl<H: AxVCpuHal> AxArchVCpu for Aarch64VCpu<H> {
    type CreateConfig = Aarch64CreateConfig;
    type SetupConfig = Aarch64SetupConfig;

    fn new(vm_id: VMId, vcpu_id: VCpuId, config: Self::CreateConfig) -> AxVmResult<Self> {
        let vmpidr = config.mpidr.map_or_else(
            || default_mpidr(vcpu_id),
            |mpidr| (mpidr & 0xff_40ff_ffff) | (1 << 31),
        );
        Ok(Self {
            frame: TrapFrame {
                spsr: SPSR_EL1H_DAIF_MASKED,
                ..TrapFrame::default()
            },
            el1: El1State::reset(),
            fp: FpState::default(),
            hcr: Aarch64SetupConfig::default().hcr(),
            hcr_dirty: false,
            stage2: None,
            vmpidr,
            stage2_dirty: false,
            host: None,
            binding: PhysCpuBinding::new(),
            pending_virq: None,
            gic: CpuInterfaceState::new(gic::probe()),
            vm_id,
            vcpu_id,
            _hal: PhantomData,
        })
    }

    fn set_entry(&mut self, entry: GuestPhysAddr) -> AxVmResult {
        let pc = entry.as_usize() as u64;
        if pc % 4 != 0 {
            log::error!("aarch64 vCPU: entry point {pc:#x} is not 4-byte aligned");
            return Err(AxVmError::InvalidInput);
        }
        self.frame.elr = pc;
        Ok(())
    }

    fn set_ept_root(&mut self, paging: NestedPagingConfig) -> AxVmResult {
        let regs = paging::stage2_regs(&paging, hw::stage2_caps()?)?;
        self.stage2 = Some(regs);
        if self.binding.is_loaded_here::<H>() {
            hw::write_stage2(regs);
        } else {
            // Loaded elsewhere: `run` there writes them; unbound: `bind` does.
            self.stage2_dirty = self.binding.is_bound();
        }
        Ok(())
    }

    fn setup(&mut self, config: Self::SetupConfig) -> AxVmResult {
        if self.stage2.is_none() {
            return Err(AxVmError::BadState);
        }
        self.set_hcr(config.hcr() | (self.hcr & hcr::VI));
        self.el1.cntvoff_el2 = config.cntvoff;
        if self.binding.is_loaded_here::<H>() {
            hw::write_cntvoff(config.cntvoff);
        }
        Ok(())
    }

    fn run(&mut self) -> AxVmResult<AxVCpuExitReason> {
        if self.host.is_none() || !self.binding.is_loaded_here::<H>() {
            return Err(AxVmError::BadState);
        }
        if self.stage2_dirty {
            hw::write_stage2(self.stage2.ok_or(AxVmError::BadState)?);
            self.stage2_dirty = false;
        }
        loop {
            if self.hcr_dirty {
                hw::write_hcr(self.hcr);
                self.hcr_dirty = false;
            }
            self.gic.before_entry(&mut SysRegs);
            let code = self.enter()?;
            // The exit first: an IRQ is acknowledged before `after_exit` withdraws a
            // maintenance interrupt that may have caused it.
            let exit = self.handle_exit(code);
            self.gic.after_exit(&mut SysRegs);
            if !matches!(exit, Ok(AxVCpuExitReason::Nothing)) {
                return exit;
            }
        }
    }

    fn bind(&mut self) -> AxVmResult {
        if self.binding.is_bound() {
            return Err(AxVmError::BadState);
        }
        let binding = PhysCpuBinding::claim_here::<H>()?;
        // On an error the binding is dropped, which gives the CPU back.
        if let Some(vtr) = self.gic.vtr() {
            let here = gic::probe().map_or(0, IchVtr::list_regs);
            if here < vtr.list_regs() {
                log::error!(
                    "aarch64 vCPU: this CPU has {here} GIC list registers, the vCPU's {}",
                    vtr.list_regs()
                );
                return Err(AxVmError::Unsupported);
            }
        }
        self.host = Some(hw::load(self.hw_state()?)?);
        self.binding = binding;
        self.hcr_dirty = false;
        self.stage2_dirty = false;
        Ok(())
    }

    fn unbind(&mut self) -> AxVmResult {
        let host = self.host.ok_or(AxVmError::BadState)?;
        if !self.binding.is_loaded_here::<H>() {
            return Err(AxVmError::BadState);
        }
        hw::save(self.hw_state()?, host);
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
        if vector > MAX_INJECTABLE_IRQ {
            return Err(AxVmError::InvalidInput);
        }
        match self.pending_virq {
            Some(pending) if pending != vector => Err(AxVmError::ResourceBusy),
            _ => {
                self.pending_virq = Some(vector);
                self.set_hcr(self.hcr | hcr::VI);
                Ok(())
            }
        }
    }

    /// The list registers of the CPU the vCPU was created on (`ICH_VTR_EL2.ListRegs`
    /// + 1); 0 without a usable GICv3 virtual CPU interface.
    fn irq_slots(&self) -> usize {
        self.gic.slots()
    }

    /// Encodes each interrupt into a list register (Group 1, the priority cut to the
    /// implemented bits, its state, HW + pINTID when `hw_intid` is set, the EOI
    /// maintenance request when `notify_eoi` is), clears the rest; they reach the
    /// CPU at the next entry. With `more_pending`, `ICH_HCR_EL2.NPIE` and `UIE`: the
    /// guest exits with the maintenance interrupt once none of them is pending or
    /// at most one list register stays valid.
    ///
    /// # Errors
    ///
    /// `Unsupported` without a GICv3 interface; `InvalidInput` (nothing changes) for
    /// more than `irq_slots` interrupts, an INTID given twice, a special or
    /// out-of-range vINTID, a link to anything but a PPI or SPI, or a linked
    /// interrupt that is `PendingActive` or asks for EOI notification.
    fn set_irq_list(&mut self, irqs: &[VirtualIrq], more_pending: bool) -> AxVmResult {
        self.gic.set_list(irqs, more_pending)
    }

    /// The loaded interrupts, their states read back from the list registers at the
    /// last exit. A linked interrupt still in flight when the vCPU was unbound comes
    /// back unlinked (`hw_intid: None`, `notify_eoi: true`): `unbind` deactivated
    /// its physical interrupt so that the next vCPU on that CPU can take it.
    fn irq_list(&self) -> &[VirtualIrq] {
        self.gic.list()
    }

    fn set_return_value(&mut self, value: u64) {
        self.frame.set_gpr(0, value);
    }

    fn skip_instruction(&mut self) {
        let esr = Esr(self.frame.esr);
        exit::skip(&mut self.frame, esr);
    }
}

impl<H: AxVCpuHal> Drop for Aarch64VCpu<H> {
    /// A vCPU dropped while loaded on this CPU gives the CPU back to the host's
    /// state first; one loaded elsewhere only frees its claim (that CPU's next
    /// `bind` loads every register the guest could have changed).
    fn drop(&mut self) {
        if self.binding.is_loaded_here::<H>() {
            let _ = self.unbind();
        }
    }
}

#[cfg(test)]
mod tests {
    use axvm_types::{AccessWidth, HostPhysAddr};

    use super::*;
    use crate::{AxVCpu, VCpuState, arch::test_hal::TestHal};

    type VCpu = Aarch64VCpu<TestHal<33>>;

    fn paging() -> NestedPagingConfig {
        NestedPagingConfig {
            root: HostPhysAddr::from(0x4010_0000),
            levels: 3,
            gpa_bits: 39,
            vmid: 3,
        }
    }

    fn vcpu() -> VCpu {
        let mut vcpu = VCpu::new(1, 2, Aarch64CreateConfig::default()).unwrap();
        vcpu.set_entry(GuestPhysAddr::from(0x4008_0000)).unwrap();
        vcpu.set_ept_root(paging()).unwrap();
        vcpu.setup(Aarch64SetupConfig::default()).unwrap();
        vcpu
    }

    #[test]
    fn a_new_vcpu_starts_at_el1h_with_its_id_as_affinity() {
        let vcpu = vcpu();
        assert_eq!(vcpu.pc(), 0x4008_0000);
        assert_eq!(vcpu.regs().spsr, 0x3c5);
        assert_eq!(vcpu.mpidr(), 0x8000_0002);
        assert_eq!(vcpu.el1_state().sctlr_el1, 0x30d0_0800);
        assert_eq!(vcpu.stage2().unwrap().vttbr, 0x0003_0000_4010_0000);
        assert!(!vcpu.is_bound());
        let custom = VCpu::new(
            0,
            0,
            Aarch64CreateConfig {
                mpidr: Some(0x1_0000_0100),
            },
        )
        .unwrap();
        assert_eq!(custom.mpidr(), 0x1_8000_0100);
        assert_eq!(default_mpidr(0x1_0203), 0x8001_0203);
    }

    #[test]
    fn hcr_follows_the_setup_config() {
        let mut vcpu = vcpu();
        // VM | SWIO | FMO | IMO | AMO | FB | BSU_IS | TWI | TWE | TID3 | TSC | TIDCP |
        // TACR | RW | TLOR
        assert_eq!(vcpu.hcr(), 0x8_803c_663b);
        vcpu.setup(Aarch64SetupConfig {
            trap_wfi: true,
            trap_wfe: false,
            cntvoff: 0,
        })
        .unwrap();
        assert_eq!(vcpu.hcr(), 0x8_803c_263b);
    }

    #[test]
    fn setup_needs_nested_paging_and_a_valid_entry() {
        let mut vcpu = VCpu::new(1, 0, Aarch64CreateConfig::default()).unwrap();
        assert_eq!(
            vcpu.setup(Aarch64SetupConfig::default()),
            Err(AxVmError::BadState)
        );
        assert_eq!(
            vcpu.set_entry(GuestPhysAddr::from(0x4008_0002)),
            Err(AxVmError::InvalidInput)
        );
        let bad = NestedPagingConfig {
            levels: 2,
            ..paging()
        };
        assert_eq!(vcpu.set_ept_root(bad), Err(AxVmError::InvalidInput));
    }

    #[test]
    fn registers_and_skips() {
        let mut vcpu = vcpu();
        vcpu.set_gpr(0, 0x4800_0000);
        vcpu.set_gpr(31, 1);
        vcpu.set_gpr(99, 1);
        assert_eq!(vcpu.regs().x[0], 0x4800_0000);
        vcpu.set_return_value(7);
        assert_eq!(vcpu.regs().gpr(0), 7);
        // A 32-bit instruction (ESR.IL = 1), then a 16-bit one.
        vcpu.regs_mut().esr = 0x9381_0006;
        vcpu.skip_instruction();
        assert_eq!(vcpu.pc(), 0x4008_0004);
        vcpu.regs_mut().esr = 0x9181_0006;
        vcpu.skip_instruction();
        assert_eq!(vcpu.pc(), 0x4008_0006);
    }

    #[test]
    fn exits_are_decoded_from_the_frame() {
        let mut vcpu = vcpu();
        vcpu.regs_mut().esr = 0x5a00_0000;
        vcpu.regs_mut().x[0] = 0x8400_0000;
        assert_eq!(vcpu.handle_exit(EXIT_SYNC), Ok(AxVCpuExitReason::Nothing));
        assert_eq!(vcpu.regs().x[0], 0x1_0000);
        vcpu.regs_mut().x[0] = 0x8400_0008;
        assert_eq!(
            vcpu.handle_exit(EXIT_SYNC),
            Ok(AxVCpuExitReason::SystemDown)
        );
        assert_eq!(
            vcpu.handle_exit(EXIT_IRQ),
            Ok(AxVCpuExitReason::ExternalInterrupt { vector: 33 })
        );
        assert_eq!(
            vcpu.handle_exit(EXIT_FIQ),
            Ok(AxVCpuExitReason::ExternalInterrupt { vector: 33 })
        );
        assert_eq!(vcpu.handle_exit(EXIT_SERROR), Err(AxVmError::BadState));
        // From AArch32 EL0: an interrupt is an interrupt, a stage-2 abort an access.
        assert_eq!(
            vcpu.handle_exit(EXIT_AARCH32 + EXIT_IRQ),
            Ok(AxVCpuExitReason::ExternalInterrupt { vector: 33 })
        );
        assert_eq!(
            vcpu.handle_exit(EXIT_AARCH32 + EXIT_SERROR),
            Err(AxVmError::BadState)
        );
        vcpu.regs_mut().esr = 0x9347_0046; // STRH w7 (from a T32 or A32 instruction)
        assert!(matches!(
            vcpu.handle_exit(EXIT_AARCH32 + EXIT_SYNC),
            Ok(AxVCpuExitReason::MmioWrite {
                width: AccessWidth::Word,
                ..
            })
        ));
        vcpu.regs_mut().esr = 0x4a00_0000; // HVC from AArch32 (EC 0x12)
        assert_eq!(
            vcpu.handle_exit(EXIT_AARCH32 + EXIT_SYNC),
            Err(AxVmError::Unsupported)
        );
        vcpu.regs_mut().esr = 0;
        assert_eq!(vcpu.handle_exit(EXIT_SYNC), Err(AxVmError::Unsupported));
    }

    #[test]
    fn reset_clears_the_registers_but_keeps_the_entry() {
        let mut vcpu = vcpu();
        vcpu.set_gpr(5, 5);
        vcpu.regs_mut().spsr = 0x5;
        vcpu.el1_state_mut().sctlr_el1 = 0x30d0_1805;
        vcpu.reset().unwrap();
        assert_eq!(vcpu.regs().x[5], 0);
        assert_eq!(vcpu.regs().spsr, 0x3c5);
        assert_eq!(vcpu.pc(), 0x4008_0000);
        assert_eq!(*vcpu.el1_state(), El1State::reset());
    }

    #[test]
    fn a_virtual_irq_stays_pending_until_cleared() {
        let mut vcpu = vcpu();
        assert_eq!(vcpu.inject_interrupt(1020), Err(AxVmError::InvalidInput));
        vcpu.inject_interrupt(27).unwrap();
        assert_eq!(vcpu.hcr() & hcr::VI, hcr::VI);
        vcpu.inject_interrupt(27).unwrap();
        assert_eq!(vcpu.inject_interrupt(30), Err(AxVmError::ResourceBusy));
        // Setup keeps a pending interrupt.
        vcpu.setup(Aarch64SetupConfig::default()).unwrap();
        assert_eq!(vcpu.pending_virtual_irq(), Some(27));
        assert_eq!(vcpu.hcr() & hcr::VI, hcr::VI);
        assert_eq!(vcpu.clear_virtual_irq(), Some(27));
        assert_eq!(vcpu.hcr() & hcr::VI, 0);
        assert_eq!(vcpu.clear_virtual_irq(), None);
    }

    #[test]
    fn interrupts_go_to_list_registers_and_come_back_with_their_states() {
        use axvm_types::VirqState;
        let mut vcpu = vcpu();
        // Off aarch64 the backend models QEMU's cortex-a72: 4 list registers.
        assert_eq!(vcpu.ich_vtr().map(IchVtr::list_regs), Some(4));
        assert_eq!(vcpu.irq_slots(), 4);
        let timer = VirtualIrq {
            intid: 27,
            priority: 0xa0,
            state: VirqState::Pending,
            hw_intid: Some(27),
            notify_eoi: false,
        };
        vcpu.set_irq_list(&[timer], false).unwrap();
        assert_eq!(vcpu.irq_list(), &[timer]);
        assert_eq!(
            vcpu.set_irq_list(&[timer; 5], true),
            Err(AxVmError::InvalidInput)
        );
        assert_eq!(vcpu.irq_list(), &[timer], "a refused list changes nothing");
        vcpu.reset().unwrap();
        assert!(vcpu.irq_list().is_empty());
    }

    #[test]
    fn the_timer_deadline_counts_in_physical_ticks() {
        let mut vcpu = vcpu();
        assert_eq!(vcpu.timer_deadline(), None);
        vcpu.setup(Aarch64SetupConfig {
            cntvoff: 1_000,
            ..Aarch64SetupConfig::default()
        })
        .unwrap();
        let el1 = vcpu.el1_state_mut();
        el1.cntv_cval_el0 = 62_500;
        el1.cntv_ctl_el0 = vtimer::CNTV_CTL_ENABLE;
        assert_eq!(vcpu.timer_deadline(), Some(63_500));
        vcpu.el1_state_mut().cntv_ctl_el0 |= vtimer::CNTV_CTL_IMASK;
        assert_eq!(vcpu.timer_deadline(), None);
        // A reset CPU keeps its VM's counter offset.
        vcpu.reset().unwrap();
        assert_eq!(vcpu.el1_state().cntvoff_el2, 1_000);
        assert_eq!(vcpu.timer_deadline(), None);
    }

    #[test]
    fn off_aarch64_the_hardware_operations_are_unsupported() {
        let mut vcpu: AxVCpu<VCpu> =
            AxVCpu::new(1, 0, 0, None, Aarch64CreateConfig::default()).unwrap();
        vcpu.setup(
            GuestPhysAddr::from(0x4008_0000),
            paging(),
            Aarch64SetupConfig::default(),
        )
        .unwrap();
        assert_eq!(vcpu.state(), VCpuState::Free);
        if cfg!(not(target_arch = "aarch64")) {
            assert_eq!(vcpu.bind(), Err(AxVmError::Unsupported));
            assert!(crate::arch::test_hal::this_cpu_is_free());
            assert_eq!(vcpu.arch_mut().run(), Err(AxVmError::BadState));
            assert_eq!(vcpu.arch_mut().unbind(), Err(AxVmError::BadState));
        }
        // Completing an MMIO read writes the register and moves past the load.
        let read = AxVCpuExitReason::MmioRead {
            addr: GuestPhysAddr::from(0x0900_0018),
            width: AccessWidth::Byte,
            reg: 4,
            reg_width: AccessWidth::Dword,
            signed_ext: true,
        };
        vcpu.arch_mut().regs_mut().esr = 0x9384_0006;
        vcpu.complete_read(&read, 0x80).unwrap();
        assert_eq!(vcpu.arch().regs().x[4], 0xffff_ff80);
        assert_eq!(vcpu.arch().pc(), 0x4008_0004);
    }
}
