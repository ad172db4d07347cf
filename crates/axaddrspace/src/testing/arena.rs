//! A per-thread heap arena posing as physical memory.
//!
//! Host "physical" addresses are the arena's virtual addresses with bit 46
//! flipped, so confusing a physical address for a virtual one faults instead
//! of silently working, while alignment is preserved (blocks of up to 1 GiB).
//! Each test thread has its own arena, so frame counts are per test.
//!
//! The arena vouches as guest RAM ([`LinearMemory::Ram`]) only for frames handed
//! out by [`ArenaHal::alloc_guest_ram`]; other arena frames (tables, allocated
//! guest memory, free frames) are [`LinearMemory::Refused`]. Ranges entirely
//! outside the arena are [`LinearMemory::Device`]: no guest runs on a
//! development host, and the space never dereferences them.

// Frame indices and counts are bounded by the arena size, fixed at creation.
#![allow(clippy::arithmetic_side_effects)]

use std::{
    alloc::{Layout, alloc_zeroed, dealloc},
    boxed::Box,
    cell::RefCell,
    vec::Vec,
};

use axvm_types::{GuestPhysAddrRange, HostPhysAddr, HostVirtAddr, NestedPagingConfig};

use crate::{
    hal::{AxMmHal, FRAME_SIZE, LinearMemory},
    vmid::VmidRegistry,
};

/// Flipped between the arena's virtual and "physical" addresses.
const PHYS_TAG: usize = 1 << 46;
const WORD_BITS: usize = 64;
/// Freed frames are filled with this, so unzeroed reuse shows.
const POISON: u8 = 0xa5;

/// How a thread's arena behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArenaConfig {
    /// Bytes of "physical memory".
    pub bytes: usize,
    /// Whether contiguous multi-frame allocations (roots, 2 MiB / 1 GiB blocks) succeed.
    pub contiguous: bool,
    /// Whether freed frames are filled with a poison pattern.
    pub poison: bool,
}

impl Default for ArenaConfig {
    fn default() -> Self {
        Self {
            bytes: if cfg!(miri) { 8 << 20 } else { 64 << 20 },
            contiguous: true,
            poison: true,
        }
    }
}

/// An [`AxMmHal`] over the current thread's arena (created on first use with
/// [`ArenaConfig::default`], or by [`ArenaHal::install`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ArenaHal;

struct Arena {
    memory: *mut u8,
    layout: Layout,
    base: usize,
    frames: usize,
    used: Vec<u64>,
    /// Frames handed out as guest RAM by `alloc_guest_ram`.
    guest: Vec<u64>,
    /// Word of the bitmap where the search for single frames starts.
    top: usize,
    in_use: usize,
    misuse: usize,
    /// Remote invalidations asked for: `(vmid, range)`, latest last.
    remote: Vec<(u16, GuestPhysAddrRange)>,
    config: ArenaConfig,
}

std::thread_local! {
    static ARENA: RefCell<Option<Arena>> = const { RefCell::new(None) };
    /// This thread's VMIDs (leaked: 8 KiB per thread that creates a space).
    static VMIDS: &'static VmidRegistry = Box::leak(Box::new(VmidRegistry::new()));
}

impl ArenaHal {
    /// Replaces this thread's arena with a fresh one. Address spaces of the old
    /// arena must be gone: its memory is released.
    pub fn install(config: ArenaConfig) {
        ARENA.with(|arena| *arena.borrow_mut() = Arena::new(config));
    }

    /// Frames currently allocated from this thread's arena.
    pub fn frames_in_use() -> usize {
        with_arena(|arena| arena.in_use).unwrap_or(0)
    }

    /// Frees of frames the arena never handed out (or handed out and got back).
    pub fn misuses() -> usize {
        with_arena(|arena| arena.misuse).unwrap_or(0)
    }

    /// Allocates `count` contiguous frames aligned to `1 << align_log2` bytes as
    /// guest RAM: the only arena memory [`linear_memory`](AxMmHal::linear_memory)
    /// answers [`LinearMemory::Ram`] for, so that `map_linear` may map it.
    /// Ignores [`ArenaConfig::contiguous`]. Give it back with
    /// [`dealloc_contiguous_frames`](AxMmHal::dealloc_contiguous_frames).
    pub fn alloc_guest_ram(count: usize, align_log2: u32) -> Option<HostPhysAddr> {
        let align = 1usize.checked_shl(align_log2)?.div_ceil(FRAME_SIZE).max(1);
        with_arena(|arena| {
            let hpa = arena.alloc(count, align)?;
            let first = arena.index(hpa.as_usize())?;
            for frame in first..first + count {
                set_bit(&mut arena.guest, frame, true);
            }
            Some(hpa)
        })
        .flatten()
    }

    /// The remote invalidations this thread's spaces asked for, as `(vmid,
    /// range)`, oldest first.
    pub fn remote_invalidations() -> Vec<(u16, GuestPhysAddrRange)> {
        with_arena(|arena| arena.remote.clone()).unwrap_or_default()
    }

