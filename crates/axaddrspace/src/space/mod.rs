//! [`AddrSpace`]: a guest-physical address space over one nested page table.

mod access;
mod area;
mod copy;
mod fault;
mod slice;
mod source;

use axvm_types::{
    AxVmError, AxVmResult, GuestPhysAddr, GuestPhysAddrRange, HostPhysAddr, MappingFlags,
    NestedPagingConfig,
};

pub use self::slice::GuestMemorySlice;
use self::{
    area::{Area, Areas, Backend},
    source::{AllocSource, LinearSource, free_block},
};
use crate::{
    arch::NativeFormat,
    format::{NestedFormat, PageSize, check_flags},
    hal::{AxMmHal, FRAME_SIZE, LinearMemory},
    table::{BlockSource, PageTable},
    tlb::{self, ArchTlb, NestedTlb},
    vmid::VmidRegistry,
};

/// A guest-physical address space `[base, base + size)`.
///
/// Mappings are *linear* (a host range chosen by the caller, identity or offset)
/// or *allocated* (frames the space allocates, zeroes, owns and frees; eagerly or
/// on first fault). 2 MiB and 1 GiB blocks are used wherever the alignment of
/// both addresses allows, and split when part of one is unmapped or protected.
///
/// `F` is the page-table format (the build target's own by default) and `T` the
/// TLB maintenance (the target's instructions by default).
///
/// A space holds its format's VMID in the host's [`VmidRegistry`] for as long as
/// it lives: no two live spaces of one host share a VMID.
pub struct AddrSpace<H: AxMmHal, F: NestedFormat = NativeFormat, T: NestedTlb = ArchTlb> {
    base: usize,
    end: usize,
    table: PageTable<F, H>,
    areas: Areas,
    tlb: T,
    /// Where the space's VMID is held; given back on drop.
    vmids: &'static VmidRegistry,
}

impl<H: AxMmHal, F: NestedFormat + Default, T: NestedTlb + Default> AddrSpace<H, F, T> {
    /// An empty space `[base, base + size)` with the default format and TLB.
    ///
    /// `base` and `size` must be 4 KiB aligned, `size` nonzero, and the space must
    /// end within the format's guest-physical width.
    pub fn new_empty(base: GuestPhysAddr, size: usize) -> AxVmResult<Self> {
        Self::with_format(F::default(), T::default(), base, size)
    }
}

impl<H: AxMmHal, F: NestedFormat, T: NestedTlb> AddrSpace<H, F, T> {
    /// An empty space `[base, base + size)` with the given format and TLB maintenance.
    ///
    /// Errors: as [`new_empty`](Self::new_empty); `AlreadyExists` when another
    /// live space of this host has the format's VMID; `NoMemory` without a frame
    /// for the root.
    pub fn with_format(format: F, tlb: T, base: GuestPhysAddr, size: usize) -> AxVmResult<Self> {
        let base = base.as_usize();
        let end = checked_end(base, size)?;
        if end > format.geometry().input_limit() {
            return Err(AxVmError::BadAddress);
        }
        let vmid = format.vmid();
        let vmids = H::vmids();
        if !vmids.claim(vmid) {
            return Err(AxVmError::AlreadyExists);
        }
        let table = PageTable::new(format, base).inspect_err(|_| vmids.release(vmid))?;
        Ok(Self {
            base,
            end,
            table,
            areas: Areas::default(),
            tlb,
            vmids,
        })
    }

    /// The first guest address of the space.
    pub fn base(&self) -> GuestPhysAddr {
        GuestPhysAddr::from(self.base)
    }

    /// The first guest address after the space.
    pub fn end(&self) -> GuestPhysAddr {
        GuestPhysAddr::from(self.end)
    }

    /// The size of the space in bytes.
    pub fn size(&self) -> usize {
        self.end.wrapping_sub(self.base)
    }

    /// Host physical address of the root table.
    pub fn page_table_root(&self) -> HostPhysAddr {
        self.table.root()
    }

    /// What the vCPU layer needs to install the tables (see the formats'
    /// `eptp`, `vttbr` / `vtcr` and `hgatp`).
    pub fn paging_config(&self) -> NestedPagingConfig {
        self.table.paging_config()
    }

    /// The page-table format.
    pub fn format(&self) -> &F {
        self.table.format()
    }

    /// The TLB maintenance.
    pub fn tlb(&self) -> &T {
        &self.tlb
    }

