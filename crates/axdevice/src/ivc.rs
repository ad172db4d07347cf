//! The IVC (inter-VM communication) channel allocator: page-granular ranges of a shared
//! guest-physical window.
//!
//! Built on `range-alloc-arceos`, whose `allocate_range` asserts on a zero length and whose
//! `free_range` asserts (or silently corrupts its free list) on a range it never handed out.
//! This wrapper checks sizes first and remembers every live allocation, so no input reaches
//! those paths.

use alloc::collections::BTreeMap;

use axvm_types::GuestPhysAddr;
use range_alloc_arceos::RangeAllocator;
use spin::Mutex;

use crate::{addr::MmioRange, error::DeviceError};

/// The granule of IVC channels: one 4 KiB page, the smallest unit a stage-2 table maps.
pub const IVC_ALIGN: usize = 0x1000;

struct Pool {
    allocator: RangeAllocator<usize>,
    /// Live allocations: start -> size.
    live: BTreeMap<usize, usize>,
}

/// Hands out page-aligned ranges of one guest-physical window.
pub struct IvcChannelAllocator {
    window: MmioRange,
    pool: Mutex<Pool>,
}

impl core::fmt::Debug for IvcChannelAllocator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IvcChannelAllocator")
            .field("window", &self.window)
            .field("live", &self.pool.lock().live)
            .finish()
    }
}

fn check_size(size: usize) -> Result<(), DeviceError> {
    if size == 0 || size % IVC_ALIGN != 0 {
        Err(DeviceError::IvcBadSize {
            size,
            align: IVC_ALIGN,
        })
    } else {
        Ok(())
    }
}

impl IvcChannelAllocator {
    /// A pool covering `window`.
    ///
    /// # Errors
    ///
    /// [`DeviceError::InvalidConfig`] unless the window's start and size are multiples of
    /// [`IVC_ALIGN`].
    pub fn new(name: &str, window: MmioRange) -> Result<Self, DeviceError> {
        if window.start().as_usize() % IVC_ALIGN != 0 || window.size() % IVC_ALIGN != 0 {
            return Err(DeviceError::InvalidConfig {
                name: name.into(),
                reason: "an IVC window's base and length must be multiples of 4 KiB",
            });
        }
        let start = window.start().as_usize();
        Ok(Self {
            window,
            pool: Mutex::new(Pool {
                allocator: RangeAllocator::new(start..window.end()),
                live: BTreeMap::new(),
            }),
        })
    }

    /// The window the pool covers.
    #[must_use]
    pub const fn window(&self) -> MmioRange {
        self.window
    }

    /// Allocates `size` bytes and returns the base address.
    ///
    /// # Errors
    ///
    /// [`DeviceError::IvcBadSize`] for a zero size or one that is not a multiple of
    /// [`IVC_ALIGN`]; [`DeviceError::IvcExhausted`] if no free range is large enough.
    pub fn alloc(&self, size: usize) -> Result<GuestPhysAddr, DeviceError> {
        check_size(size)?;
        let mut pool = self.pool.lock();
        // The allocator computes `size + size`; a request larger than the window can never
        // succeed, and refusing it here keeps that sum from overflowing.
        let range = if size > self.window.size() {
            None
        } else {
            pool.allocator.allocate_range(size).ok()
        };
        let Some(range) = range else {
            return Err(DeviceError::IvcExhausted {
                size,
                free: pool.free_bytes(),
            });
        };
        pool.live.insert(range.start, size);
        Ok(GuestPhysAddr::from(range.start))
    }

    /// Returns the range `[addr, addr + size)` that [`alloc`](Self::alloc) handed out.
    ///
    /// # Errors
    ///
    /// [`DeviceError::IvcNotAllocated`] unless exactly that range is currently allocated.
    pub fn release(&self, addr: GuestPhysAddr, size: usize) -> Result<(), DeviceError> {
        let start = addr.as_usize();
        let not_allocated = DeviceError::IvcNotAllocated { addr: start, size };
        let mut pool = self.pool.lock();
        if pool.live.get(&start) != Some(&size) {
            return Err(not_allocated);
        }
        let end = start.checked_add(size).ok_or(not_allocated)?;
        pool.live.remove(&start);
        // An exact live allocation lies inside the window, is non-empty and overlaps no
        // free range: the allocator's preconditions hold.
        pool.allocator.free_range(start..end);
        Ok(())
    }

    /// The number of live allocations.
    #[must_use]
    pub fn allocated(&self) -> usize {
        self.pool.lock().live.len()
    }
}

impl Pool {
    fn free_bytes(&self) -> usize {
        self.allocator
            .initial_range()
            .len()
            .saturating_sub(self.live.values().fold(0, |sum, &s| sum.saturating_add(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> IvcChannelAllocator {
        IvcChannelAllocator::new("ivc", MmioRange::from_raw(0x8000_0000, 0x4000).unwrap()).unwrap()
    }

    #[test]
    fn allocates_page_multiples_and_reuses_released_ranges() {
        let ivc = pool();
        let a = ivc.alloc(0x1000).unwrap();
        let b = ivc.alloc(0x2000).unwrap();
        assert_eq!(a.as_usize(), 0x8000_0000);
        assert_eq!(b.as_usize(), 0x8000_1000);
        assert_eq!(ivc.allocated(), 2);
        ivc.release(a, 0x1000).unwrap();
        assert_eq!(ivc.alloc(0x1000).unwrap(), a);
    }

    #[test]
    fn zero_and_unaligned_sizes_are_errors() {
        let ivc = pool();
        for size in [0, 1, 0xfff, 0x1001, usize::MAX] {
            assert_eq!(
                ivc.alloc(size),
                Err(DeviceError::IvcBadSize {
                    size,
                    align: IVC_ALIGN
                })
            );
        }
    }

    #[test]
    fn oversized_requests_exhaust_without_panicking() {
        let ivc = pool();
        let huge = usize::MAX - (IVC_ALIGN - 1);
        assert_eq!(
            ivc.alloc(huge),
            Err(DeviceError::IvcExhausted {
                size: huge,
                free: 0x4000
            })
        );
        ivc.alloc(0x3000).unwrap();
        assert_eq!(
            ivc.alloc(0x2000),
            Err(DeviceError::IvcExhausted {
                size: 0x2000,
                free: 0x1000
            })
        );
    }

    #[test]
    fn releasing_what_was_never_allocated_is_an_error() {
        let ivc = pool();
        let a = ivc.alloc(0x2000).unwrap();
        let bad = |addr: usize, size| {
            assert_eq!(
                ivc.release(GuestPhysAddr::from(addr), size),
                Err(DeviceError::IvcNotAllocated { addr, size })
            );
        };
        bad(0x8000_2000, 0x1000);
        bad(a.as_usize(), 0x1000);
        bad(a.as_usize(), 0);
        bad(usize::MAX, usize::MAX);
        ivc.release(a, 0x2000).unwrap();
        bad(a.as_usize(), 0x2000);
    }

    #[test]
    fn the_window_must_be_page_aligned() {
        let unaligned = MmioRange::from_raw(0x8000_0800, 0x1000).unwrap();
        assert!(matches!(
            IvcChannelAllocator::new("ivc", unaligned),
            Err(DeviceError::InvalidConfig { .. })
        ));
        let short = MmioRange::from_raw(0x8000_0000, 0x800).unwrap();
        assert!(IvcChannelAllocator::new("ivc", short).is_err());
    }
}
