//! Trapped `MSR`/`MRS` accesses the backend answers itself, because they concern
//! state it does not give guests:
//!
//! - **ID registers** (op0 3, op1 0, CRn 0, CRm 1–7, trapped by `HCR_EL2.TID3`):
//!   the CPU's value with every field of a feature whose state the backend does
//!   not switch or whose traps it does not handle cleared (PAuth, SVE, SME, MTE,
//!   AMU, MPAM, RAS, the PMU, SPE, trace, EL2, FGT, ...). Fields are kept by an
//!   allow-list, so a feature a future CPU adds stays hidden; a register the table
//!   does not know reads as zero.
//! - **Debug, trace, PMU, SPE, AMU, LORegion and `ACTLR_EL1` registers**
//!   (trapped by `MDCR_EL2`, `CPTR_EL2.TTA`/`TAM`, `HCR_EL2.TLOR`/`TACR`): RAZ/WI,
//!   as KVM does without a virtual PMU, so they can neither read nor change the
//!   host's or another guest's values. `OSLSR_EL1` reads "OS lock implemented,
//!   unlocked".
//!
//! Everything else goes to the hypervisor as `SysRegRead` / `SysRegWrite`.
//! Field layouts: Arm DDI 0487, chapter D23 (AArch64 system registers).

/// How the backend answers a trapped system-register access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysRegAnswer {
    /// An ID register `S3_0_C0_C<crm>_<op2>`: reads return [`sanitise_id`] of the
    /// CPU's value.
    Id {
        /// CRm (1–7).
        crm: u8,
        /// op2.
        op2: u8,
    },
    /// Reads return this value, writes are ignored.
    RazWi(u64),
    /// The hypervisor's to emulate (an exit).
    Hypervisor,
}

/// `OSLSR_EL1` of a guest: OSLM = 0b10 (the OS lock is implemented), unlocked.
pub const OSLSR_EL1_GUEST: u64 = 0b1000;

/// Classifies the register `op0, op1, CRn, CRm, op2` of a trapped access.
#[must_use]
pub const fn classify(op0: u8, op1: u8, crn: u8, crm: u8, op2: u8) -> SysRegAnswer {
    match (op0, op1, crn, crm, op2) {
        (3, 0, 0, 1..=7, _) => SysRegAnswer::Id { crm, op2 },
        // OSLSR_EL1.
        (2, 0, 1, 1, 4) => SysRegAnswer::RazWi(OSLSR_EL1_GUEST),
        // Debug (op1 0), trace (op1 1), debug communication channel (op1 3).
        (2, 0 | 1 | 3, ..) => SysRegAnswer::RazWi(0),
        // PMU, SPE and the trace buffer (CRn 9), the event counters and filters
        // (CRn 14, CRm 8-15), TRFCR_EL1, the activity monitors, LORegions,
        // ACTLR_EL1.
        (3, 0 | 3, 9, 9..=14, _)
        | (3, 3, 14, 8..=15, _)
        | (3, 0, 1, 2, 1)
        | (3, 3, 13, 2..=7, _)
        | (3, 0, 10, 4, 0..=3 | 7)
        | (3, 0, 1, 0, 1) => SysRegAnswer::RazWi(0),
        _ => SysRegAnswer::Hypervisor,
    }
}

/// A mask of the 4-bit ID fields numbered in `fields` (field `n` is bits
/// `[4n + 3 : 4n]`).
const fn fields(mut fields: &[u8]) -> u64 {
    let mut mask = 0;
    while let [field, rest @ ..] = fields {
        mask |= 0xf << (*field as u32 & 15).wrapping_mul(4);
        fields = rest;
    }
    mask
}

/// Every field but those in `hidden`.
const fn all_but(hidden: &[u8]) -> u64 {
    !fields(hidden)
}

