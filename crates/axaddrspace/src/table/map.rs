//! Mapping: one pass down the tree that fills whole runs of entries per table,
//! using the largest block the alignment and the source allow.

use axvm_types::{AxVmError, AxVmResult, MappingFlags};

use super::{PageTable, slot_end};
use crate::format::{NestedFormat, PageSize, shift, span};
use crate::hal::AxMmHal;

/// Supplies the host memory behind a mapping, block by block.
pub(crate) trait BlockSource {
    /// The host address backing the block of `size` at `gpa`, or `None` to have
    /// the engine use smaller blocks (never `None` for 4 KiB).
    fn block(&mut self, gpa: usize, size: PageSize) -> AxVmResult<Option<u64>>;
}

impl<F: NestedFormat, H: AxMmHal> PageTable<F, H> {
    /// Maps `[gpa, gpa + size)` with `flags`, asking `source` for each block.
    ///
    /// The range must be empty, page aligned and inside the input limit. On error
    /// the part already mapped stays mapped: the caller removes the whole range.
    pub(crate) fn map(
        &mut self,
        gpa: usize,
        size: usize,
        flags: MappingFlags,
        source: &mut impl BlockSource,
    ) -> AxVmResult {
        let attrs = [PageSize::Size4K, PageSize::Size2M, PageSize::Size1G]
            .map(|page| self.format.leaf_attrs(flags, page));
        let end = gpa.checked_add(size).ok_or(AxVmError::InvalidInput)?;
        let mut cursor = gpa;
        self.map_in(
            self.root,
            self.geometry.root_height(),
            &mut cursor,
            end,
            &attrs,
            source,
        )
    }

    /// Maps from `*cursor` to `end` (both inside this table's span) in the table
    /// at `table`, advancing `*cursor` past what it mapped.
    fn map_in(
        &mut self,
        table: u64,
        height: usize,
        cursor: &mut usize,
        end: usize,
        attrs: &[u64; 3],
        source: &mut impl BlockSource,
    ) -> AxVmResult {
        // SAFETY: `table` is a table of this tree at `height`; the child tables
        // this loop descends into are other frames.
        let entries = unsafe { self.entries(table, height) };
        let mut index = (*cursor >> shift(height)) & entries.len().wrapping_sub(1);
        let leaf = PageSize::at_height(height);
        while *cursor < end {
            if let Some(size) = leaf.filter(|size| size.is_aligned(*cursor)) {
                index = self.map_run(entries, index, cursor, end, size, attrs, source)?;
                if *cursor >= end {
                    break;
                }
            }
            // The slot needs a table: unaligned, shorter than a block, refused by
            // the source, or already a table.
            let stop = slot_end(*cursor, height).min(end);
            let entry = entries.get_mut(index).ok_or(AxVmError::BadState)?;
            let child = if *entry == 0 {
                if height == 0 {
                    return Err(AxVmError::NoMemory);
                }
                let child = self.alloc_frames(1)?;
                *entry = self.format.table_entry(child);
                child
            } else if height > 0 && self.format.is_table(*entry, height) {
                self.format.decode_pa(*entry)
            } else {
                return Err(AxVmError::AlreadyExists);
            };
            self.map_in(child, height.wrapping_sub(1), cursor, stop, attrs, source)?;
            index = index.wrapping_add(1);
        }
        Ok(())
    }

    /// Fills leaves of `size` from `index` on while whole blocks remain before
    /// `end`, the entries are empty and the source agrees; returns the next index.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn map_run(
        &self,
        entries: &mut [u64],
        index: usize,
        cursor: &mut usize,
        end: usize,
        size: PageSize,
        attrs: &[u64; 3],
        source: &mut impl BlockSource,
    ) -> AxVmResult<usize> {
        let whole = end.wrapping_sub(*cursor) >> shift(size.height());
        let Some(run) = entries
            .get_mut(index..)
            .map(|rest| rest.iter_mut().take(whole))
        else {
            return Err(AxVmError::BadState);
        };
        let attr = attrs.get(size.height()).copied().unwrap_or_default();
        let step = span(size.height());
        let mut next = index;
        for entry in run {
            if *entry != 0 {
                break;
            }
            let Some(hpa) = source.block(*cursor, size)? else {
                break;
            };
            *entry = attr | self.format.encode_pa(hpa);
            *cursor = cursor.wrapping_add(step);
            next = next.wrapping_add(1);
        }
        Ok(next)
    }
}
