//! GICv3 register offsets, fields and the identification values this model reports
//! (Arm GIC Architecture Specification, IHI 0069, chapter 12).

/// Size of the distributor's register frame.
pub(super) const GICD_SIZE: usize = 0x1_0000;
/// Size of one redistributor frame (RD_base or SGI_base).
pub(super) const GICR_FRAME_SIZE: usize = 0x1_0000;
/// Distance between two vCPUs' redistributors: the RD frame, then the SGI frame.
pub(super) const GICR_STRIDE: usize = 0x2_0000;

/// INTIDs 0-15 are SGIs, 16-31 PPIs, 32 and up SPIs.
pub(super) const SGI_COUNT: u32 = 16;
/// The private interrupts of one PE (SGIs and PPIs).
pub(super) const PRIVATE_COUNT: u32 = 32;
/// The most SPIs a GICv3 without extended SPIs has: INTIDs 32-1019 (1020-1023 are
/// special and never name an interrupt).
pub(super) const MAX_SPIS: usize = 988;

// Registers at the same offset in the distributor and the RD frame.
/// Control register (GICD_CTLR, GICR_CTLR).
pub(super) const CTLR: usize = 0x0000;
/// Peripheral ID2: the architecture revision.
pub(super) const PIDR2: usize = 0xffe8;

// Distributor.
pub(super) const GICD_TYPER: usize = 0x0004;
pub(super) const GICD_IIDR: usize = 0x0008;
pub(super) const GICD_TYPER2: usize = 0x000c;
/// The banks of 32-bit registers with 1 bit per INTID: start of each bank (the
/// redistributors' SGI frame has the first register of each at the same offset).
pub(super) const IGROUPR: usize = 0x0080;
pub(super) const ISENABLER: usize = 0x0100;
pub(super) const ICENABLER: usize = 0x0180;
pub(super) const ISPENDR: usize = 0x0200;
pub(super) const ICPENDR: usize = 0x0280;
pub(super) const ISACTIVER: usize = 0x0300;
pub(super) const ICACTIVER: usize = 0x0380;
/// Length of each 1-bit bank (1024 INTIDs).
pub(super) const BIT_BANK_LEN: usize = 0x80;
// The banks follow each other: decoders index them by `(offset - IGROUPR) / BIT_BANK_LEN`.
const _: () = assert!(
    ISENABLER == IGROUPR + BIT_BANK_LEN
        && ICENABLER == ISENABLER + BIT_BANK_LEN
        && ISPENDR == ICENABLER + BIT_BANK_LEN
        && ICPENDR == ISPENDR + BIT_BANK_LEN
        && ISACTIVER == ICPENDR + BIT_BANK_LEN
        && ICACTIVER == ISACTIVER + BIT_BANK_LEN
        && IPRIORITYR == ICACTIVER + BIT_BANK_LEN
);
/// One byte per INTID.
pub(super) const IPRIORITYR: usize = 0x0400;
pub(super) const IPRIORITYR_END: usize = 0x0800;
/// Two bits per INTID.
pub(super) const ICFGR: usize = 0x0c00;
pub(super) const ICFGR_END: usize = 0x0d00;
/// One 64-bit register per INTID (SPIs only; the first 32 are reserved).
pub(super) const IROUTER: usize = 0x6000;
pub(super) const IROUTER_END: usize = 0x8000;

// Redistributor, RD_base frame.
pub(super) const GICR_IIDR: usize = 0x0004;
pub(super) const GICR_TYPER: usize = 0x0008;
pub(super) const GICR_TYPER_HIGH: usize = 0x000c;
pub(super) const GICR_WAKER: usize = 0x0014;

/// GICD_CTLR (single security state, DS = 1): EnableGrp1 \[1\], ARE \[4\], DS \[6\].
/// EnableGrp0 \[0\] reads 0 and ignores writes: the guest's interrupts are all group 1
/// (the list registers are loaded as group 1), as under KVM.
pub(super) const CTLR_ENABLE_GRP1: u32 = 1 << 1;
pub(super) const CTLR_ARE: u32 = 1 << 4;
pub(super) const CTLR_DS: u32 = 1 << 6;

/// GICR_WAKER: ProcessorSleep \[1\] (RW), ChildrenAsleep \[2\] (RO, follows it).
pub(super) const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
pub(super) const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;

/// GICR_TYPER.Last \[4\]: the last redistributor of the region.
pub(super) const GICR_TYPER_LAST: u64 = 1 << 4;

/// GICD_TYPER fields other than ITLinesNumber \[4:0\] and CPUNumber \[7:5\]: IDbits
/// \[23:19\] = 9 (10-bit INTIDs) and RSS \[26\] (SGI target lists reach Aff0 up to 255
/// through the range selector, so vCPUs 16-63 can be targeted). LPIS, MBIS,
/// SecurityExtn, A3V and No1N (1-of-N routing is supported) are 0.
pub(super) const GICD_TYPER_IDBITS: u32 = 9 << 19;
pub(super) const GICD_TYPER_RSS: u32 = 1 << 26;

/// Implementer 0x43b (the JEP106 code Arm uses; KVM reports it too) with product 0x58
/// ('X'), so no Linux quirk keyed on a real part's IIDR matches.
pub(super) const IIDR_VALUE: u32 = 0x5800_043b;
/// ArchRev 3 (GICv3) in bits \[7:4\]; Linux refuses any other.
pub(super) const PIDR2_VALUE: u32 = 0x3b;

/// IROUTER: Aff3 \[39:32\], Interrupt_Routing_Mode \[31\], Aff2-Aff0 \[23:0\].
pub(super) const IROUTER_WRITABLE: u64 = 0x0000_00ff_80ff_ffff;
pub(super) const IROUTER_IRM: u64 = 1 << 31;
/// The affinity fields above Aff0 (Aff3, Aff2, Aff1), all 0 for every vCPU here.
pub(super) const IROUTER_UPPER_AFF: u64 = 0x0000_00ff_00ff_ff00;

/// ICFGR0: the SGIs are edge-triggered and cannot be configured.
pub(super) const ICFGR_SGI: u32 = 0xaaaa_aaaa;
