//! Host physical memory: a heap for the hypervisor's own allocations, and a frame
//! allocator (single frames and aligned contiguous runs) for guest memory and page
//! tables. Physical addresses are identity-mapped.

use axvm_types::HostPhysAddr;
use linked_list_allocator::LockedHeap;
use spin::Mutex;

/// The frame size.
pub const FRAME: usize = 0x1000;
/// The most frames the allocator manages (4 GiB).
const MAX_FRAMES: usize = 1 << 20;
const WORDS: usize = MAX_FRAMES / 64;
/// Bytes of heap for the hypervisor's own data structures.
const HEAP_BYTES: usize = 16 << 20;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// One bit per frame of `[base, base + frames * FRAME)`; set = in use.
struct Frames {
    base: usize,
    frames: usize,
    used: [u64; WORDS],
}

static FRAMES: Mutex<Frames> = Mutex::new(Frames {
    base: 0,
    frames: 0,
    used: [0; WORDS],
});

/// Hands `[start, end)` to the heap and the frame allocator.
///
/// # Safety
///
/// The range must be unused RAM, identity-mapped, and given only once.
pub unsafe fn init(start: usize, end: usize) {
    let heap_start = start.next_multiple_of(FRAME);
    let frames_start = heap_start
        .saturating_add(HEAP_BYTES)
        .next_multiple_of(0x20_0000);
    // SAFETY: the caller gives this RAM to us alone; the heap takes its first part.
    unsafe { HEAP.lock().init(heap_start as *mut u8, HEAP_BYTES) };
    let mut frames = FRAMES.lock();
    frames.base = frames_start;
    frames.frames = end
        .saturating_sub(frames_start)
        .checked_div(FRAME)
        .unwrap_or(0)
        .min(MAX_FRAMES);
}

impl Frames {
    fn is_used(&self, frame: usize) -> bool {
        self.used
            .get(frame / 64)
            .is_none_or(|word| word & (1 << (frame % 64)) != 0)
    }

    fn set(&mut self, first: usize, count: usize, used: bool) {
        for frame in first..first.saturating_add(count) {
            if let Some(word) = self.used.get_mut(frame / 64) {
                if used {
                    *word |= 1 << (frame % 64);
                } else {
                    *word &= !(1 << (frame % 64));
                }
            }
        }
    }

    /// The first free run of `count` frames whose address is aligned to `align` bytes.
    fn find(&self, count: usize, align: usize) -> Option<usize> {
        let step = (align / FRAME).max(1);
        let mut first = (self.base.next_multiple_of(align) - self.base) / FRAME;
        while first.saturating_add(count) <= self.frames {
            match (first..first + count).find(|frame| self.is_used(*frame)) {
                None => return Some(first),
                Some(busy) => first = (busy / step + 1) * step,
            }
        }
        None
    }
}

/// Allocates `count` zeroed frames aligned to `2^align_log2` bytes.
pub fn alloc(count: usize, align_log2: u32) -> Option<HostPhysAddr> {
    let align = 1usize.checked_shl(align_log2)?.max(FRAME);
    let mut frames = FRAMES.lock();
    let first = frames.find(count, align)?;
    frames.set(first, count, true);
    let addr = frames.base + first * FRAME;
    drop(frames);
    // SAFETY: the frames were free RAM, identity-mapped, now ours.
    unsafe { core::ptr::write_bytes(addr as *mut u8, 0, count * FRAME) };
    Some(HostPhysAddr::from(addr))
}

/// Frees `count` frames from `addr`. Frames outside the pool are ignored.
pub fn free(addr: HostPhysAddr, count: usize) {
    let mut frames = FRAMES.lock();
    let Some(offset) = addr.as_usize().checked_sub(frames.base) else {
        return;
    };
    frames.set(offset / FRAME, count, false);
}

/// Frames in use, for the summary.
pub fn in_use() -> usize {
    let frames = FRAMES.lock();
    frames
        .used
        .iter()
        .map(|word| word.count_ones() as usize)
        .sum()
}
