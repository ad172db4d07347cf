//! The instructions that touch EL2 and EL1 system registers: loading a vCPU onto the
//! current physical CPU (`bind`), saving it (`unbind`), and reading what the CPU
//! supports. Built for aarch64 only; elsewhere every operation reports
//! `Unsupported`, so the rest of the backend still compiles and is tested on any host.

use axvm_types::AxVmResult;

use super::{
    context::{El1State, FpState},
    gic::CpuInterfaceState,
    paging::{Stage2Caps, Stage2Regs},
};

/// `MDCR_EL2` bits: the debug, PMU and trace traps.
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))] // Used by `load`.
pub(crate) mod mdcr {
    /// HPMN: the PMU counters EL1 may use (the rest are the hypervisor's).
    pub const HPMN: u64 = 0x1f;
    /// TPMCR: `PMCR_EL0` accesses trap.
    pub const TPMCR: u64 = 1 << 5;
    /// TPM: every PMU register access traps.
    pub const TPM: u64 = 1 << 6;
    /// HPME: the hypervisor's counters (HPMN and up) are enabled.
    pub const HPME: u64 = 1 << 7;
    /// TDA: debug register accesses (`MDSCR_EL1`, breakpoints, watchpoints, the
    /// debug communication channel, claim tags) trap.
    pub const TDA: u64 = 1 << 9;
    /// TDOSA: OS lock and power-down register accesses (`OSLAR_EL1`, `OSLSR_EL1`,
    /// `OSDLR_EL1`, `DBGPRCR_EL1`) trap.
    pub const TDOSA: u64 = 1 << 10;
    /// TDRA: debug ROM address register accesses (`MDRAR_EL1`) trap.
    pub const TDRA: u64 = 1 << 11;
    /// TPMS: statistical profiling (SPE) register accesses trap (with E2PB = 0).
    pub const TPMS: u64 = 1 << 14;
    /// TTRF: trace filter (`TRFCR_EL1`) accesses trap.
    pub const TTRF: u64 = 1 << 19;
}

/// The guest's `MDCR_EL2`, from the hypervisor's: every PMU, debug, profiling and
/// trace register access of the guest traps (answered RAZ/WI, see
/// `exit::sysreg`), so it can neither read nor change the host's or another VM's
/// counters, breakpoints or trace set-up. The hypervisor's partition of the PMU
/// counters (`HPMN`, `HPME`) is kept; `TDE` is clear so the guest's own debug
/// exceptions (e.g. `BRK`) stay at EL1; `E2PB` = `E2TB` = 0 leave the profiling
/// and trace buffers to EL2 (their EL1 accesses trap).
#[must_use]
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))] // Used by `load`.
pub(crate) const fn guest_mdcr(host: u64) -> u64 {
    (host & (mdcr::HPMN | mdcr::HPME))
        | mdcr::TPMCR
        | mdcr::TPM
        | mdcr::TDA
        | mdcr::TDOSA
        | mdcr::TDRA
        | mdcr::TPMS
        | mdcr::TTRF
}

/// `CPTR_EL2` bits (nVHE layout).
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))] // Used by `load`.
pub(crate) mod cptr {
    /// TZ: SVE accesses trap (RES1 without SVE).
    pub const TZ: u64 = 1 << 8;
    /// TFP: FP/SIMD accesses trap.
    pub const TFP: u64 = 1 << 10;
    /// TSM: SME accesses trap (RES1 without SME).
    pub const TSM: u64 = 1 << 12;
    /// TTA: trace register accesses trap.
    pub const TTA: u64 = 1 << 20;
    /// TAM: activity monitor accesses trap (only with FEAT_AMUv1; RES0 otherwise).
    pub const TAM: u64 = 1 << 30;
}

/// The guest's `CPTR_EL2`, from the hypervisor's: FP/SIMD free (the backend
/// switches it), SVE, SME, trace and (when the CPU has them, `amu`) the activity
/// monitors trapped, since the backend switches none of their state.
#[must_use]
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))] // Used by `load`.
pub(crate) const fn guest_cptr(host: u64, amu: bool) -> u64 {
    let value = (host & !cptr::TFP) | cptr::TZ | cptr::TSM | cptr::TTA;
    if amu { value | cptr::TAM } else { value }
}

