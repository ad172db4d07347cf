//! The instructions that touch EL2 and EL1 system registers: loading a vCPU onto the
//! current physical CPU (`bind`), saving it (`unbind`), and reading what the CPU
//! supports. Built for aarch64 only; elsewhere every operation reports
//! `Unsupported`, so the rest of the backend still compiles and is tested on any host.

use axvm_types::AxVmResult;

use super::{
    context::{El1State, FpState},
    paging::{Stage2Caps, Stage2Regs},
};

/// What a bound vCPU loads besides its general registers.
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))] // Read by the aarch64 code.
pub(crate) struct GuestHwState<'a> {
    pub el1: &'a mut El1State,
    pub fp: &'a mut FpState,
    pub hcr: u64,
    pub stage2: Stage2Regs,
    pub vmpidr: u64,
}

/// The hypervisor's values of the EL2 registers `bind` changes, restored by `unbind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))] // Built by the aarch64 code.
pub(crate) struct HostHwState {
    hcr: u64,
    cnthctl: u64,
    cptr: u64,
}

#[cfg(target_arch = "aarch64")]
mod imp {
    use axvm_types::{AxVmError, AxVmResult};

    use super::{GuestHwState, HostHwState};
    use crate::arch::aarch64::{
        context::El1State,
        entry::{__axvcpu_aarch64_fp_restore, __axvcpu_aarch64_fp_save},
        paging::{Stage2Caps, Stage2Regs},
    };

    /// `HCR_EL2.E2H`: the host runs with VHE, whose register redirection this
    /// backend does not handle.
    const HCR_E2H: u64 = 1 << 34;
    /// `CPTR_EL2.TFP`: FP/SIMD accesses trap to EL2.
    const CPTR_TFP: u64 = 1 << 10;
    /// `CNTHCTL_EL2.EL1PCTEN`: EL1/EL0 may read the physical counter.
    const CNTHCTL_EL1PCTEN: u64 = 1 << 0;
    /// `CNTHCTL_EL2.EL1PCEN`: EL1/EL0 may use the physical timer.
    const CNTHCTL_EL1PCEN: u64 = 1 << 1;

    macro_rules! read_sysreg {
        ($reg:literal) => {{
            let value: u64;
            // SAFETY: reading a system register at EL2 has no effect on memory or on
            // the state of the CPU.
            unsafe {
                core::arch::asm!(
                    concat!("mrs {}, ", $reg),
                    out(reg) value,
                    options(nomem, nostack, preserves_flags)
                )
            };
            value
        }};
    }

    macro_rules! write_sysreg {
        ($reg:literal, $value:expr) => {{
            let value: u64 = $value;
            // SAFETY: `bind`/`unbind` run at EL2 and only write registers of the guest's
            // EL1&0 regime, its stage-2 translation and traps, or restore the
            // hypervisor's own values of them; none affects the EL2 regime the
            // hypervisor executes in (VHE, which would, is refused by `load`).
            unsafe {
                core::arch::asm!(
                    concat!("msr ", $reg, ", {}"),
                    in(reg) value,
                    options(nostack, preserves_flags)
                )
            };
        }};
    }

    fn isb() {
        // SAFETY: a context synchronisation barrier has no effect on memory.
        unsafe { core::arch::asm!("isb", options(nostack, preserves_flags)) };
    }

    pub(crate) fn stage2_caps() -> AxVmResult<Stage2Caps> {
        Stage2Caps::from_id_regs(
            read_sysreg!("id_aa64mmfr0_el1"),
            read_sysreg!("id_aa64mmfr1_el1"),
        )
    }

    pub(crate) fn write_hcr(hcr: u64) {
        write_sysreg!("hcr_el2", hcr);
        isb();
    }

    pub(crate) fn write_stage2(stage2: Stage2Regs) {
        write_sysreg!("vtcr_el2", stage2.vtcr);
        write_sysreg!("vttbr_el2", stage2.vttbr);
        isb();
        // SAFETY: invalidates this CPU's stage-1 and stage-2 TLB entries of the VMID
        // now in VTTBR_EL2 (only cached translations of the guest are dropped).
        unsafe {
            core::arch::asm!(
                "tlbi vmalls12e1",
                "dsb nsh",
                "isb",
                options(nostack, preserves_flags)
            )
        };
    }

