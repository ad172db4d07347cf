//! Guest memory regions.

use crate::{MappingFlags, named::named_enum};

named_enum! {
    /// How a guest memory region is backed (the `map_type` column of `memory_regions`).
    pub enum VmMemMappingType {
        /// Fresh host frames, allocated (and zeroed) by the hypervisor. The default.
        #[default]
        MapAlloc = 0 => ["alloc"],
        /// The host physical range with the same addresses (GPA == HPA).
        MapIdentical = 1 => ["identical"],
        /// Reserved: the range is known to the VM but not mapped by the hypervisor.
        MapReserved = 2 => ["reserved"],
    }
}

/// One guest memory region: `[gpa, size, flags, map_type]` in a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VmMemConfig {
    /// Guest physical start address.
    pub gpa: usize,
    /// Size in bytes.
    pub size: usize,
    /// Raw [`MappingFlags`] bits.
    pub flags: usize,
    /// How the region is backed.
    pub map_type: VmMemMappingType,
}

impl VmMemConfig {
    /// The region's flags, or `None` when `flags` has bits no [`MappingFlags`] defines.
    #[must_use]
    pub const fn mapping_flags(&self) -> Option<MappingFlags> {
        MappingFlags::from_bits(self.flags)
    }

    /// The end address (exclusive), or `None` if `gpa + size` overflows.
    #[must_use]
    pub const fn end(&self) -> Option<usize> {
        self.gpa.checked_add(self.size)
    }

    /// Whether `addr` lies inside the region.
    #[must_use]
    pub const fn contains(&self, addr: usize) -> bool {
        match self.end() {
            Some(end) => self.gpa <= addr && addr < end,
            None => self.gpa <= addr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_type_codes_round_trip_and_reject_unknown() {
        for &ty in VmMemMappingType::ALL {
            assert_eq!(VmMemMappingType::try_from(ty.code()), Ok(ty));
        }
        assert_eq!(VmMemMappingType::from_usize(3), None);
        assert_eq!(usize::from(VmMemMappingType::MapReserved), 2);
    }

    #[test]
    fn region_arithmetic_never_overflows() {
        let region = VmMemConfig {
            gpa: 0x8000_0000,
            size: 0x1000,
            flags: 0x7,
            map_type: VmMemMappingType::MapIdentical,
        };
        assert_eq!(region.end(), Some(0x8000_1000));
        assert!(region.contains(0x8000_0fff));
        assert!(!region.contains(0x8000_1000));
        assert_eq!(
            region.mapping_flags(),
            Some(MappingFlags::READ | MappingFlags::WRITE | MappingFlags::EXECUTE)
        );
        let top = VmMemConfig {
            gpa: usize::MAX - 1,
            size: 4,
            ..region
        };
        assert_eq!(top.end(), None);
        assert!(top.contains(usize::MAX));
    }
}
