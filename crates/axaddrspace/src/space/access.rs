//! Hypervisor access to guest memory through the space's mappings.

use alloc::vec::Vec;

use axvm_types::{AxVmError, AxVmResult, GuestPhysAddr, HostPhysAddr, MappingFlags};

use super::{AddrSpace, area::Backend};
use crate::{format::NestedFormat, hal::AxMmHal, tlb::NestedTlb};

impl<H: AxMmHal, F: NestedFormat, T: NestedTlb> AddrSpace<H, F, T> {
    /// The host address of `gpa` and how many bytes from there on are host
    /// contiguous and in the same mapping: to the end of the area for linear
    /// mappings, to the end of the page or block for allocated ones.
    pub fn translate_and_get_limit(&self, gpa: GuestPhysAddr) -> Option<(HostPhysAddr, usize)> {
        let at = gpa.as_usize();
        let (hpa, _, size) = self.table.translate(at)?;
        let (_, area) = self.areas.find(at)?;
        let limit = match area.backend {
            Backend::Linear { .. } => area.end,
            Backend::Alloc { .. } => (at | size.bytes().wrapping_sub(1))
                .wrapping_add(1)
                .min(area.end),
        };
        Some((HostPhysAddr::from(hpa as usize), limit.wrapping_sub(at)))
    }

    /// The host memory behind `[gpa, gpa + len)`, as one slice per host-contiguous piece.
    ///
    /// Every byte must be mapped (lazy pages faulted in) and not `DEVICE`
    /// (`BadAddress` otherwise), and no two pieces may share host memory
    /// (`InvalidInput`: two guest ranges mapped linearly onto the same host range).
    /// The slices alias memory the guest writes: use them while its vCPUs are
    /// stopped, e.g. to load images.
    pub fn translated_byte_buffer(
        &mut self,
        gpa: GuestPhysAddr,
        len: usize,
    ) -> AxVmResult<Vec<&mut [u8]>> {
        let mut pieces: Vec<(usize, usize)> = Vec::new();
        self.for_each_piece(gpa, len, |hpa, _, piece| {
            pieces.push((hpa.as_usize(), piece))
        })?;
        let mut sorted = pieces.clone();
        sorted.sort_unstable();
        if sorted
            .windows(2)
            .any(|pair| matches!(pair, [(a, a_len), (b, _)] if a.wrapping_add(*a_len) > *b))
        {
            return Err(AxVmError::InvalidInput);
        }
        Ok(pieces
            .into_iter()
            .map(|(hpa, piece)| {
                let host = H::phys_to_virt(HostPhysAddr::from(hpa)).as_mut_ptr();
                // SAFETY: the HAL makes mapped non-device host memory reachable at
                // `phys_to_virt`; the pieces are disjoint (checked above) and borrow
                // `self` mutably, so nothing unmaps them while they live.
                unsafe { core::slice::from_raw_parts_mut(host, piece) }
            })
            .collect())
    }

    /// Copies guest memory at `gpa` into `buf`, across pages and mappings.
    ///
    /// Errors as [`translated_byte_buffer`](Self::translated_byte_buffer); on
    /// error `buf` may be partly written.
    pub fn read(&self, gpa: GuestPhysAddr, buf: &mut [u8]) -> AxVmResult {
        let dst = buf.as_mut_ptr();
        self.for_each_piece(gpa, buf.len(), |hpa, offset, piece| {
            // SAFETY: the source is `piece` bytes of mapped non-device host memory
            // (HAL contract); the destination is inside `buf` (`offset + piece` <=
            // its length); raw copies, so no reference to guest memory is formed.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    H::phys_to_virt(hpa).as_ptr(),
                    dst.add(offset),
                    piece,
                )
            };
        })
    }

    /// Copies `buf` into guest memory at `gpa`, across pages and mappings.
    ///
    /// Errors as [`translated_byte_buffer`](Self::translated_byte_buffer); on
    /// error guest memory may be partly written.
    pub fn write(&mut self, gpa: GuestPhysAddr, buf: &[u8]) -> AxVmResult {
        let src = buf.as_ptr();
        self.for_each_piece(gpa, buf.len(), |hpa, offset, piece| {
            // SAFETY: as in `read`, with source and destination swapped.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    src.add(offset),
                    H::phys_to_virt(hpa).as_mut_ptr(),
                    piece,
                )
            };
        })
    }

    /// Calls `visit(host address, offset in the request, length)` for each
    /// host-contiguous piece of `[gpa, gpa + len)`, after checking all of it.
    fn for_each_piece(
        &self,
        gpa: GuestPhysAddr,
        len: usize,
        mut visit: impl FnMut(HostPhysAddr, usize, usize),
    ) -> AxVmResult {
        let start = gpa.as_usize();
        let end = start.checked_add(len).ok_or(AxVmError::InvalidInput)?;
        for pass in [false, true] {
            let mut at = start;
            while at < end {
                let (hpa, limit) = self
                    .translate_and_get_limit(GuestPhysAddr::from(at))
                    .ok_or(AxVmError::BadAddress)?;
                if self
                    .areas
                    .find(at)
                    .is_none_or(|(_, area)| area.flags.contains(MappingFlags::DEVICE))
                {
                    return Err(AxVmError::BadAddress);
                }
                let piece = limit.min(end.wrapping_sub(at));
                if pass {
                    visit(hpa, at.wrapping_sub(start), piece);
                }
                at = at.wrapping_add(piece);
            }
        }
        Ok(())
    }
}
