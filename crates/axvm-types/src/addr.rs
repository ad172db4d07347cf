//! Host and guest address types.
//!
//! Host addresses are `ax-memory-addr`'s own types, so a hypervisor that already uses
//! them passes its values straight through. Guest addresses are distinct newtypes: the
//! compiler refuses to mix a guest-physical address with a host-physical one.

use ax_memory_addr::{AddrRange, def_usize_addr, def_usize_addr_formatter};

pub use ax_memory_addr::{MemoryAddr, PhysAddr as HostPhysAddr, VirtAddr as HostVirtAddr};

def_usize_addr! {
    /// A guest virtual address: what the guest's own page tables translate.
    pub type GuestVirtAddr;

    /// A guest physical address (GPA, IPA on aarch64): what the nested page tables translate.
    pub type GuestPhysAddr;
}

def_usize_addr_formatter! {
    GuestVirtAddr = "GVA:{}";
    GuestPhysAddr = "GPA:{}";
}

impl core::fmt::Display for GuestPhysAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::LowerHex::fmt(self, f)
    }
}

impl core::fmt::Display for GuestVirtAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::LowerHex::fmt(self, f)
    }
}

/// A half-open range `[start, end)` of guest physical addresses.
pub type GuestPhysAddrRange = AddrRange<GuestPhysAddr>;

#[cfg(test)]
mod tests {
    extern crate alloc;
    use alloc::format;

    use super::*;

    #[test]
    fn guest_addresses_display_with_their_prefix() {
        assert_eq!(
            format!("{}", GuestPhysAddr::from(0x8020_0000)),
            "GPA:0x80200000"
        );
        assert_eq!(format!("{:?}", GuestPhysAddr::from(0x1abc)), "GPA:0x1abc");
        assert_eq!(format!("{:X}", GuestPhysAddr::from(0x1abc)), "GPA:0x1ABC");
        assert_eq!(format!("{}", GuestVirtAddr::from(0x10)), "GVA:0x10");
        assert_eq!(format!("{:?}", HostPhysAddr::from(0x10)), "PA:0x10");
    }

    #[test]
    fn guest_addresses_convert_to_and_from_usize() {
        let gpa = GuestPhysAddr::from_usize(0x4000_0000);
        assert_eq!(usize::from(gpa), 0x4000_0000);
        assert_eq!(GuestPhysAddr::from(0x4000_0000), gpa);
        assert_eq!(gpa.checked_add(usize::MAX), None);
        assert!(gpa.is_aligned_4k());
    }

    #[test]
    fn ranges_are_half_open() {
        let range = GuestPhysAddrRange::from_start_size(0x1000.into(), 0x1000);
        assert!(range.contains(0x1fff.into()));
        assert!(!range.contains(0x2000.into()));
        assert_eq!(range.size(), 0x1000);
        assert_eq!(
            GuestPhysAddrRange::try_from_start_size(usize::MAX.into(), 2),
            None
        );
    }
}
