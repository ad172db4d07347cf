//! Nested page faults: bringing in the memory of lazy areas.

use axvm_types::{AxVmError, AxVmResult, GuestPhysAddr, MappingFlags};

use super::{
    AddrSpace,
    area::Backend,
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

/// The offset bits of a 4 KiB page.
const PAGE_MASK: usize = 0xfff;

impl<H: AxMmHal, F: NestedFormat, T: NestedTlb> AddrSpace<H, F, T> {
    /// Handles a nested page fault at `gpa` for an access of `access_flags`.
    ///
    /// In a lazy area the access is allowed by, maps the largest block (1 GiB,
    /// 2 MiB, 4 KiB) that is aligned around `gpa`, inside the area, unmapped, and
    /// that the host can allocate, zeroed. Returns `true` when the guest can
    /// retry the access (also when another vCPU mapped it first), `false`
    /// otherwise; [`try_handle_page_fault`](Self::try_handle_page_fault) tells the
    /// guest's faults from the host's.
    pub fn handle_page_fault(&mut self, gpa: GuestPhysAddr, access_flags: MappingFlags) -> bool {
        matches!(self.try_handle_page_fault(gpa, access_flags), Ok(true))
    }

    /// As [`handle_page_fault`](Self::handle_page_fault), telling who is at fault
    /// when the guest cannot retry.
    ///
    /// `Ok(true)`: the guest can retry. `Ok(false)`: the fault is the guest's (no
    /// area, or an access the area forbids). `Err(NoMemory)`: the host has no
    /// frame for the page or its tables; `Err(BadAddress)`: the host gave a
    /// frame beyond what an entry holds. Both are the host's errors: the guest
    /// did nothing wrong and may retry once the host has memory.
    ///
    /// Where the page is mapped already, this CPU's walker is told again (a CPU
    /// may have cached the entry as invalid before another CPU mapped it).
    pub fn try_handle_page_fault(
        &mut self,
        gpa: GuestPhysAddr,
        access_flags: MappingFlags,
    ) -> AxVmResult<bool> {
        let at = gpa.as_usize();
        let Some((area_start, area)) = self.areas.find(at) else {
            return Ok(false);
        };
        if !area.flags.contains(access_flags & ACCESS) {
            return Ok(false);
        }
        let vacant = match self.table.lookup(at) {
            Lookup::Mapped(..) => {
                let page = at & !PAGE_MASK;
                self.publish(page, page.saturating_add(PAGE_MASK).saturating_add(1));
                return Ok(true);
            }
            Lookup::Vacant(height) => height,
            Lookup::Outside => return Ok(false),
        };
        if area.backend != (Backend::Alloc { lazy: true }) {
            return Ok(false);
        }
        for size in PageSize::LARGEST_FIRST {
            let start = at & !size.bytes().wrapping_sub(1);
            let Some(end) = start.checked_add(size.bytes()) else {
                continue;
            };
            if size.height() > vacant || start < area_start || end > area.end {
                continue;
            }
            if let Some(pa) = alloc_block::<H>(size, self.table.output_limit())
                .inspect_err(|error| log::warn!("nested page fault at {gpa}: {error}"))?
            {
                return self
                    .map_block(start, end, pa, size, area.flags)
                    .map(|()| true);
            }
        }
        log::warn!("nested page fault at {gpa}: no host memory");
        Err(AxVmError::NoMemory)
    }

    /// Maps the zeroed block `pa` at `[start, end)`; on failure frees it.
    fn map_block(
        &mut self,
        start: usize,
        end: usize,
        pa: u64,
        size: PageSize,
        flags: MappingFlags,
    ) -> AxVmResult {
        let mut source = ReadyBlock {
            block: Some(pa),
            size,
        };
        match self
            .table
            .map(start, end.wrapping_sub(start), flags, &mut source)
        {
            Ok(()) => {
                self.publish(start, end);
                Ok(())
            }
            Err(error) => {
                self.release(start, end, true);
                if source.block.is_some() {
                    free_block::<H>(pa, size);
                }
                log::warn!("nested page fault at {:#x}: {error}", start);
                Err(error)
            }
        }
    }
}
