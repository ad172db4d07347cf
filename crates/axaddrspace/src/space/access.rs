//! Hypervisor access to guest memory through the space's mappings.

use alloc::vec::Vec;

use axvm_types::{AxVmError, AxVmResult, GuestPhysAddr, HostPhysAddr, MappingFlags};

use super::{
    AddrSpace,
    area::{Area, Backend},
    copy::{from_guest, to_guest},
    slice::GuestMemorySlice,
};
use crate::{format::NestedFormat, hal::AxMmHal, tlb::NestedTlb};

impl<H: AxMmHal, F: NestedFormat, T: NestedTlb> AddrSpace<H, F, T> {
    /// The host address of `gpa` and how many bytes from there on are host
    /// contiguous and in the same mapping: to the end of the area for linear
    /// mappings, to the end of the page or block for allocated ones.
    pub fn translate_and_get_limit(&self, gpa: GuestPhysAddr) -> Option<(HostPhysAddr, usize)> {
        self.piece_at(gpa.as_usize())
            .map(|(hpa, limit, _)| (hpa, limit))
    }

    /// What `translate_and_get_limit` answers, with the area of `at`.
    fn piece_at(&self, at: usize) -> Option<(HostPhysAddr, usize, Area)> {
        let (hpa, _, size) = self.table.translate(at)?;
        let (_, area) = self.areas.find(at)?;
        let limit = match area.backend {
            Backend::Linear { .. } => area.end,
            Backend::Alloc { .. } => (at | size.bytes().wrapping_sub(1))
                .wrapping_add(1)
                .min(area.end),
        };
        Some((
            HostPhysAddr::from(hpa as usize),
            limit.wrapping_sub(at),
            area,
        ))
    }

    /// The host memory behind `[gpa, gpa + len)`, as one slice per host-contiguous piece.
    ///
    /// Every byte must be mapped (lazy pages faulted in) guest RAM the
    /// hypervisor may access: allocated, or linear host RAM the host vouched for
    /// ([`LinearMemory::Ram`](crate::LinearMemory::Ram)), and not `DEVICE`
    /// (`BadAddress` otherwise). Running vCPUs may write the memory, so the
    /// slices copy with atomic elements and hand out no references; they borrow
    /// the space, so nothing is unmapped while they live.
    pub fn translated_byte_buffer(
        &self,
        gpa: GuestPhysAddr,
        len: usize,
    ) -> AxVmResult<Vec<GuestMemorySlice<'_>>> {
        let mut pieces = Vec::new();
        self.for_each_piece(gpa, len, |hpa, piece| {
            let host = H::phys_to_virt(hpa).as_mut_ptr();
            // SAFETY: the piece is mapped guest RAM the host vouched for (allocated
            // frames or `LinearMemory::Ram`), reachable at `phys_to_virt` while
            // mapped; the slice borrows `self`, so nothing unmaps it meanwhile; the
            // crate accesses guest memory only atomically.
            pieces.push(unsafe { GuestMemorySlice::new(hpa, host, piece) });
        })?;
        Ok(pieces)
    }

    /// Copies guest memory at `gpa` into `buf`, across pages and mappings, with
    /// atomic elements (running vCPUs may write it meanwhile).
    ///
    /// Errors as [`translated_byte_buffer`](Self::translated_byte_buffer); on
    /// error `buf` is untouched.
    pub fn read(&self, gpa: GuestPhysAddr, buf: &mut [u8]) -> AxVmResult {
        let mut rest = buf;
        self.for_each_piece(gpa, rest.len(), |hpa, piece| {
            let taken = core::mem::take(&mut rest);
            let (part, tail) = taken.split_at_mut(piece.min(taken.len()));
            rest = tail;
            // SAFETY: the source is `part.len()` bytes of mapped guest RAM the host
            // vouched for, reachable at `phys_to_virt`, accessed only atomically
            // by this crate (see `translated_byte_buffer`).
            unsafe { from_guest(H::phys_to_virt(hpa).as_ptr(), part) };
        })
    }

    /// Copies `buf` into guest memory at `gpa`, across pages and mappings, with
    /// atomic elements.
    ///
    /// Errors as [`translated_byte_buffer`](Self::translated_byte_buffer); on
    /// error guest memory is untouched.
    pub fn write(&mut self, gpa: GuestPhysAddr, buf: &[u8]) -> AxVmResult {
        let mut rest = buf;
        self.for_each_piece(gpa, rest.len(), |hpa, piece| {
            let (part, tail) = rest.split_at(piece.min(rest.len()));
            rest = tail;
            // SAFETY: as in `read`, with source and destination swapped.
            unsafe { to_guest(part, H::phys_to_virt(hpa).as_mut_ptr()) };
        })
    }

    /// Calls `visit(host address, length)` for each host-contiguous piece of
    /// `[gpa, gpa + len)` in order, after checking all of it.
    fn for_each_piece(
        &self,
        gpa: GuestPhysAddr,
        len: usize,
        mut visit: impl FnMut(HostPhysAddr, usize),
    ) -> AxVmResult {
        let start = gpa.as_usize();
        let end = start.checked_add(len).ok_or(AxVmError::InvalidInput)?;
        for pass in [false, true] {
            let mut at = start;
            while at < end {
                let (hpa, limit, area) = self.piece_at(at).ok_or(AxVmError::BadAddress)?;
                if area.flags.contains(MappingFlags::DEVICE) || !area.backend.host_accessible() {
                    return Err(AxVmError::BadAddress);
                }
                let piece = limit.min(end.wrapping_sub(at));
                if pass {
                    visit(hpa, piece);
                }
                at = at.wrapping_add(piece);
            }
        }
        Ok(())
    }
}