/// What a bound vCPU loads besides its general registers.
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))] // Read by the aarch64 code.
pub(crate) struct GuestHwState<'a> {
    pub el1: &'a mut El1State,
    pub fp: &'a mut FpState,
    pub gic: &'a mut CpuInterfaceState,
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
    mdcr: u64,
}

#[cfg(target_arch = "aarch64")]
mod imp {
    use axvm_types::{AxVmError, AxVmResult};

    use super::{GuestHwState, HostHwState, guest_cptr, guest_mdcr};
    use crate::arch::aarch64::{
        context::El1State,
        entry::{__axvcpu_aarch64_fp_restore, __axvcpu_aarch64_fp_save},
        gic::SysRegs,
        paging::{Stage2Caps, Stage2Regs},
    };

    /// `HCR_EL2.E2H`: the host runs with VHE, whose register redirection this
    /// backend does not handle.
    const HCR_E2H: u64 = 1 << 34;
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

    /// `mrs` of ID register `S3_0_C0_C<crm>_<op2>` (a literal pair).
    macro_rules! read_id {
        ($crm:literal, $op2:literal) => {{
            let value: u64;
            // SAFETY: reading an ID register at EL2 has no effect on memory or on
            // the state of the CPU; unallocated ones in this space read as zero.
            unsafe {
                core::arch::asm!(
                    concat!("mrs {}, s3_0_c0_c", stringify!($crm), "_", stringify!($op2)),
                    out(reg) value,
                    options(nomem, nostack, preserves_flags)
                )
            };
            value
        }};
    }

    /// The CPU's value of the ID registers `exit::sysreg::id_mask` keeps bits of;
    /// 0 for the others (which the guest reads as zero anyway).
    macro_rules! id_reader {
        ($($crm:literal: [$($op2:literal),*];)*) => {
            pub(crate) fn read_id_reg(crm: u8, op2: u8) -> u64 {
                match (crm, op2) {
                    $($(($crm, $op2) => read_id!($crm, $op2),)*)*
                    _ => 0,
                }
            }
        };
    }

    id_reader! {
        1: [0, 1, 2, 4, 5, 6, 7];
        2: [0, 1, 2, 3, 4, 5, 6, 7];
        3: [0, 1, 2, 4, 6];
        4: [0, 1];
        5: [0];
        6: [0, 1, 2];
        7: [0, 1, 2];
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
        // Stop this guest's timer from firing while another guest runs here.
        write_sysreg!("cntv_ctl_el0", 0);
    }

    pub(crate) fn read_vtimer() -> (u64, u64) {
        (read_sysreg!("cntv_ctl_el0"), read_sysreg!("cntv_cval_el0"))
    }

    pub(crate) fn write_cntvoff(offset: u64) {
        write_sysreg!("cntvoff_el2", offset);
        isb();
    }