    /// Maps `[gpa, gpa + size)` to host memory `[hpa, hpa + size)`.
    ///
    /// The host vouches for the host range first ([`AxMmHal::linear_memory`]):
    /// [`LinearMemory::Ram`] is mapped and reachable by [`read`](Self::read),
    /// [`write`](Self::write) and
    /// [`translated_byte_buffer`](Self::translated_byte_buffer) (unless `flags`
    /// has `DEVICE`); [`LinearMemory::Device`] is mapped for the guest only, and
    /// those refuse it; [`LinearMemory::Refused`] is not mapped.
    ///
    /// Errors: zero or unaligned sizes and addresses, overflowing ranges and
    /// invalid flags are `InvalidInput`; a range outside the space or a host range
    /// beyond what entries hold is `BadAddress`; a host range the host refuses is
    /// `PermissionDenied`; an overlap with an existing mapping is `AlreadyExists`;
    /// running out of frames for tables is `NoMemory`. On error nothing is mapped.
    pub fn map_linear(
        &mut self,
        gpa: GuestPhysAddr,
        hpa: HostPhysAddr,
        size: usize,
        flags: MappingFlags,
    ) -> AxVmResult {
        let (start, end) = self.check_new(gpa, size, flags)?;
        let host_end = checked_end(hpa.as_usize(), size)?;
        let limit = self.table.output_limit();
        if limit != 0 && host_end as u64 > limit {
            return Err(AxVmError::BadAddress);
        }
        let ram = match H::linear_memory(hpa, size) {
            LinearMemory::Ram => true,
            LinearMemory::Device => false,
            LinearMemory::Refused => return Err(AxVmError::PermissionDenied),
        };
        let offset = hpa.as_usize().wrapping_sub(start);
        self.map_area(
            start,
            end,
            flags,
            Backend::Linear { offset, ram },
            &mut LinearSource { offset },
        )
    }

    /// Maps `[gpa, gpa + size)` to frames the space allocates and owns.
    ///
    /// With `populate`, all frames are allocated and zeroed now, in the largest
    /// blocks the alignment and the host allow; otherwise
    /// [`handle_page_fault`](Self::handle_page_fault) brings them in on first
    /// access. Errors as [`map_linear`](Self::map_linear); on error nothing is
    /// mapped and every frame taken is given back.
    pub fn map_alloc(
        &mut self,
        gpa: GuestPhysAddr,
        size: usize,
        flags: MappingFlags,
        populate: bool,
    ) -> AxVmResult {
        let (start, end) = self.check_new(gpa, size, flags)?;
        let backend = Backend::Alloc { lazy: !populate };
        if populate {
            let mut source = AllocSource::<H>::new(self.table.output_limit());
            self.map_area(start, end, flags, backend, &mut source)
        } else {
            self.areas.insert(
                start,
                Area {
                    end,
                    flags,
                    backend,
                },
            );
            Ok(())
        }
    }

    /// Unmaps every mapping inside `[gpa, gpa + size)`, giving allocated frames
    /// back; ranges with nothing mapped are skipped. Blocks straddling the edges
    /// are split first, the only step that can fail (`NoMemory`, with nothing
    /// unmapped).
    pub fn unmap(&mut self, gpa: GuestPhysAddr, size: usize) -> AxVmResult {
        let (start, end) = self.check_range(gpa, size)?;
        self.split_edges(start, end)?;
        for (clip_start, area) in self.areas.clipped(start, end) {
            self.release(clip_start, area.end, area.backend.owns_frames());
        }
        self.areas.remove(start, end);
        Ok(())
    }

    /// Gives every mapping inside `[gpa, gpa + size)` the permissions and
    /// attributes `flags`, splitting blocks at the edges; pages of lazy areas
    /// not yet faulted in get them when they are.
    pub fn protect(&mut self, gpa: GuestPhysAddr, size: usize, flags: MappingFlags) -> AxVmResult {
        let (start, end) = self.check_range(gpa, size)?;
        let flags = check_flags(flags)?;
        self.split_edges(start, end)?;
        self.table.protect(start, end, flags);
        self.invalidate(start, end);
        self.areas.set_flags(start, end, flags);
        Ok(())
    }

    /// The host physical address `gpa` is mapped to.
    #[inline]
    pub fn translate(&self, gpa: GuestPhysAddr) -> Option<HostPhysAddr> {
        self.table
            .translate_pa(gpa.as_usize())
            .map(|hpa| HostPhysAddr::from(hpa as usize))
    }

    /// The host physical address, flags and leaf size of the mapping of `gpa`.
    ///
    /// The flags are those the format encodes: `USER` never (nested tables do
    /// not distinguish guest privilege), `DEVICE` over `UNCACHED`.
    pub fn query(&self, gpa: GuestPhysAddr) -> Option<(HostPhysAddr, MappingFlags, PageSize)> {
        self.table
            .translate(gpa.as_usize())
            .map(|(hpa, flags, size)| (HostPhysAddr::from(hpa as usize), flags, size))
    }

    /// The flags of the mapping that covers `gpa`, whether its pages are present or
    /// still to be faulted in; `None` where nothing is mapped. Lets a hypervisor tell
    /// a forbidden access to memory from an access to nothing.
    pub fn mapping_flags(&self, gpa: GuestPhysAddr) -> Option<MappingFlags> {
        self.areas.find(gpa.as_usize()).map(|(_, area)| area.flags)
    }

