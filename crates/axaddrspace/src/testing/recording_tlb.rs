//! A TLB that only counts.

use core::cell::Cell;

use axvm_types::{GuestPhysAddrRange, NestedPagingConfig};

use crate::tlb::NestedTlb;

/// Records TLB maintenance so tests can check that it happens.
#[derive(Debug, Default)]
pub struct RecordingTlb {
    invalidations: Cell<usize>,
    publications: Cell<usize>,
    last_invalidated: Cell<Option<GuestPhysAddrRange>>,
}

impl RecordingTlb {
    /// How many invalidations were requested.
    pub fn invalidations(&self) -> usize {
        self.invalidations.get()
    }

    /// How many publications of new entries were requested.
    pub fn publications(&self) -> usize {
        self.publications.get()
    }

    /// The range of the latest invalidation.
    pub fn last_invalidated(&self) -> Option<GuestPhysAddrRange> {
        self.last_invalidated.get()
    }
}

impl NestedTlb for RecordingTlb {
    fn invalidate(&self, _config: &NestedPagingConfig, range: GuestPhysAddrRange) {
        self.invalidations
            .set(self.invalidations.get().wrapping_add(1));
        self.last_invalidated.set(Some(range));
    }

    fn publish(&self, _config: &NestedPagingConfig, _range: GuestPhysAddrRange) {
        self.publications
            .set(self.publications.get().wrapping_add(1));
    }
}
