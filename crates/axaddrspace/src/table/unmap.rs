//! Removal in two passes around the caller's TLB invalidation: `clear` makes the
//! range invisible to the hardware (whole subtrees by one entry), then `reap`
//! frees what the cleared entries pointed at. Blocks straddling the range's
//! edges are first split by `split_at`, the only step that allocates.

use axvm_types::{AxVmError, AxVmResult};

use super::{PageTable, slot_end};
use crate::format::{NestedFormat, PageSize, TABLE_ENTRIES, shift, span};
use crate::hal::AxMmHal;

/// Receives each leaf freed by `reap`: its host address and size.
pub(crate) type LeafSink<'a> = Option<&'a mut dyn FnMut(u64, PageSize)>;

impl<F: NestedFormat, H: AxMmHal> PageTable<F, H> {
    /// Splits the block containing `gpa`, if any, down to the size at which `gpa`
    /// is a leaf boundary. Each split is break-before-make: the block is disabled
    /// and `invalidate(start, size)` called before the table replaces it.
    pub(crate) fn split_at(
        &mut self,
        gpa: usize,
        invalidate: &mut dyn FnMut(usize, usize),
    ) -> AxVmResult {
        if gpa >= self.geometry.input_limit() {
            return Ok(());
        }
        let mut table = self.root;
        let mut height = self.geometry.root_height();
        while height > 0 {
            // SAFETY: `table` is a table of this tree at `height`; the loop holds
            // one table's entries at a time.
            let entries = unsafe { self.entries(table, height) };
            let index = (gpa >> shift(height)) & entries.len().wrapping_sub(1);
            let entry = entries.get_mut(index).ok_or(AxVmError::BadState)?;
            if !self.format.is_present(*entry) {
                return Ok(());
            }
            if !self.format.is_table(*entry, height) {
                let Some(size) = PageSize::at_height(height) else {
                    return Err(AxVmError::BadState);
                };
                if size.is_aligned(gpa) {
                    return Ok(());
                }
                let child = self.split_block(*entry, height)?;
                let block = gpa & !span(height).wrapping_sub(1);
                *entry = self.format.disable(*entry);
                invalidate(block, span(height));
                *entry = self.format.table_entry(child);
            }
            table = self.format.decode_pa(*entry);
            height = height.wrapping_sub(1);
        }
        Ok(())
    }

    /// A new table at `height - 1` mapping what the block `entry` at `height` maps.
    fn split_block(&mut self, entry: u64, height: usize) -> AxVmResult<u64> {
        let lower = height.wrapping_sub(1);
        let size = PageSize::at_height(lower).ok_or(AxVmError::BadState)?;
        let attr = self.format.leaf_attrs(self.format.leaf_flags(entry), size);
        let base = self.format.decode_pa(entry);
        let step = span(lower) as u64;
        let child = self.alloc_frames(1)?;
        // SAFETY: `child` was just allocated for this tree and is not linked yet.
        let entries = unsafe { self.entries(child, lower) };
        let mut pa = base;
        for slot in entries.iter_mut() {
            *slot = attr | self.format.encode_pa(pa);
            pa = pa.wrapping_add(step);
        }
        Ok(child)
    }

    /// Disables every entry that maps only inside `[start, end)`: whole leaves and
    /// whole subtrees, and tables left with nothing present. `start` and `end`
    /// must be leaf boundaries (see [`split_at`](Self::split_at)).
    pub(crate) fn clear(&mut self, start: usize, end: usize) {
        let end = end.min(self.geometry.input_limit());
        if start < end {
            self.clear_in(self.root, self.geometry.root_height(), start, end);
        }
    }

    fn clear_in(&mut self, table: u64, height: usize, start: usize, end: usize) {
        // SAFETY: `table` is a table of this tree at `height`; children are other frames.
        let entries = unsafe { self.entries(table, height) };
        let first = (start >> shift(height)) & entries.len().wrapping_sub(1);
        let mut cursor = start;
        for entry in entries.iter_mut().skip(first) {
            if cursor >= end {
                break;
            }
            let slot_start = cursor & !span(height).wrapping_sub(1);
            let stop = slot_end(cursor, height);
            if self.format.is_present(*entry) {
                if cursor == slot_start && stop <= end {
                    *entry = self.format.disable(*entry);
                } else if height > 0 && self.format.is_table(*entry, height) {
                    let child = self.format.decode_pa(*entry);
                    let lower = height.wrapping_sub(1);
                    self.clear_in(child, lower, cursor, stop.min(end));
                    if !self.has_present(child, lower) {
                        *entry = self.format.disable(*entry);
                    }
                }
            }
            cursor = stop;
        }
    }

    /// Frees what `clear` disabled in `[start, end)` (call after invalidating the
    /// TLB), reporting freed leaves to `on_leaf`, and zeroes those entries. Every
    /// nonzero entry wholly inside the range goes, present or not, so after a
    /// full-TLB invalidation `reap` alone empties a range.
    pub(crate) fn reap(&mut self, start: usize, end: usize, mut on_leaf: LeafSink<'_>) {
        let end = end.min(self.geometry.input_limit());
        if start < end {
            self.reap_in(
                self.root,
                self.geometry.root_height(),
                start,
                end,
                &mut on_leaf,
            );
        }
    }

    fn reap_in(
        &mut self,
        table: u64,
        height: usize,
        start: usize,
        end: usize,
        on_leaf: &mut LeafSink<'_>,
    ) {
        // SAFETY: `table` is a table of this tree at `height`; children are other frames.
        let entries = unsafe { self.entries(table, height) };
        let first = (start >> shift(height)) & entries.len().wrapping_sub(1);
        let mut cursor = start;
        for entry in entries.iter_mut().skip(first) {
            if cursor >= end {
                break;
            }
            let slot_start = cursor & !span(height).wrapping_sub(1);
            let stop = slot_end(cursor, height);
            let whole = cursor == slot_start && stop <= end;
            if *entry != 0 && (whole || !self.format.is_present(*entry)) {
                let target = self.format.decode_pa(*entry);
                if height > 0 && self.format.is_table(*entry, height) {
                    self.free_subtree(target, height.wrapping_sub(1), on_leaf);
                } else if let (Some(sink), Some(size)) =
                    (on_leaf.as_mut(), PageSize::at_height(height))
                {
                    sink(target, size);
                }
                *entry = 0;
            } else if *entry != 0 && height > 0 && self.format.is_table(*entry, height) {
                let child = self.format.decode_pa(*entry);
                let lower = height.wrapping_sub(1);
                self.reap_in(child, lower, cursor, stop.min(end), on_leaf);
                if self.is_empty(child, lower) {
                    self.free_subtree(child, lower, &mut None);
                    *entry = 0;
                }
            }
            cursor = stop;
        }
    }

    /// Whether the table at `pa` has no entry at all.
    fn is_empty(&self, pa: u64, height: usize) -> bool {
        // SAFETY: `pa` is a table of this tree; the slice is dropped before return.
        let entries = unsafe { self.entries(pa, height) };
        entries.len() == TABLE_ENTRIES && entries.iter().all(|entry| *entry == 0)
    }
}
