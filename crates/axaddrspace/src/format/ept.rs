//! Intel EPT (SDM Vol. 3C, 29.3): 4 levels, 48-bit guest-physical addresses.

use axvm_types::{MappingFlags, NestedPagingConfig};

use super::{Geometry, NestedFormat, PageSize};

const READ: u64 = 1 << 0;
const WRITE: u64 = 1 << 1;
const EXECUTE: u64 = 1 << 2;
const PRESENT: u64 = READ | WRITE | EXECUTE;
const MEMTYPE_SHIFT: u32 = 3;
const MEMTYPE_MASK: u64 = 0b111 << MEMTYPE_SHIFT;
const MEMTYPE_UC: u64 = 0;
const MEMTYPE_WB: u64 = 6;
/// Ignore the guest's PAT: device memory stays uncached whatever the guest says.
const IGNORE_PAT: u64 = 1 << 6;
/// A leaf above height 0 (2 MiB or 1 GiB page).
const LARGE_PAGE: u64 = 1 << 7;
/// An ignored bit, marking disabled entries so they stay nonzero.
const DISABLED: u64 = 1 << 11;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// The x86 EPT format: 4 levels, 48-bit guest-physical, 52-bit host-physical.
///
/// Normal memory is write-back with the guest's PAT honoured; `DEVICE` is
/// uncacheable with the guest's PAT ignored; `UNCACHED` is uncacheable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Ept {
    vpid: u16,
}

impl Ept {
    /// The EPT format with VPID 0 in the paging configuration.
    #[must_use]
    pub const fn new() -> Self {
        Self { vpid: 0 }
    }

    /// The EPT format handing `vpid` to the vCPU layer as the TLB tag.
    #[must_use]
    pub const fn with_vpid(vpid: u16) -> Self {
        Self { vpid }
    }

    /// The EPTP of a configuration: write-back paging structures, walk length 4.
    #[must_use]
    pub fn eptp(config: &NestedPagingConfig) -> u64 {
        let walk_length = u64::from(config.levels.saturating_sub(1)) << 3;
        (config.root.as_usize() as u64 & ADDR_MASK) | walk_length | MEMTYPE_WB
    }
}

impl NestedFormat for Ept {
    fn geometry(&self) -> Geometry {
        Geometry::fixed(4, 48)
    }

    fn output_bits(&self) -> u8 {
        52
    }

    fn vmid(&self) -> u16 {
        self.vpid
    }

    #[inline]
    fn table_entry(&self, pa: u64) -> u64 {
        (pa & ADDR_MASK) | PRESENT
    }

    #[inline]
    fn leaf_attrs(&self, flags: MappingFlags, size: PageSize) -> u64 {
        let mut attrs = READ;
        if flags.contains(MappingFlags::WRITE) {
            attrs |= WRITE;
        }
        if flags.contains(MappingFlags::EXECUTE) {
            attrs |= EXECUTE;
        }
        attrs |= if flags.contains(MappingFlags::DEVICE) {
            (MEMTYPE_UC << MEMTYPE_SHIFT) | IGNORE_PAT
        } else if flags.contains(MappingFlags::UNCACHED) {
            MEMTYPE_UC << MEMTYPE_SHIFT
        } else {
            MEMTYPE_WB << MEMTYPE_SHIFT
        };
        if size != PageSize::Size4K {
            attrs |= LARGE_PAGE;
        }
        attrs
    }

    #[inline]
    fn encode_pa(&self, pa: u64) -> u64 {
        pa & ADDR_MASK
    }

    #[inline]
    fn decode_pa(&self, entry: u64) -> u64 {
        entry & ADDR_MASK
    }

    #[inline]
    fn is_present(&self, entry: u64) -> bool {
        entry & PRESENT != 0
    }

    #[inline]
    fn is_table(&self, entry: u64, height: usize) -> bool {
        height > 0 && entry & LARGE_PAGE == 0
    }