    /// Checks a range for a new mapping: valid, inside the space, free; valid flags.
    fn check_new(
        &self,
        gpa: GuestPhysAddr,
        size: usize,
        flags: MappingFlags,
    ) -> AxVmResult<(usize, usize)> {
        let (start, end) = self.check_range(gpa, size)?;
        check_flags(flags)?;
        if self.areas.overlaps(start, end) {
            return Err(AxVmError::AlreadyExists);
        }
        Ok((start, end))
    }

    /// Checks that `[gpa, gpa + size)` is nonempty, page aligned and inside the space.
    fn check_range(&self, gpa: GuestPhysAddr, size: usize) -> AxVmResult<(usize, usize)> {
        let start = gpa.as_usize();
        let end = checked_end(start, size)?;
        if start < self.base || end > self.end {
            return Err(AxVmError::BadAddress);
        }
        Ok((start, end))
    }

    /// Maps an area and records it; on failure removes whatever was mapped.
    fn map_area(
        &mut self,
        start: usize,
        end: usize,
        flags: MappingFlags,
        backend: Backend,
        source: &mut impl BlockSource,
    ) -> AxVmResult {
        match self
            .table
            .map(start, end.wrapping_sub(start), flags, source)
        {
            Ok(()) => {
                self.publish(start, end);
                self.areas.insert(
                    start,
                    Area {
                        end,
                        flags,
                        backend,
                    },
                );
                Ok(())
            }
            Err(error) => {
                self.release(start, end, backend.owns_frames());
                Err(error)
            }
        }
    }

    /// Splits blocks so that `start` and `end` are leaf boundaries.
    fn split_edges(&mut self, start: usize, end: usize) -> AxVmResult {
        let config = self.table.paging_config();
        let tlb = &self.tlb;
        let mut invalidate = |gpa: usize, size: usize| {
            tlb::invalidate::<H, T>(tlb, &config, range(gpa, gpa.wrapping_add(size)));
        };
        self.table.split_at(start, &mut invalidate)?;
        self.table.split_at(end, &mut invalidate)
    }

    /// Removes the mappings of `[start, end)` (leaf boundaries): disable,
    /// invalidate, then free tables and, if `owned`, the frames.
    fn release(&mut self, start: usize, end: usize, owned: bool) {
        self.table.clear(start, end);
        self.invalidate(start, end);
        let mut give_back = |pa: u64, size: PageSize| free_block::<H>(pa, size);
        self.table
            .reap(start, end, if owned { Some(&mut give_back) } else { None });
    }

    /// Drops cached translations of `[start, end)` on every CPU that may hold them.
    fn invalidate(&self, start: usize, end: usize) {
        tlb::invalidate::<H, T>(&self.tlb, &self.table.paging_config(), range(start, end));
    }

    /// Makes new entries of `[start, end)` visible to this CPU's table walker.
    fn publish(&self, start: usize, end: usize) {
        tlb::publish::<H, T>(&self.tlb, &self.table.paging_config(), range(start, end));
    }
}

impl<H: AxMmHal, F: NestedFormat, T: NestedTlb> Drop for AddrSpace<H, F, T> {
    /// Gives back every frame the space owns (allocated memory, then the tables)
    /// and its VMID.
    fn drop(&mut self) {
        self.invalidate(self.base, self.end);
        let mut give_back = |pa: u64, size: PageSize| free_block::<H>(pa, size);
        for (start, area) in self.areas.iter() {
            let sink: crate::table::LeafSink<'_> = if area.backend.owns_frames() {
                Some(&mut give_back)
            } else {
                None
            };
            self.table.reap(start, area.end, sink);
        }
        self.vmids.release(self.table.format().vmid());
    }
}

impl<H: AxMmHal, F: NestedFormat + core::fmt::Debug, T: NestedTlb> core::fmt::Debug
    for AddrSpace<H, F, T>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AddrSpace")
            .field("base", &self.base())
            .field("end", &self.end())
            .field("root", &self.page_table_root())
            .field("format", self.format())
            .field("areas", &self.areas)
            .finish()
    }
}

/// `start + size` for a nonzero, page-aligned range that does not overflow.
fn checked_end(start: usize, size: usize) -> AxVmResult<usize> {
    if size == 0 || start % FRAME_SIZE != 0 || size % FRAME_SIZE != 0 {
        return Err(AxVmError::InvalidInput);
    }
    start.checked_add(size).ok_or(AxVmError::InvalidInput)
}

/// The guest range `[start, end)` (empty if `end` is below `start`).
fn range(start: usize, end: usize) -> GuestPhysAddrRange {
    GuestPhysAddrRange {
        start: GuestPhysAddr::from(start),
        end: GuestPhysAddr::from(end.max(start)),
    }
}

#[cfg(test)]
mod host_memory_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tlb_tests;
