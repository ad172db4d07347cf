//! Register layouts of the GICv3 virtualization interface the backend uses:
//! `ICH_VTR_EL2` (what the CPU implements), `ICH_HCR_EL2` (the controls it sets) and
//! the trapped `ICC_*` registers a guest's writes reach the hypervisor through.
//! Field positions: the GICv3/v4 architecture specification (IHI 0069), chapter 12.

use axvm_types::SysRegAddr;

use crate::arch::aarch64::exit::sysreg_addr;

/// The most list registers the architecture defines (`ICH_LR0_EL2`–`ICH_LR15_EL2`).
pub const MAX_LIST_REGS: usize = 16;

/// `ICH_HCR_EL2` bits.
pub mod ich_hcr {
    /// En: the virtual CPU interface signals virtual interrupts and maintenance
    /// interrupts.
    pub const EN: u64 = 1 << 0;
    /// UIE: a maintenance interrupt while at most one list register holds a valid
    /// interrupt (underflow).
    pub const UIE: u64 = 1 << 1;
    /// LRENPIE: a maintenance interrupt while `EOIcount` is not zero (the guest ended
    /// an interrupt that is in no list register).
    pub const LRENPIE: u64 = 1 << 2;
    /// NPIE: a maintenance interrupt while no list register holds a pending
    /// interrupt.
    pub const NPIE: u64 = 1 << 3;
    /// Every bit that requests a maintenance interrupt (UIE, LRENPIE, NPIE and the
    /// four group enable/disable requests, bits 4–7).
    pub const MAINTENANCE: u64 = UIE | LRENPIE | NPIE | 0xf0;
}

/// A raw `ICH_VTR_EL2` value: the CPU's implementation of the virtual CPU interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IchVtr(pub u64);

impl IchVtr {
    /// The number of list registers (`ListRegs` + 1, bits \[4:0\]), at most
    /// [`MAX_LIST_REGS`].
    #[must_use]
    pub const fn list_regs(self) -> usize {
        let count = ((self.0 & 0x1f) as usize).wrapping_add(1);
        if count > MAX_LIST_REGS {
            MAX_LIST_REGS
        } else {
            count
        }
    }

    /// Virtual priority bits implemented (`PRIbits` + 1, bits \[31:29\]).
    #[must_use]
    pub const fn priority_bits(self) -> u32 {
        (((self.0 >> 29) & 0x7) as u32).wrapping_add(1)
    }

    /// Virtual preemption bits implemented (`PREbits` + 1, bits \[28:26\]).
    #[must_use]
    pub const fn preemption_bits(self) -> u32 {
        (((self.0 >> 26) & 0x7) as u32).wrapping_add(1)
    }

    /// Virtual INTID bits (`IDbits`, bits \[25:23\]: 0 = 16, 1 = 24).
    #[must_use]
    pub const fn id_bits(self) -> u32 {
        if (self.0 >> 23) & 0x7 == 0 { 16 } else { 24 }
    }

    /// The active-priority registers per group (`ICH_AP0R<n>_EL2`, `ICH_AP1R<n>_EL2`)
    /// the CPU implements: one for 5 preemption bits, two for 6, four for 7.
    #[must_use]
    pub const fn active_priority_regs(self) -> usize {
        match self.preemption_bits() {
            0..=5 => 1,
            6 => 2,
            _ => 4,
        }
    }

    /// The bits of an 8-bit priority a list register keeps (the top
    /// [`priority_bits`](Self::priority_bits)); the others are RES0.
    #[must_use]
    pub const fn priority_mask(self) -> u8 {
        // 8 bits keep all of them (a shift by 8 would overflow).
        match 0xffu8.checked_shr(self.priority_bits()) {
            Some(unused) => !unused,
            None => 0xff,
        }
    }
}

/// `ICC_SGI1R_EL1` (`S3_0_C12_C11_5`): a guest's Group 1 SGI. Its writes trap to
/// EL2 while `HCR_EL2.IMO` is set and come out as `SysRegWrite` with this address.
pub const ICC_SGI1R_EL1: SysRegAddr = sysreg_addr(3, 0, 12, 11, 5);
/// `ICC_ASGI1R_EL1` (`S3_0_C12_C11_6`): a guest's Group 1 SGI for the other Security
/// state; trapped like [`ICC_SGI1R_EL1`].
pub const ICC_ASGI1R_EL1: SysRegAddr = sysreg_addr(3, 0, 12, 11, 6);
/// `ICC_SGI0R_EL1` (`S3_0_C12_C11_7`): a guest's Group 0 SGI; trapped like
/// [`ICC_SGI1R_EL1`].
pub const ICC_SGI0R_EL1: SysRegAddr = sysreg_addr(3, 0, 12, 11, 7);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cortex_a72_vtr_decodes_as_qemu_reports_it() {
        // QEMU's cortex-a72: 4 LRs, 5 priority and preemption bits, 24-bit IDs.
        let vtr = IchVtr(0x90b8_0003);
        assert_eq!(vtr.list_regs(), 4);
        assert_eq!(vtr.priority_bits(), 5);
        assert_eq!(vtr.preemption_bits(), 5);
        assert_eq!(vtr.id_bits(), 24);
        assert_eq!(vtr.active_priority_regs(), 1);
        assert_eq!(vtr.priority_mask(), 0xf8);
    }

    #[test]
    fn wide_implementations_are_capped_and_use_more_active_priority_registers() {
        let vtr = IchVtr(0xfc00_001f);
        assert_eq!(vtr.list_regs(), 16);
        assert_eq!(vtr.priority_bits(), 8);
        assert_eq!(vtr.preemption_bits(), 8);
        assert_eq!(vtr.id_bits(), 16);
        assert_eq!(vtr.active_priority_regs(), 4);
        assert_eq!(vtr.priority_mask(), 0xff);
        assert_eq!(IchVtr(0b101 << 26).active_priority_regs(), 2);
    }

    #[test]
    fn the_sgi_registers_have_their_trapped_iss_encoding() {
        // Op0 3 (bits 21:20), Op2 5 (19:17), Op1 0, CRn 12 (13:10), CRm 11 (4:1).
        assert_eq!(ICC_SGI1R_EL1.addr(), 0x003a_3016);
        assert_eq!(ICC_ASGI1R_EL1.addr(), 0x003c_3016);
        assert_eq!(ICC_SGI0R_EL1.addr(), 0x003e_3016);
    }
}
