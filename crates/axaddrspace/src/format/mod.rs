//! Nested page-table formats: the entry encodings and table geometry of each
//! architecture, behind one small trait that the shared table engine is generic over.

mod ept;
mod geometry;
mod stage2;
mod sv4x;

pub use ept::Ept;
pub use geometry::{Geometry, PageSize};
pub(crate) use geometry::{TABLE_ENTRIES, shift, span};
pub use stage2::Stage2;
pub use sv4x::{Sv4x, Sv4xMode};

use axvm_types::{AxVmError, AxVmResult, HostPhysAddr, MappingFlags, NestedPagingConfig};

/// One nested page-table format: how entries are encoded and how deep the tree is.
///
/// Heights count from the leaves: height 0 holds 4 KiB pages, height 1 2 MiB
/// blocks, height 2 1 GiB blocks. The engine never looks at entry bits itself; it
/// only calls these methods, so the three architectures share one walker.
///
/// The trait is sealed: the engine follows table entries to memory, so it trusts
/// formats to decode exactly what they encode.
///
/// A *disabled* entry is one the hardware ignores but that still tells software
/// its address and whether it points at a table: unmapping first disables
/// entries, flushes the TLB, and only then frees what they pointed at.
pub trait NestedFormat: sealed::Sealed + Clone + Send + Sync + 'static {
    /// Levels and guest-physical input width of the tables.
    fn geometry(&self) -> Geometry;
    /// Width in bits of the host physical addresses an entry can hold.
    fn output_bits(&self) -> u8;
    /// The VM identifier that tags this space's TLB entries.
    fn vmid(&self) -> u16;
    /// A descriptor pointing at the next-level table at `pa` (4 KiB aligned).
    fn table_entry(&self, pa: u64) -> u64;
    /// The attribute bits of a leaf of `size` mapping with `flags`; the engine ORs
    /// in [`encode_pa`](Self::encode_pa) of each page, so a run of leaves costs one
    /// add and one store per entry.
    fn leaf_attrs(&self, flags: MappingFlags, size: PageSize) -> u64;
    /// The address field of an entry for the (suitably aligned) host address `pa`.
    fn encode_pa(&self, pa: u64) -> u64;
    /// The host address an entry (present or disabled) points at.
    fn decode_pa(&self, entry: u64) -> u64;
    /// Whether the hardware uses the entry.
    fn is_present(&self, entry: u64) -> bool;
    /// Whether a nonzero entry at `height` (present or disabled) points at a table.
    fn is_table(&self, entry: u64, height: usize) -> bool;
    /// The mapping flags a present leaf grants.
    fn leaf_flags(&self, entry: u64) -> MappingFlags;
    /// The entry made invisible to the hardware, still nonzero, with its address
    /// and kind kept for software.
    fn disable(&self, entry: u64) -> u64;

    /// The hand-over to the vCPU layer for a table rooted at `root`.
    fn paging_config(&self, root: HostPhysAddr) -> NestedPagingConfig {
        let geometry = self.geometry();
        NestedPagingConfig {
            root,
            levels: geometry.levels(),
            gpa_bits: geometry.gpa_bits(),
            vmid: self.vmid(),
        }
    }
}

mod sealed {
    /// Only this crate's formats implement [`NestedFormat`](super::NestedFormat).
    pub trait Sealed {}

    impl Sealed for super::Ept {}
    impl Sealed for super::Stage2 {}
    impl Sealed for super::Sv4x {}
}

/// Checks that `flags` can be encoded by every format: readable, and writable only
/// if readable (write-only is a misconfiguration in EPT and reserved in Sv39x4).
pub(crate) fn check_flags(flags: MappingFlags) -> AxVmResult<MappingFlags> {
    if flags.contains(MappingFlags::READ) {
        Ok(flags)
    } else {
        Err(AxVmError::InvalidInput)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_must_be_readable() {
        assert_eq!(
            check_flags(MappingFlags::WRITE),
            Err(AxVmError::InvalidInput)
        );
        assert_eq!(
            check_flags(MappingFlags::EXECUTE),
            Err(AxVmError::InvalidInput)
        );
        assert_eq!(
            check_flags(MappingFlags::empty()),
            Err(AxVmError::InvalidInput)
        );
        assert_eq!(check_flags(MappingFlags::READ), Ok(MappingFlags::READ));
    }
}
