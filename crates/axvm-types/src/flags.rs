//! Permission and attribute flags of a guest memory mapping.

use bitflags::bitflags;

bitflags! {
    /// Permissions and attributes of a guest-physical mapping.
    ///
    /// The bit values are those of the `flags` column of a config's
    /// `memory_regions` (`0x7` = read + write + execute).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct MappingFlags: usize {
        /// The guest may read.
        const READ = 1 << 0;
        /// The guest may write.
        const WRITE = 1 << 1;
        /// The guest may execute.
        const EXECUTE = 1 << 2;
        /// Accessible from guest user mode (kept for config compatibility; nested
        /// page tables do not distinguish guest privilege levels).
        const USER = 1 << 3;
        /// Device memory: uncached, strongly ordered, never speculated.
        const DEVICE = 1 << 4;
        /// Normal but uncached memory.
        const UNCACHED = 1 << 5;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_flag_values_match_the_bits() {
        let rwx = MappingFlags::READ | MappingFlags::WRITE | MappingFlags::EXECUTE;
        assert_eq!(MappingFlags::from_bits(0x7), Some(rwx));
        assert_eq!(MappingFlags::from_bits(0xf), Some(rwx | MappingFlags::USER));
        assert_eq!(MappingFlags::from_bits(0x40), None);
        assert_eq!(MappingFlags::all().bits(), 0x3f);
    }
}