    fn load_el1(s: &El1State) {
        write_sysreg!("sctlr_el1", s.sctlr_el1);
        write_sysreg!("cpacr_el1", s.cpacr_el1);
        write_sysreg!("ttbr0_el1", s.ttbr0_el1);
        write_sysreg!("ttbr1_el1", s.ttbr1_el1);
        write_sysreg!("tcr_el1", s.tcr_el1);
        write_sysreg!("mair_el1", s.mair_el1);
        write_sysreg!("amair_el1", s.amair_el1);
        write_sysreg!("vbar_el1", s.vbar_el1);
        write_sysreg!("contextidr_el1", s.contextidr_el1);
        write_sysreg!("tpidr_el0", s.tpidr_el0);
        write_sysreg!("tpidrro_el0", s.tpidrro_el0);
        write_sysreg!("tpidr_el1", s.tpidr_el1);
        write_sysreg!("sp_el0", s.sp_el0);
        write_sysreg!("sp_el1", s.sp_el1);
        write_sysreg!("elr_el1", s.elr_el1);
        write_sysreg!("spsr_el1", s.spsr_el1);
        write_sysreg!("esr_el1", s.esr_el1);
        write_sysreg!("far_el1", s.far_el1);
        write_sysreg!("par_el1", s.par_el1);
        write_sysreg!("afsr0_el1", s.afsr0_el1);
        write_sysreg!("afsr1_el1", s.afsr1_el1);
        write_sysreg!("csselr_el1", s.csselr_el1);
        write_sysreg!("cntkctl_el1", s.cntkctl_el1);
        write_sysreg!("cntvoff_el2", s.cntvoff_el2);
        write_sysreg!("cntv_cval_el0", s.cntv_cval_el0);
        write_sysreg!("cntv_ctl_el0", s.cntv_ctl_el0);
    }

    fn save_el1(s: &mut El1State) {
        s.sctlr_el1 = read_sysreg!("sctlr_el1");
        s.cpacr_el1 = read_sysreg!("cpacr_el1");
        s.ttbr0_el1 = read_sysreg!("ttbr0_el1");
        s.ttbr1_el1 = read_sysreg!("ttbr1_el1");
        s.tcr_el1 = read_sysreg!("tcr_el1");
        s.mair_el1 = read_sysreg!("mair_el1");
        s.amair_el1 = read_sysreg!("amair_el1");
        s.vbar_el1 = read_sysreg!("vbar_el1");
        s.contextidr_el1 = read_sysreg!("contextidr_el1");
        s.tpidr_el0 = read_sysreg!("tpidr_el0");
        s.tpidrro_el0 = read_sysreg!("tpidrro_el0");
        s.tpidr_el1 = read_sysreg!("tpidr_el1");
        s.sp_el0 = read_sysreg!("sp_el0");
        s.sp_el1 = read_sysreg!("sp_el1");
        s.elr_el1 = read_sysreg!("elr_el1");
        s.spsr_el1 = read_sysreg!("spsr_el1");
        s.esr_el1 = read_sysreg!("esr_el1");
        s.far_el1 = read_sysreg!("far_el1");
        s.par_el1 = read_sysreg!("par_el1");
        s.afsr0_el1 = read_sysreg!("afsr0_el1");
        s.afsr1_el1 = read_sysreg!("afsr1_el1");
        s.csselr_el1 = read_sysreg!("csselr_el1");
        s.cntkctl_el1 = read_sysreg!("cntkctl_el1");
        s.cntv_ctl_el0 = read_sysreg!("cntv_ctl_el0");
        s.cntv_cval_el0 = read_sysreg!("cntv_cval_el0");
        s.cntvoff_el2 = read_sysreg!("cntvoff_el2");
        // Stop this guest's timer from firing while another guest runs here.
        write_sysreg!("cntv_ctl_el0", 0);
    }