    /// Whether contiguous allocations succeed from now on.
    pub fn set_contiguous(contiguous: bool) {
        with_arena(|arena| arena.config.contiguous = contiguous);
    }
}

fn with_arena<R>(f: impl FnOnce(&mut Arena) -> R) -> Option<R> {
    ARENA.with(|cell| {
        let mut arena = cell.borrow_mut();
        if arena.is_none() {
            *arena = Arena::new(ArenaConfig::default());
        }
        arena.as_mut().map(f)
    })
}

// SAFETY: frames come from the arena's own allocation, each handed out once until
// freed, 4 KiB aligned and aligned as asked (the "physical" address keeps the
// virtual address's low bits); `phys_to_virt` undoes the tag, giving the arena
// memory, valid until the arena is replaced or the thread ends. `linear_memory`
// answers `Ram` only for frames handed out as guest RAM and still held, and
// `Device` only outside the arena, which nothing dereferences (no guest runs on a
// development host). No CPU of a development host is in hypervisor mode, and no
// other CPU runs guests, so remote invalidation has nothing to do. The VMID
// registry is this thread's, the same on every call, as the arena is.
unsafe impl AxMmHal for ArenaHal {
    fn alloc_frame() -> Option<HostPhysAddr> {
        with_arena(|arena| arena.alloc(1, 1)).flatten()
    }

    fn dealloc_frame(paddr: HostPhysAddr) {
        with_arena(|arena| arena.free(paddr.as_usize(), 1));
    }

    #[inline]
    fn phys_to_virt(paddr: HostPhysAddr) -> HostVirtAddr {
        HostVirtAddr::from(paddr.as_usize() ^ PHYS_TAG)
    }

    fn alloc_contiguous_frames(count: usize, align_log2: u32) -> Option<HostPhysAddr> {
        let align = 1usize.checked_shl(align_log2)?.div_ceil(FRAME_SIZE).max(1);
        with_arena(|arena| {
            if arena.config.contiguous {
                arena.alloc(count, align)
            } else {
                None
            }
        })
        .flatten()
    }

    fn dealloc_contiguous_frames(paddr: HostPhysAddr, count: usize) {
        with_arena(|arena| arena.free(paddr.as_usize(), count));
    }

    fn linear_memory(paddr: HostPhysAddr, size: usize) -> LinearMemory {
        with_arena(|arena| arena.linear_memory(paddr.as_usize(), size))
            .unwrap_or(LinearMemory::Device)
    }

    fn in_hypervisor_mode() -> bool {
        false
    }

    fn invalidate_remote(config: &NestedPagingConfig, range: GuestPhysAddrRange) {
        with_arena(|arena| arena.remote.push((config.vmid, range)));
    }

    fn vmids() -> &'static VmidRegistry {
        VMIDS.with(|vmids| *vmids)
    }
}

impl Arena {
    fn new(config: ArenaConfig) -> Option<Self> {
        let frames = config.bytes / FRAME_SIZE;
        // One spare frame to align the start: large zeroed allocations come
        // straight from the OS, untouched until used.
        let layout =
            Layout::from_size_align(frames.checked_add(1)?.checked_mul(FRAME_SIZE)?, 16).ok()?;
        // SAFETY: the layout has a nonzero size.
        let memory = unsafe { alloc_zeroed(layout) };
        if memory.is_null() {
            return None;
        }
        let base = memory.expose_provenance().next_multiple_of(FRAME_SIZE);
        advise_huge_pages(base, frames * FRAME_SIZE);
        // Bits past the last frame count as used.
        let mut used = std::vec![0u64; frames.div_ceil(WORD_BITS)];
        if let Some(last) = used.last_mut() {
            let tail = frames % WORD_BITS;
            if tail != 0 {
                *last = u64::MAX << tail;
            }
        }
        Some(Self {
            memory,
            layout,
            base,
            frames,
            top: used.len().saturating_sub(1),
            guest: std::vec![0u64; used.len()],
            used,
            remote: Vec::new(),
            in_use: 0,
            misuse: 0,
            config,
        })
    }

    /// Index of the frame at `paddr`, if it is an arena frame.
    fn index(&self, paddr: usize) -> Option<usize> {
        let offset = (paddr ^ PHYS_TAG).checked_sub(self.base)?;
        (offset % FRAME_SIZE == 0 && offset / FRAME_SIZE < self.frames)
            .then_some(offset / FRAME_SIZE)
    }

    fn is_used(&self, frame: usize) -> bool {
        bit(&self.used, frame)
    }

    fn set_used(&mut self, frame: usize, used: bool) {
        set_bit(&mut self.used, frame, used);
    }

