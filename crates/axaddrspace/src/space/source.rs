//! Where the engine gets host memory for a mapping: a fixed linear offset, or
//! fresh zeroed frames from the HAL, largest blocks first.

use core::marker::PhantomData;

use axvm_types::{AxVmError, AxVmResult, HostPhysAddr};

use crate::{
    format::PageSize,
    hal::{AxMmHal, FRAME_SIZE},
    table::BlockSource,
};

/// Host address = guest address + offset; blocks where both are aligned.
pub(crate) struct LinearSource {
    pub(crate) offset: usize,
}

impl BlockSource for LinearSource {
    #[inline]
    fn block(&mut self, gpa: usize, size: PageSize) -> AxVmResult<Option<u64>> {
        let hpa = gpa.wrapping_add(self.offset);
        Ok(size.is_aligned(hpa).then_some(hpa as u64))
    }
}

/// Fresh zeroed frames: a contiguous block for 2 MiB and 1 GiB entries while the
/// host grants them, single frames otherwise.
pub(crate) struct AllocSource<H: AxMmHal> {
    /// The first host address an entry cannot hold (0: no limit).
    output_limit: u64,
    /// The smallest block size the host refused during this mapping; not asked again.
    refused: Option<PageSize>,
    _hal: PhantomData<fn() -> H>,
}

impl<H: AxMmHal> AllocSource<H> {
    pub(crate) fn new(output_limit: u64) -> Self {
        Self {
            output_limit,
            refused: None,
            _hal: PhantomData,
        }
    }
}

impl<H: AxMmHal> BlockSource for AllocSource<H> {
    fn block(&mut self, _gpa: usize, size: PageSize) -> AxVmResult<Option<u64>> {
        if self.refused.is_some_and(|refused| size >= refused) {
            return Ok(None);
        }
        match alloc_block::<H>(size, self.output_limit)? {
            Some(pa) => Ok(Some(pa)),
            None if size == PageSize::Size4K => Err(AxVmError::NoMemory),
            None => {
                self.refused = Some(size);
                Ok(None)
            }
        }
    }
}

/// A block of host memory the caller already holds, handed out once, for an
/// entry of its size only.
pub(crate) struct ReadyBlock {
    pub(crate) block: Option<u64>,
    pub(crate) size: PageSize,
}

impl BlockSource for ReadyBlock {
    fn block(&mut self, _gpa: usize, size: PageSize) -> AxVmResult<Option<u64>> {
        Ok(if size == self.size {
            self.block.take()
        } else {
            None
        })
    }
}

/// Allocates and zeroes one block of `size`, or `None` when the host has no such
/// block. A block an entry could not hold is given back and reported as an error.
pub(crate) fn alloc_block<H: AxMmHal>(
    size: PageSize,
    output_limit: u64,
) -> AxVmResult<Option<u64>> {
    let bytes = size.bytes();
    let frame = match size {
        PageSize::Size4K => H::alloc_frame(),
        _ => H::alloc_contiguous_frames(bytes / FRAME_SIZE, bytes.trailing_zeros()),
    };
    let Some(frame) = frame else {
        return Ok(None);
    };
    let pa = frame.as_usize() as u64;
    let end = pa.checked_add(bytes as u64);
    if !size.is_aligned(frame.as_usize())
        || end.is_none_or(|end| output_limit != 0 && end > output_limit)
    {
        free_block::<H>(pa, size);
        return Err(AxVmError::BadAddress);
    }
    // SAFETY: the HAL gave us this block for our exclusive use, reachable and
    // writable at `phys_to_virt`.
    unsafe { core::ptr::write_bytes(H::phys_to_virt(frame).as_mut_ptr(), 0, bytes) };
    Ok(Some(pa))
}

/// Gives a leaf's frames back: one frame, or a contiguous (part of a) block.
pub(crate) fn free_block<H: AxMmHal>(pa: u64, size: PageSize) {
    let frame = HostPhysAddr::from(pa as usize);
    match size {
        PageSize::Size4K => H::dealloc_frame(frame),
        _ => H::dealloc_contiguous_frames(frame, size.bytes() / FRAME_SIZE),
    }
}
