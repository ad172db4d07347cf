//! The RAM regions of a config (alloc and identical regions that passed their own
//! checks), indexed for "which region overlaps this window" in O(log n).

use alloc::vec::Vec;

use crate::Window;

/// A RAM region: its index in `memory_regions` and its window.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ram {
    pub(super) index: usize,
    pub(super) window: Window,
}

/// RAM regions sorted by start, with, for each prefix, the region reaching furthest.
#[derive(Debug, Clone, Default)]
pub(super) struct RamMap {
    sorted: Vec<Ram>,
    /// `reach[i]`: the position in `sorted[..=i]` of the region with the largest end.
    reach: Vec<usize>,
}

impl RamMap {
    pub(super) fn new(mut ram: Vec<Ram>) -> Self {
        ram.sort_by_key(|region| region.window);
        let mut reach = Vec::with_capacity(ram.len());
        let mut best: Option<(usize, usize)> = None;
        for (i, region) in ram.iter().enumerate() {
            if best.is_none_or(|(_, end)| region.window.end > end) {
                best = Some((i, region.window.end));
            }
            reach.push(best.map_or(i, |(at, _)| at));
        }
        Self { sorted: ram, reach }
    }

    /// A region that overlaps `window`, if any.
    pub(super) fn overlapping(&self, window: Window) -> Option<Ram> {
        // Regions starting before the window's end; of those, the one reaching furthest.
        let before_end = self
            .sorted
            .partition_point(|region| region.window.start < window.end);
        let at = *self.reach.get(before_end.checked_sub(1)?)?;
        self.sorted
            .get(at)
            .copied()
            .filter(|region| region.window.overlaps(window))
    }

    /// Whether `addr` lies in a region.
    pub(super) fn contains(&self, addr: usize) -> bool {
        // No region contains usize::MAX: region ends are checked not to overflow.
        let window = Window {
            start: addr,
            end: addr.saturating_add(1),
        };
        self.overlapping(window).is_some()
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;

    #[test]
    fn the_furthest_reaching_region_is_found() {
        let ram = |index, start, end| Ram {
            index,
            window: Window { start, end },
        };
        let map = RamMap::new(vec![
            ram(0, 0x5000, 0x6000),
            ram(1, 0, 0x10_0000),
            ram(2, 0x1000, 0x2000),
        ]);
        let found = |start, end| map.overlapping(Window { start, end }).map(|r| r.index);
        assert_eq!(found(0x8000, 0x9000), Some(1));
        assert_eq!(found(0x10_0000, 0x20_0000), None);
        assert!(map.contains(0xf_ffff));
        assert!(!map.contains(0x10_0000));
        assert!(!RamMap::default().contains(0));
    }
}
