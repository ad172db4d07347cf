//! Permission changes: rewrite the attributes of every present leaf in a range.

use axvm_types::MappingFlags;

use super::{PageTable, slot_end};
use crate::format::{NestedFormat, PageSize, shift, span};
use crate::hal::AxMmHal;

impl<F: NestedFormat, H: AxMmHal> PageTable<F, H> {
    /// Gives every present leaf inside `[start, end)` the attributes of `flags`,
    /// keeping its address. `start` and `end` must be leaf boundaries (see
    /// [`split_at`](Self::split_at)); the caller invalidates the TLB afterwards.
    pub(crate) fn protect(&mut self, start: usize, end: usize, flags: MappingFlags) {
        let attrs = [PageSize::Size4K, PageSize::Size2M, PageSize::Size1G]
            .map(|page| self.format.leaf_attrs(flags, page));
        let end = end.min(self.geometry.input_limit());
        if start < end {
            self.protect_in(self.root, self.geometry.root_height(), start, end, &attrs);
        }
    }

    fn protect_in(
        &mut self,
        table: u64,
        height: usize,
        start: usize,
        end: usize,
        attrs: &[u64; 3],
    ) {
        // SAFETY: `table` is a table of this tree at `height`; children are other frames.
        let entries = unsafe { self.entries(table, height) };
        let first = (start >> shift(height)) & entries.len().wrapping_sub(1);
        let mut cursor = start;
        for entry in entries.iter_mut().skip(first) {
            if cursor >= end {
                break;
            }
            let stop = slot_end(cursor, height);
            if self.format.is_present(*entry) {
                if height > 0 && self.format.is_table(*entry, height) {
                    let child = self.format.decode_pa(*entry);
                    self.protect_in(child, height.wrapping_sub(1), cursor, stop.min(end), attrs);
                } else if cursor & span(height).wrapping_sub(1) == 0 && stop <= end {
                    let attr = attrs.get(height).copied().unwrap_or_default();
                    *entry = attr | self.format.encode_pa(self.format.decode_pa(*entry));
                }
            }
            cursor = stop;
        }
    }
}
