//! The hand-over between the address-space layer and the vCPU backends.

use crate::HostPhysAddr;

/// Everything a vCPU backend needs to point the hardware at a nested page table.
///
/// `axaddrspace` produces it; the backends turn it into the architecture's register
/// value (EPTP on x86, VTTBR_EL2 + VTCR_EL2 on aarch64, hgatp on riscv64). Neither
/// layer needs to know the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NestedPagingConfig {
    /// Host physical address of the root table.
    pub root: HostPhysAddr,
    /// Number of translation levels (3 or 4 for the formats of this workspace).
    pub levels: u8,
    /// Width of the guest physical address space, in bits.
    pub gpa_bits: u8,
    /// The VM's identifier for tagged TLB entries (VMID on aarch64 and riscv64, VPID
    /// or unused on x86).
    pub vmid: u16,
}

impl NestedPagingConfig {
    /// The size in bytes of the guest physical address space, or `None` when it
    /// fills the whole `usize` range.
    #[must_use]
    pub fn gpa_space_size(&self) -> Option<usize> {
        1usize.checked_shl(u32::from(self.gpa_bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpa_space_size_follows_gpa_bits() {
        let mut config = NestedPagingConfig {
            root: HostPhysAddr::from(0x8000_0000),
            levels: 4,
            gpa_bits: 48,
            vmid: 1,
        };
        assert_eq!(config.gpa_space_size(), Some(1 << 48));
        config.gpa_bits = 41;
        assert_eq!(config.gpa_space_size(), Some(1 << 41));
        config.gpa_bits = 64;
        assert_eq!(config.gpa_space_size(), None);
    }
}
