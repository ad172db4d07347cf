//! Choosing between page-by-page and whole-context invalidation, for the
//! architectures whose instructions take an address.

use axvm_types::GuestPhysAddrRange;

/// Above this many pages, invalidating the whole VMID is cheaper than page by page.
const PAGE_FLUSH_LIMIT: usize = 64;

/// The 4 KiB pages of `range` when few enough to invalidate one by one, `None`
/// when the whole context should be invalidated instead.
pub fn pages_to_flush(range: GuestPhysAddrRange) -> Option<impl Iterator<Item = usize>> {
    let start = range.start.as_usize() & !0xfff;
    let pages = range.end.as_usize().saturating_sub(start).div_ceil(0x1000);
    (pages <= PAGE_FLUSH_LIMIT).then(|| (0..pages).map(move |page| start.wrapping_add(page << 12)))
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;

    #[test]
    fn small_ranges_flush_page_by_page_large_ones_whole() {
        let range = GuestPhysAddrRange::new(0x1800.into(), 0x3001.into());
        let pages: Vec<usize> = pages_to_flush(range).unwrap().collect();
        assert_eq!(pages, [0x1000, 0x2000, 0x3000]);
        let range = GuestPhysAddrRange::from_start_size(0.into(), 0x4_1000);
        assert!(pages_to_flush(range).is_none());
        let range = GuestPhysAddrRange::from_start_size(0.into(), 0x4_0000);
        assert_eq!(pages_to_flush(range).unwrap().count(), 64);
    }
}
