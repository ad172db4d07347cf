//! Overlap detection in O(n log n): sort the windows, then compare each with the
//! earlier window that reaches furthest. Every window that overlaps an earlier one
//! is reported once, against one of them, so a file of n overlapping windows gets n
//! diagnostics, not n².

use crate::Window;

/// Sorts `items` by window start (stably: of windows starting together, the one
/// listed first counts as earlier) and calls `report(item, earlier)` for every item
/// that overlaps an earlier one, with the earlier item that reaches furthest.
pub(super) fn each_overlap<T>(
    items: &mut [T],
    window: impl Fn(&T) -> Window,
    mut report: impl FnMut(&T, &T),
) {
    items.sort_by_key(|item| window(item).start);
    let mut furthest: Option<&T> = None;
    for item in items.iter() {
        let this = window(item);
        if let Some(earlier) = furthest.filter(|earlier| window(earlier).overlaps(this)) {
            report(item, earlier);
        }
        if furthest.is_none_or(|earlier| this.end > window(earlier).end) {
            furthest = Some(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;

    fn overlaps(windows: &[(usize, usize)]) -> Vec<(usize, usize)> {
        let mut items: Vec<(usize, Window)> = windows
            .iter()
            .enumerate()
            .map(|(i, &(start, end))| (i, Window { start, end }))
            .collect();
        let mut found = Vec::new();
        each_overlap(
            &mut items,
            |item| item.1,
            |item, earlier| {
                found.push((item.0, earlier.0));
            },
        );
        found
    }

    #[test]
    fn each_overlapping_window_is_reported_once() {
        assert_eq!(overlaps(&[(0, 10), (10, 20)]), []);
        assert_eq!(overlaps(&[(5, 8), (0, 10)]), [(0, 1)]);
        // A window inside a long one is found even after a short one in between.
        assert_eq!(overlaps(&[(0, 100), (10, 20), (50, 60)]), [(1, 0), (2, 0)]);
        let same = [(0, 0x1000); 5];
        assert_eq!(overlaps(&same).len(), 4);
    }
}