/// The bits of ID register `S3_0_C0_C<crm>_<op2>` a guest sees; 0 for registers
/// the table does not know (they read as zero).
#[must_use]
pub const fn id_mask(crm: u8, op2: u8) -> u64 {
    /// The AArch32 registers are 32 bits wide.
    const LOW: u64 = 0xffff_ffff;
    match (crm, op2) {
        // ID_PFR0_EL1: not RAS (7), AMU (5).
        (1, 0) => all_but(&[5, 7]) & LOW,
        // ID_PFR1_EL1: not Virtualization (3), Virt_frac (6).
        (1, 1) => all_but(&[3, 6]) & LOW,
        // ID_DFR0_EL1: CopDbg, CopSDbg, MMapDbg, MProfDbg; not the trace fields or
        // PerfMon.
        (1, 2) => fields(&[0, 1, 2, 5]),
        // ID_MMFR0-3, ID_ISAR0-5, ID_MMFR4, ID_ISAR6, MVFR0-2, ID_MMFR5: features
        // of AArch32 EL0 instructions and memory, no state of their own.
        (1, 4..=7) | (2, 0..=7) | (3, 0..=2) | (3, 6) => LOW,
        // ID_PFR2_EL1: CSV3, SSBS; not RAS_frac.
        (3, 4) => fields(&[0, 1]),
        // ID_AA64PFR0_EL1: EL0, EL1, EL3, FP, AdvSIMD, GIC, DIT, CSV2, CSV3; not EL2,
        // RAS, SVE, SEL2, MPAM, AMU, RME.
        (4, 0) => fields(&[0, 1, 3, 4, 5, 6, 12, 14, 15]),
        // ID_AA64PFR1_EL1: BT, SSBS, CSV2_frac; not MTE, SME, NMI, GCS, ...
        (4, 1) => fields(&[0, 1, 8]),
        // ID_AA64DFR0_EL1: DebugVer, BRPs, WRPs, CTX_CMPs, DoubleLock; not TraceVer,
        // PMUVer, PMSVer (SPE), the trace buffer, BRBE, ...
        (5, 0) => fields(&[0, 3, 5, 7, 9]),
        // ID_AA64ISAR0_EL1: instructions; not TME.
        (6, 0) => all_but(&[6]),
        // ID_AA64ISAR1_EL1: not APA, API, GPA, GPI (pointer authentication), LS64.
        (6, 1) => all_but(&[1, 2, 6, 7, 15]),
        // ID_AA64ISAR2_EL1: RPRES, BC, CLRBHB, CSSC; not WFxT, GPA3, APA3, MOPS
        // (needs HCRX_EL2), PAC_frac, ...
        (6, 2) => fields(&[1, 5, 7, 13]),
        // ID_AA64MMFR0_EL1: PARange to ExS; not FGT, ECV.
        (7, 0) => fields(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
        // ID_AA64MMFR1_EL1: not VH, LO, XNX, TWED, HCX, TIDCP1.
        (7, 1) => all_but(&[2, 4, 7, 8, 10, 13]),
        // ID_AA64MMFR2_EL1: not NV, FWB, EVT (and reserved 11).
        (7, 2) => all_but(&[6, 10, 11, 14]),
        // ID_AA64PFR2, ZFR0 (SVE), SMFR0 (SME), FPFR0, DFR1, AFR0/1, ISAR3, MMFR3
        // (TCR2, SCTLR2, permission indirection...), MMFR4 and the rest.
        _ => 0,
    }
}

/// The value a guest reads from ID register `S3_0_C0_C<crm>_<op2>` whose value
/// on the CPU is `value`.
#[must_use]
pub const fn sanitise_id(crm: u8, op2: u8, value: u64) -> u64 {
    value & id_mask(crm, op2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ID registers of a CPU with every feature (illustrative values).
    const PFR0: u64 = 0x1201_1111_1111_1112; // with SVE, AMU, RAS, MPAM, SEL2, EL2
    const PFR1: u64 = 0x0000_0000_0111_0321; // MTE 3, SME 1, NMI, RNDR_trap...
    const ISAR1: u64 = 0x0011_1011_2110_1051 | 0x1 << 60; // PAuth QARMA5 (APA 5), LS64
    const ISAR2: u64 = 0x0000_0000_1100_1111 | 0x1 << 12; // PAC3 (APA3 1), WFxT, MOPS
    const DFR0: u64 = 0x0000_1001_1010_581a; // PMUv3p8, SPE, TRBE, v8p8 debug

    fn field(value: u64, n: u32) -> u64 {
        (value >> (4 * n)) & 0xf
    }

    #[test]
    fn pointer_authentication_sve_sme_mte_and_amu_are_hidden() {
        let pfr0 = sanitise_id(4, 0, PFR0);
        assert_eq!(field(pfr0, 8), 0, "SVE");
        assert_eq!(field(pfr0, 11), 0, "AMU");
        assert_eq!(field(pfr0, 7), 0, "RAS");
        assert_eq!(field(pfr0, 10), 0, "MPAM");
        assert_eq!(field(pfr0, 2), 0, "EL2");
        // EL0 and EL1 (AArch64 + AArch32 = 2), FP and AdvSIMD (0 = present) stay.
        assert_eq!((field(pfr0, 0), field(pfr0, 1)), (2, 1));
        assert_eq!((field(pfr0, 4), field(pfr0, 5)), (1, 1));
        let pfr1 = sanitise_id(4, 1, PFR1);
        assert_eq!((field(pfr1, 2), field(pfr1, 6)), (0, 0), "MTE, SME");
        assert_eq!((field(pfr1, 0), field(pfr1, 1)), (1, 2), "BT, SSBS");
        let isar1 = sanitise_id(6, 1, ISAR1);
        for (n, name) in [(1, "APA"), (2, "API"), (6, "GPA"), (7, "GPI"), (15, "LS64")] {
            assert_eq!(field(isar1, n), 0, "{name}");
        }
        assert_eq!(field(isar1, 0), 1, "DPB stays");
        let isar2 = sanitise_id(6, 2, ISAR2);
        for (n, name) in [(0, "WFxT"), (2, "GPA3"), (3, "APA3"), (4, "MOPS")] {
            assert_eq!(field(isar2, n), 0, "{name}");
        }
        assert_eq!(field(isar2, 1), 1, "RPRES stays");
        // The SVE and SME feature registers read as zero.
        assert_eq!(sanitise_id(4, 4, u64::MAX), 0);
        assert_eq!(sanitise_id(4, 5, u64::MAX), 0);
    }

    #[test]
    fn the_gic_system_register_interface_stays_advertised() {
        // ID_AA64PFR0_EL1.GIC (bits 27:24): 1 = GICv3 system registers, 3 = v4.1.
        for gic in [1, 3] {
            let pfr0 = sanitise_id(4, 0, (PFR0 & !(0xf << 24)) | gic << 24);
            assert_eq!(field(pfr0, 6), gic);
        }
    }

    #[test]
    fn the_pmu_and_trace_are_hidden_but_the_debug_architecture_stays() {
        let dfr0 = sanitise_id(5, 0, DFR0);
        assert_eq!(field(dfr0, 2), 0, "PMUVer");
        assert_eq!(field(dfr0, 8), 0, "PMSVer");
        assert_eq!(field(dfr0, 1), 0, "TraceVer");
        assert_eq!(field(dfr0, 11), 0, "TraceBuffer");
        assert_eq!(field(dfr0, 0), 0xa, "DebugVer");
        assert_eq!((field(dfr0, 3), field(dfr0, 5)), (5, 1), "BRPs, WRPs");
        // AArch32: no PerfMon, no trace.
        assert_eq!(sanitise_id(1, 2, 0x1603_3066), 0x0000_0066);
    }

    #[test]
    fn unknown_id_registers_read_as_zero_and_aarch32_ones_are_32_bits() {
        for crm in 1..=7 {
            for op2 in 0..=7 {
                let value = sanitise_id(crm, op2, u64::MAX);
                if crm <= 3 {
                    assert_eq!(value >> 32, 0, "{crm} {op2}");
                }
            }
        }
        assert_eq!(sanitise_id(7, 3, u64::MAX), 0, "ID_AA64MMFR3_EL1");
        assert_eq!(sanitise_id(5, 4, u64::MAX), 0, "ID_AA64AFR0_EL1");
        assert_eq!(sanitise_id(8, 0, u64::MAX), 0, "outside the ID space");
        assert_eq!(fields(&[0, 15]), 0xf000_0000_0000_000f);
    }

    #[test]
    fn debug_pmu_and_other_unswitched_registers_are_raz_wi() {
        let raz = SysRegAnswer::RazWi(0);
        // MDSCR_EL1, DBGBCR5_EL1, MDRAR_EL1, OSLAR_EL1, MDCCSR_EL0, DBGDTR_EL0.
        for (op0, op1, crn, crm, op2) in [
            (2, 0, 0, 2, 2),
            (2, 0, 0, 5, 5),
            (2, 0, 1, 0, 0),
            (2, 0, 1, 0, 4),
            (2, 3, 0, 1, 0),
            (2, 3, 0, 4, 0),
        ] {
            assert_eq!(classify(op0, op1, crn, crm, op2), raz);
        }
        assert_eq!(
            classify(2, 0, 1, 1, 4),
            SysRegAnswer::RazWi(OSLSR_EL1_GUEST)
        );
        // PMCR_EL0, PMCCNTR_EL0, PMUSERENR_EL0, PMINTENSET_EL1, PMEVCNTR3_EL0,
        // PMCCFILTR_EL0, PMSCR_EL1 (SPE), TRBLIMITR_EL1, TRFCR_EL1, AMCNTENSET0_EL0,
        // LORC_EL1, LORID_EL1, ACTLR_EL1.
        for (op0, op1, crn, crm, op2) in [
            (3, 3, 9, 12, 0),
            (3, 3, 9, 13, 0),
            (3, 3, 9, 14, 0),
            (3, 0, 9, 14, 1),
            (3, 3, 14, 8, 3),
            (3, 3, 14, 15, 7),
            (3, 0, 9, 9, 0),
            (3, 0, 9, 11, 0),
            (3, 0, 1, 2, 1),
            (3, 3, 13, 2, 1),
            (3, 0, 10, 4, 3),
            (3, 0, 10, 4, 7),
            (3, 0, 1, 0, 1),
        ] {
            assert_eq!(classify(op0, op1, crn, crm, op2), raz, "{crn} {crm} {op2}");
        }
        assert_eq!(classify(3, 0, 0, 4, 1), SysRegAnswer::Id { crm: 4, op2: 1 });
        // The hypervisor's: CNTP_CTL_EL0, CNTPCT_EL0, ICC_SGI1R_EL1, MIDR (not
        // trapped by TID3: CRm 0), an EL2 debug register, SCTLR_EL1.
        for (op0, op1, crn, crm, op2) in [
            (3, 3, 14, 2, 1),
            (3, 3, 14, 0, 1),
            (3, 0, 12, 11, 5),
            (3, 0, 0, 0, 0),
            (2, 4, 0, 7, 0),
            (3, 0, 1, 0, 0),
        ] {
            assert_eq!(
                classify(op0, op1, crn, crm, op2),
                SysRegAnswer::Hypervisor,
                "{op0} {op1} {crn} {crm} {op2}"
            );
        }
    }
}