    pub(crate) fn load(guest: GuestHwState<'_>) -> AxVmResult<HostHwState> {
        let host = HostHwState {
            hcr: read_sysreg!("hcr_el2"),
            cnthctl: read_sysreg!("cnthctl_el2"),
            cptr: read_sysreg!("cptr_el2"),
        };
        if host.hcr & HCR_E2H != 0 {
            log::error!(
                "aarch64 vCPU: the hypervisor runs with VHE (HCR_EL2.E2H = 1), which is not supported"
            );
            return Err(AxVmError::Unsupported);
        }
        // FP/SIMD must not trap at EL2 (to load the guest's registers) nor for the guest.
        write_sysreg!("cptr_el2", host.cptr & !CPTR_TFP);
        // The guest reads the physical counter directly; the physical timer traps.
        write_sysreg!(
            "cnthctl_el2",
            (host.cnthctl | CNTHCTL_EL1PCTEN) & !CNTHCTL_EL1PCEN
        );
        isb();
        // SAFETY: `guest.fp` is a valid `FpState`; FP/SIMD no longer traps at EL2.
        unsafe { __axvcpu_aarch64_fp_restore(guest.fp) };
        load_el1(guest.el1);
        write_sysreg!("vpidr_el2", read_sysreg!("midr_el1"));
        write_sysreg!("vmpidr_el2", guest.vmpidr);
        write_sysreg!("hcr_el2", guest.hcr);
        write_stage2(guest.stage2);
        Ok(host)
    }

    pub(crate) fn save(guest: GuestHwState<'_>, host: HostHwState) {
        // SAFETY: `guest.fp` is a valid `FpState`; `load` cleared CPTR_EL2.TFP.
        unsafe { __axvcpu_aarch64_fp_save(guest.fp) };
        save_el1(guest.el1);
        write_sysreg!("hcr_el2", host.hcr);
        write_sysreg!("cnthctl_el2", host.cnthctl);
        write_sysreg!("cptr_el2", host.cptr);
        isb();
    }
}

#[cfg(not(target_arch = "aarch64"))]
mod imp {
    use axvm_types::{AxVmError, AxVmResult};

    use super::{GuestHwState, HostHwState};
    use crate::arch::aarch64::paging::{Stage2Caps, Stage2Regs};

    /// Off aarch64 there is no CPU to ask: a model with 48-bit physical addresses and
    /// 16-bit VMIDs, so set-up can be exercised in host tests.
    #[allow(clippy::unnecessary_wraps)] // Same signature as on aarch64.
    pub(crate) fn stage2_caps() -> AxVmResult<Stage2Caps> {
        Ok(Stage2Caps {
            pa_bits: 48,
            vmid16: true,
        })
    }

    pub(crate) fn write_hcr(_hcr: u64) {}

    pub(crate) fn write_stage2(_stage2: Stage2Regs) {}

    pub(crate) fn load(_guest: GuestHwState<'_>) -> AxVmResult<HostHwState> {
        Err(AxVmError::Unsupported)
    }

    pub(crate) fn save(_guest: GuestHwState<'_>, _host: HostHwState) {}
}

/// What the current physical CPU supports for stage 2.
pub(crate) fn stage2_caps() -> AxVmResult<Stage2Caps> {
    imp::stage2_caps()
}

/// Writes `HCR_EL2` of the bound vCPU.
pub(crate) fn write_hcr(hcr: u64) {
    imp::write_hcr(hcr);
}

/// Writes `VTCR_EL2` / `VTTBR_EL2` of the bound vCPU and drops its cached
/// translations on this CPU.
pub(crate) fn write_stage2(stage2: Stage2Regs) {
    imp::write_stage2(stage2);
}

/// Loads a vCPU onto this CPU; returns the hypervisor's registers to restore later.
pub(crate) fn load(guest: GuestHwState<'_>) -> AxVmResult<HostHwState> {
    imp::load(guest)
}

/// Saves the bound vCPU from this CPU and restores the hypervisor's registers.
pub(crate) fn save(guest: GuestHwState<'_>, host: HostHwState) {
    imp::save(guest, host);
}