    pub(crate) fn load(guest: GuestHwState<'_>) -> AxVmResult<HostHwState> {
        let host = HostHwState {
            hcr: read_sysreg!("hcr_el2"),
            cnthctl: read_sysreg!("cnthctl_el2"),
            cptr: read_sysreg!("cptr_el2"),
            mdcr: read_sysreg!("mdcr_el2"),
        };
        if host.hcr & HCR_E2H != 0 {
            log::error!(
                "aarch64 vCPU: the hypervisor runs with VHE (HCR_EL2.E2H = 1), which is not supported"
            );
            return Err(AxVmError::Unsupported);
        }
        // FP/SIMD must not trap at EL2 (to load the guest's registers) nor for the
        // guest; SVE, SME, trace and the activity monitors do.
        let amu = (read_sysreg!("id_aa64pfr0_el1") >> 44) & 0xf != 0;
        write_sysreg!("cptr_el2", guest_cptr(host.cptr, amu));
        write_sysreg!("mdcr_el2", guest_mdcr(host.mdcr));
        // The guest reads the physical counter directly; the physical timer traps.
        write_sysreg!(
            "cnthctl_el2",
            (host.cnthctl | CNTHCTL_EL1PCTEN) & !CNTHCTL_EL1PCEN
        );
        isb();
        // SAFETY: `guest.fp` is a valid `FpState`; FP/SIMD no longer traps at EL2.
        unsafe { __axvcpu_aarch64_fp_restore(guest.fp) };
        load_el1(guest.el1);
        guest.gic.load(&mut SysRegs);
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
        guest.gic.save(&mut SysRegs);
        write_sysreg!("hcr_el2", host.hcr);
        write_sysreg!("cnthctl_el2", host.cnthctl);
        write_sysreg!("cptr_el2", host.cptr);
        write_sysreg!("mdcr_el2", host.mdcr);
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

    /// No CPU to read: every ID register reads as zero.
    pub(crate) const fn read_id_reg(_crm: u8, _op2: u8) -> u64 {
        0
    }

    pub(crate) fn write_stage2(_stage2: Stage2Regs) {}

    /// No timer to read: disabled.
    pub(crate) const fn read_vtimer() -> (u64, u64) {
        (0, 0)
    }

    pub(crate) fn write_cntvoff(_offset: u64) {}

    pub(crate) fn load(_guest: GuestHwState<'_>) -> AxVmResult<HostHwState> {
        Err(AxVmError::Unsupported)
    }

    pub(crate) fn save(_guest: GuestHwState<'_>, _host: HostHwState) {}
}

/// What the current physical CPU supports for stage 2.
pub(crate) fn stage2_caps() -> AxVmResult<Stage2Caps> {
    imp::stage2_caps()
}

/// The current CPU's ID register `S3_0_C0_C<crm>_<op2>` (for the guest's trapped
/// reads, sanitised by the caller).
pub(crate) fn read_id_reg(crm: u8, op2: u8) -> u64 {
    imp::read_id_reg(crm, op2)
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

/// The bound vCPU's virtual timer: `CNTV_CTL_EL0` and `CNTV_CVAL_EL0`.
pub(crate) fn read_vtimer() -> (u64, u64) {
    imp::read_vtimer()
}

/// Writes `CNTVOFF_EL2` of the bound vCPU.
pub(crate) fn write_cntvoff(offset: u64) {
    imp::write_cntvoff(offset);
}

/// Loads a vCPU onto this CPU; returns the hypervisor's registers to restore later.
pub(crate) fn load(guest: GuestHwState<'_>) -> AxVmResult<HostHwState> {
    imp::load(guest)
}

/// Saves the bound vCPU from this CPU and restores the hypervisor's registers.
pub(crate) fn save(guest: GuestHwState<'_>, host: HostHwState) {
    imp::save(guest, host);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guests_trap_the_pmu_debug_and_trace_and_keep_the_hosts_counters() {
        // A host that reserved counters 4.. (HPMN = 4, HPME) and routed debug
        // exceptions to EL2 (TDE) with the profiling buffer at EL1 (E2PB = 3).
        let host = 4 | mdcr::HPME | (1 << 8) | (3 << 12);
        let guest = guest_mdcr(host);
        assert_eq!(guest & mdcr::HPMN, 4);
        assert_eq!(guest & (1 << 8), 0, "TDE: the guest's BRK stays at EL1");
        assert_eq!(guest & (3 << 12), 0, "E2PB: profiling buffer owned by EL2");
        // TTRF | TPMS | TDRA | TDOSA | TDA | HPME | TPM | TPMCR | HPMN
        assert_eq!(guest, 0x8_4ee4);
        assert_eq!(guest_mdcr(0), 0x8_4e60);
    }

    #[test]
    fn guests_trap_sve_sme_trace_and_amu_but_not_fp() {
        let host = 0x33ff | cptr::TFP; // RES1 bits, FP trapped for the host
        assert_eq!(guest_cptr(host, false), 0x0010_33ff & !cptr::TFP);
        assert_eq!(guest_cptr(0, true), 0x4010_1100);
    }
}