    fn leaf_flags(&self, entry: u64) -> MappingFlags {
        let mut flags = MappingFlags::empty();
        flags.set(MappingFlags::READ, entry & READ != 0);
        flags.set(MappingFlags::WRITE, entry & WRITE != 0);
        flags.set(MappingFlags::EXECUTE, entry & EXECUTE != 0);
        if entry & MEMTYPE_MASK == MEMTYPE_UC << MEMTYPE_SHIFT {
            flags |= if entry & IGNORE_PAT != 0 {
                MappingFlags::DEVICE
            } else {
                MappingFlags::UNCACHED
            };
        }
        flags
    }

    #[inline]
    fn disable(&self, entry: u64) -> u64 {
        (entry & !PRESENT) | DISABLED
    }
}

#[cfg(test)]
mod tests {
    use axvm_types::HostPhysAddr;

    use super::*;

    const RWX: MappingFlags = MappingFlags::READ
        .union(MappingFlags::WRITE)
        .union(MappingFlags::EXECUTE);
    const RW: MappingFlags = MappingFlags::READ.union(MappingFlags::WRITE);

    fn leaf(flags: MappingFlags, size: PageSize, pa: u64) -> u64 {
        Ept::new().leaf_attrs(flags, size) | Ept::new().encode_pa(pa)
    }

    #[test]
    fn entries_match_the_sdm_layout() {
        // R W X, memory type 6 (WB) in bits 5:3.
        assert_eq!(leaf(RWX, PageSize::Size4K, 0x1234_5000), 0x1234_5037);
        // R W, WB, bit 7 = 2 MiB page.
        assert_eq!(leaf(RW, PageSize::Size2M, 0x4020_0000), 0x4020_00b3);
        // R, WB, 1 GiB page.
        assert_eq!(
            leaf(MappingFlags::READ, PageSize::Size1G, 0x4_4000_0000),
            0x4_4000_00b1
        );
        // Device: memory type 0 (UC) with bit 6 (ignore PAT).
        assert_eq!(
            leaf(RW | MappingFlags::DEVICE, PageSize::Size4K, 0xfee0_0000),
            0xfee0_0043
        );
        assert_eq!(
            leaf(RW | MappingFlags::UNCACHED, PageSize::Size4K, 0xfee0_0000),
            0xfee0_0003
        );
        // Tables grant everything; the leaves decide.
        assert_eq!(Ept::new().table_entry(0x8000_3000), 0x8000_3007);
        // The highest host address bit an entry holds is 51.
        assert_eq!(
            Ept::new().encode_pa(0x000f_ffff_ffff_f000),
            0x000f_ffff_ffff_f000
        );
    }

    #[test]
    fn eptp_is_write_back_with_walk_length_four() {
        let config = Ept::new().paging_config(HostPhysAddr::from(0x8000_1000));
        assert_eq!((config.levels, config.gpa_bits), (4, 48));
        assert_eq!(Geometry::new(4, 48), Ok(Ept::new().geometry()));
        assert_eq!(Ept::eptp(&config), 0x8000_101e);
    }

    #[test]
    fn flags_round_trip_and_disabled_entries_keep_address_and_kind() {
        let ept = Ept::with_vpid(7);
        assert_eq!(ept.vmid(), 7);
        for flags in [
            RWX,
            RW,
            MappingFlags::READ,
            RW | MappingFlags::DEVICE,
            RW | MappingFlags::UNCACHED,
        ] {
            let entry = leaf(flags, PageSize::Size2M, 0x20_0000);
            assert_eq!(ept.leaf_flags(entry), flags);
            let disabled = ept.disable(entry);
            assert!(!ept.is_present(disabled));
            assert!(!ept.is_table(disabled, 1));
            assert_eq!(ept.decode_pa(disabled), 0x20_0000);
        }
        let table = ept.disable(ept.table_entry(0));
        assert!(table != 0 && ept.is_table(table, 2) && !ept.is_present(table));
        assert!(!ept.is_table(leaf(RWX, PageSize::Size4K, 0), 0));
    }
}
