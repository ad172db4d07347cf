//! Predecessor search over the sorted window starts of a bus.
//!
//! A plain binary search over 1024 starts is ten dependent loads. A bucket table over the
//! span of the starts narrows the search first: bucket `b` records how many starts lie at
//! or below its first address, so the predecessor of an address in bucket `b` is among the
//! starts between the bounds of `b` and `b + 1`, usually none or one of them. Buckets are
//! no wider than the median gap between starts, so a few far outliers do not crowd the
//! rest into one bucket. The search in the slice is still a binary search, so a layout
//! that does crowd many windows into one bucket costs O(log n), never more.

use alloc::vec::Vec;

/// The table has about two buckets per start, at most this many.
const MAX_BUCKETS: usize = 1 << 16;

#[derive(Debug, Default)]
pub(super) struct StartIndex {
    starts: Vec<usize>,
    /// The first start: bucket 0 begins here.
    origin: usize,
    /// log2 of a bucket's width.
    shift: u32,
    /// `bounds[b]`: the number of starts at or below the first address of bucket `b`; one
    /// more entry, the number of starts, closes the last bucket. Empty when the bus is
    /// empty (or has more than `u32::MAX` windows): every search then covers all starts.
    bounds: Vec<u32>,
}

impl StartIndex {
    pub(super) const fn new() -> Self {
        Self {
            starts: Vec::new(),
            origin: 0,
            shift: 0,
            bounds: Vec::new(),
        }
    }

    /// The number of starts at or below `addr`.
    #[inline]
    pub(super) fn upper_bound(&self, addr: usize) -> usize {
        let Some(offset) = addr.checked_sub(self.origin) else {
            return 0;
        };
        // The last bucket also holds every address past the table's end.
        let bucket = offset
            .checked_shr(self.shift)
            .unwrap_or(0)
            .min(self.bounds.len().saturating_sub(2));
        let (lo, hi) = match self.bounds.get(bucket..bucket.saturating_add(2)) {
            Some(&[lo, hi]) => (lo as usize, hi as usize),
            _ => (0, self.starts.len()),
        };
        let within = self
            .starts
            .get(lo..hi)
            .map_or(0, |slice| slice.partition_point(|&start| start <= addr));
        lo.saturating_add(within)
    }

    /// Where a window starting at `start` goes: after every start at or below it.
    pub(super) fn insertion_point(&self, start: usize) -> usize {
        self.starts.partition_point(|&s| s <= start)
    }

    pub(super) fn insert(&mut self, index: usize, start: usize) {
        self.starts.insert(index, start);
        self.rebuild();
    }

    pub(super) fn remove(&mut self, index: usize) {
        if index < self.starts.len() {
            self.starts.remove(index);
            self.rebuild();
        }
    }

    /// `floor(log2)` of the median gap between consecutive starts (`u32::MAX` for fewer
    /// than two starts, which then leaves the choice to the span).
    fn median_gap_log2(&self) -> u32 {
        let mut gaps: Vec<usize> = self
            .starts
            .windows(2)
            .filter_map(|pair| match pair {
                &[low, high] => high.checked_sub(low),
                _ => None,
            })
            .collect();
        if gaps.is_empty() {
            return u32::MAX;
        }
        let middle = gaps.len() / 2;
        let (_, &mut median, _) = gaps.select_nth_unstable(middle);
        median.checked_ilog2().unwrap_or(0)
    }

    fn rebuild(&mut self) {
        self.bounds.clear();
        let (Some(&first), Some(&last)) = (self.starts.first(), self.starts.last()) else {
            self.origin = 0;
            self.shift = 0;
            return;
        };
        if u32::try_from(self.starts.len()).is_err() {
            return;
        }
        let buckets = self
            .starts
            .len()
            .checked_next_power_of_two()
            .and_then(|n| n.checked_mul(2))
            .map_or(MAX_BUCKETS, |n| n.min(MAX_BUCKETS));
        let span = last.saturating_sub(first);
        let span_bits = usize::BITS.saturating_sub(span.leading_zeros());
        self.origin = first;
        // Wide enough to cover every start, but no wider than the median gap between
        // starts: a few windows far above the rest then fall past the table's end (into
        // the last bucket) instead of squeezing the rest into one bucket.
        self.shift = span_bits
            .saturating_sub(buckets.trailing_zeros())
            .min(self.median_gap_log2());
        let mut below = 0usize;
        for bucket in 0..buckets {
            let bucket_start = bucket
                .checked_shl(self.shift)
                .and_then(|offset| first.checked_add(offset))
                .unwrap_or(usize::MAX);
            while self
                .starts
                .get(below)
                .is_some_and(|&start| start <= bucket_start)
            {
                below = below.saturating_add(1);
            }
            self.bounds.push(u32::try_from(below).unwrap_or(u32::MAX));
        }
        self.bounds
            .push(u32::try_from(self.starts.len()).unwrap_or(u32::MAX));
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn index_of(starts: &[usize]) -> StartIndex {
        let mut index = StartIndex::new();
        for &start in starts {
            index.insert(index.insertion_point(start), start);
        }
        index
    }

    #[test]
    fn empty_index_has_no_predecessor() {
        let index = StartIndex::new();
        assert_eq!(index.upper_bound(0), 0);
        assert_eq!(index.upper_bound(usize::MAX), 0);
    }

    #[test]
    fn counts_starts_at_or_below() {
        let index = index_of(&[0x3000, 0x1000, usize::MAX - 1, 0x2000]);
        for (addr, count) in [
            (0, 0),
            (0xfff, 0),
            (0x1000, 1),
            (0x2fff, 2),
            (0x3000, 3),
            (usize::MAX - 2, 3),
            (usize::MAX - 1, 4),
            (usize::MAX, 4),
        ] {
            assert_eq!(index.upper_bound(addr), count, "{addr:#x}");
        }
    }

    #[test]
    fn removal_rebuilds_the_table() {
        let mut index = index_of(&[0x10, 0x20, 0x30]);
        index.remove(0);
        assert_eq!(index.upper_bound(0x10), 0);
        assert_eq!(index.upper_bound(0x25), 1);
        index.remove(7);
        index.remove(0);
        index.remove(0);
        assert_eq!(index.upper_bound(usize::MAX), 0);
    }

    proptest! {
        #[test]
        fn agrees_with_a_full_binary_search(
            starts in proptest::collection::vec(
                prop_oneof![any::<usize>(), 0usize..0x1_0000, (0usize..64).prop_map(|i| i << 12)],
                0..300,
            ),
            probes in proptest::collection::vec(any::<usize>(), 0..64),
        ) {
            let index = index_of(&starts);
            let mut sorted = starts.clone();
            sorted.sort_unstable();
            let near = starts.iter().flat_map(|&s| [s.wrapping_sub(1), s, s.wrapping_add(1)]);
            for addr in probes.into_iter().chain(near) {
                prop_assert_eq!(
                    index.upper_bound(addr),
                    sorted.partition_point(|&s| s <= addr)
                );
            }
        }
    }
}