    /// `Ram` for held guest-RAM frames, `Device` wholly outside the arena.
    fn linear_memory(&self, paddr: usize, size: usize) -> LinearMemory {
        let start = self.base ^ PHYS_TAG;
        let end = start + self.frames * FRAME_SIZE;
        let Some(last) = paddr.checked_add(size) else {
            return LinearMemory::Refused;
        };
        if last <= start || paddr >= end {
            return LinearMemory::Device;
        }
        let guest_ram = paddr >= start
            && last <= end
            && paddr % FRAME_SIZE == 0
            && size % FRAME_SIZE == 0
            && ((paddr - start) / FRAME_SIZE..(last - start) / FRAME_SIZE)
                .all(|frame| self.is_used(frame) && bit(&self.guest, frame));
        if guest_ram {
            LinearMemory::Ram
        } else {
            LinearMemory::Refused
        }
    }

    /// Allocates `count` frames aligned to `align` frames. Single frames come
    /// from the top of the arena down, blocks from the bottom up, so that large
    /// aligned blocks stay available (as with a buddy allocator), and freed
    /// memory is reused first, so it stays warm.
    fn alloc(&mut self, count: usize, align: usize) -> Option<HostPhysAddr> {
        let first = if count == 1 {
            self.highest_free()?
        } else {
            self.lowest_free_run(count, align)?
        };
        for frame in first..first + count {
            self.set_used(frame, true);
        }
        self.in_use += count;
        Some(HostPhysAddr::from(
            (self.base + first * FRAME_SIZE) ^ PHYS_TAG,
        ))
    }

    /// The highest free frame, searching down from the word of the last free.
    fn highest_free(&mut self) -> Option<usize> {
        let mut word_index = self.top.min(self.used.len().checked_sub(1)?);
        loop {
            let word = self.used.get(word_index).copied().unwrap_or(u64::MAX);
            if word != u64::MAX {
                let bit = WORD_BITS - 1 - (!word).leading_zeros() as usize;
                self.top = word_index;
                return Some(word_index * WORD_BITS + bit);
            }
            word_index = word_index.checked_sub(1)?;
        }
    }

    /// The lowest run of `count` free frames starting at a multiple of `align` frames.
    fn lowest_free_run(&self, count: usize, align: usize) -> Option<usize> {
        let mut candidate = self.aligned_from(0, align);
        loop {
            let end = candidate.checked_add(count)?;
            if end > self.frames {
                return None;
            }
            match (candidate..end).find(|frame| self.is_used(*frame)) {
                None => return Some(candidate),
                Some(used) => candidate = self.aligned_from(used + 1, align),
            }
        }
    }

    /// The first frame index at or after `from` whose address is aligned to `align` frames.
    fn aligned_from(&self, from: usize, align: usize) -> usize {
        let first = self.base / FRAME_SIZE + from;
        first.next_multiple_of(align) - self.base / FRAME_SIZE
    }

    fn free(&mut self, paddr: usize, count: usize) {
        let Some(first) = self.index(paddr) else {
            self.misuse += 1;
            return;
        };
        self.top = self
            .top
            .max(first.saturating_add(count).saturating_sub(1) / WORD_BITS);
        for frame in first..first.saturating_add(count) {
            if frame >= self.frames || !self.is_used(frame) {
                self.misuse += 1;
                continue;
            }
            self.set_used(frame, false);
            set_bit(&mut self.guest, frame, false);
            self.in_use -= 1;
            if self.config.poison {
                let at =
                    std::ptr::with_exposed_provenance_mut::<u8>(self.base + frame * FRAME_SIZE);
                // SAFETY: the frame is inside the arena allocation (index checked)
                // and was just taken back, so nothing else uses it.
                unsafe { std::ptr::write_bytes(at, POISON, FRAME_SIZE) };
            }
        }
    }
}

fn bit(bits: &[u64], index: usize) -> bool {
    bits.get(index / WORD_BITS)
        .is_some_and(|word| word & (1 << (index % WORD_BITS)) != 0)
}

fn set_bit(bits: &mut [u64], index: usize, value: bool) {
    if let Some(word) = bits.get_mut(index / WORD_BITS) {
        let bit = 1u64 << (index % WORD_BITS);
        if value { *word |= bit } else { *word &= !bit }
    }
}

/// Asks for huge host pages, as a hypervisor's direct map has: table walks
/// then measure the tables, not the host's TLB misses.
#[cfg(all(unix, not(miri)))]
fn advise_huge_pages(start: usize, len: usize) {
    const HUGE: usize = 2 << 20;
    let aligned = start.next_multiple_of(HUGE);
    let len = (start + len).saturating_sub(aligned) / HUGE * HUGE;
    if len > 0 {
        // SAFETY: the range lies inside the arena allocation, which this process
        // owns; the advice changes no contents. Failure only means small pages.
        unsafe {
            libc::madvise(
                std::ptr::with_exposed_provenance_mut(aligned),
                len,
                libc::MADV_HUGEPAGE,
            )
        };
    }
}

#[cfg(not(all(unix, not(miri))))]
fn advise_huge_pages(_start: usize, _len: usize) {}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: `memory` was allocated with `layout` in `new` and is freed once.
        unsafe { dealloc(self.memory, self.layout) };
    }
}
