//! Nested page faults: bringing in the memory of lazy areas.

use axvm_types::{GuestPhysAddr, MappingFlags};

use super::{
    AddrSpace,
    area::Backend,
    range,
    source::{ReadyBlock, alloc_block, free_block},
};
use crate::{
    format::{NestedFormat, PageSize},
    hal::AxMmHal,
    table::Lookup,
    tlb::NestedTlb,
};

/// The access kinds a fault reports.
const ACCESS: MappingFlags = MappingFlags::READ
    .union(MappingFlags::WRITE)
    .union(MappingFlags::EXECUTE);

impl<H: AxMmHal, F: NestedFormat, T: NestedTlb> AddrSpace<H, F, T> {
    /// Handles a nested page fault at `gpa` for an access of `access_flags`.
    ///
    /// In a lazy area the access is allowed by, maps the largest block (1 GiB,
    /// 2 MiB, 4 KiB) that is aligned around `gpa`, inside the area, unmapped, and
    /// that the host can allocate, zeroed. Returns `true` when the guest can
    /// retry the access (also when another vCPU mapped it first), `false` when the
    /// fault is the guest's: no area, an access the area forbids, or no memory.
    pub fn handle_page_fault(&mut self, gpa: GuestPhysAddr, access_flags: MappingFlags) -> bool {
        let at = gpa.as_usize();
        let Some((area_start, area)) = self.areas.find(at) else {
            return false;
        };
        if !area.flags.contains(access_flags & ACCESS) {
            return false;
        }
        let vacant = match self.table.lookup(at) {
            Lookup::Mapped(..) => return true,
            Lookup::Vacant(height) => height,
            Lookup::Outside => return false,
        };
        if area.backend != (Backend::Alloc { lazy: true }) {
            return false;
        }
        for size in PageSize::LARGEST_FIRST {
            let start = at & !size.bytes().wrapping_sub(1);
            let Some(end) = start.checked_add(size.bytes()) else {
                continue;
            };
            if size.height() > vacant || start < area_start || end > area.end {
                continue;
            }
            match alloc_block::<H>(size, self.table.output_limit()) {
                Ok(Some(pa)) => return self.map_block(start, end, pa, size, area.flags),
                Ok(None) => {}
                Err(error) => {
                    log::warn!("nested page fault at {gpa}: {error}");
                    return false;
                }
            }
        }
        false
    }

    /// Maps the zeroed block `pa` at `[start, end)`; on failure frees it.
    fn map_block(
        &mut self,
        start: usize,
        end: usize,
        pa: u64,
        size: PageSize,
        flags: MappingFlags,
    ) -> bool {
        let mut source = ReadyBlock {
            block: Some(pa),
            size,
        };
        match self
            .table
            .map(start, end.wrapping_sub(start), flags, &mut source)
        {
            Ok(()) => {
                self.tlb
                    .publish(&self.table.paging_config(), range(start, end));
                true
            }
            Err(error) => {
                self.release(start, end, true);
                if source.block.is_some() {
                    free_block::<H>(pa, size);
                }
                log::warn!("nested page fault at {:#x}: {error}", start);
                false
            }
        }
    }
}
