//! What the hypervisor provides: physical frames and a way to reach them.

use axvm_types::{HostPhysAddr, HostVirtAddr, MemoryAddr};

/// The host memory interface of an address space.
///
/// # Safety
///
/// Implementors promise that:
/// - a frame returned by [`alloc_frame`](Self::alloc_frame) or
///   [`alloc_contiguous_frames`](Self::alloc_contiguous_frames) is 4 KiB aligned
///   (or aligned as asked), belongs to nobody else until it is given back, and is
///   reachable for reads and writes at [`phys_to_virt`](Self::phys_to_virt);
/// - `phys_to_virt` also gives a readable and writable address for every host
///   range the hypervisor maps with `map_linear` without `DEVICE`, for as long as
///   the mapping exists: guest memory access (`read`, `write`,
///   `translated_byte_buffer`) goes through it.
pub unsafe trait AxMmHal {
    /// Allocates one 4 KiB frame, or `None` when memory is exhausted.
    fn alloc_frame() -> Option<HostPhysAddr>;

    /// Gives back one 4 KiB frame: one returned by `alloc_frame`, or one frame
    /// of a contiguous allocation (see [`dealloc_contiguous_frames`](Self::dealloc_contiguous_frames)).
    fn dealloc_frame(paddr: HostPhysAddr);

    /// The host virtual address at which the hypervisor reaches `paddr`.
    fn phys_to_virt(paddr: HostPhysAddr) -> HostVirtAddr;

    /// Allocates `count` physically contiguous frames aligned to `1 << align_log2`
    /// bytes, or `None` if the host cannot (the default): the space then uses
    /// smaller blocks, and formats with a multi-frame root cannot be created.
    fn alloc_contiguous_frames(count: usize, align_log2: u32) -> Option<HostPhysAddr> {
        let _ = (count, align_log2);
        None
    }

    /// Gives back `count` contiguous frames starting at `paddr`.
    ///
    /// When the guest unmaps part of a block, its frames come back in pieces: a
    /// call may cover any frame-aligned part of an earlier contiguous
    /// allocation, and the pieces together cover it exactly once. The default
    /// gives the frames back one by one.
    fn dealloc_contiguous_frames(paddr: HostPhysAddr, count: usize) {
        let mut frame = paddr;
        for _ in 0..count {
            Self::dealloc_frame(frame);
            frame = frame.wrapping_add(FRAME_SIZE);
        }
    }
}

/// Bytes of one frame.
pub(crate) const FRAME_SIZE: usize = 0x1000;
