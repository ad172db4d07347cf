//! The table engine shared by every format: allocation of tables, walks, and the
//! run-at-a-time map, unmap and protect passes (in `map`, `unmap`, `protect`).
//!
//! Heights count from the leaves (see [`NestedFormat`]). Addresses reaching the
//! engine have been checked by the address space: every guest address is below
//! the format's input limit (at most 2^56) and every host address below its
//! output limit, so the wrapping arithmetic here never wraps.

mod map;
mod protect;
mod unmap;

use core::marker::PhantomData;

use axvm_types::{AxVmError, AxVmResult, HostPhysAddr, MappingFlags, NestedPagingConfig};

pub(crate) use map::BlockSource;
pub(crate) use unmap::LeafSink;

use crate::{
    format::{Geometry, NestedFormat, PageSize, TABLE_ENTRIES, shift, span},
    hal::{AxMmHal, FRAME_SIZE},
};

/// A nested page table of format `F` whose frames come from `H`.
pub(crate) struct PageTable<F: NestedFormat, H: AxMmHal> {
    format: F,
    geometry: Geometry,
    root: u64,
    root_mask: usize,
    root_height: usize,
    input_limit: usize,
    output_limit: u64,
    _hal: PhantomData<fn() -> H>,
}

/// What a walk found for one guest address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// A present leaf: the entry and its size.
    Mapped(u64, PageSize),
    /// Nothing is mapped in the whole aligned span around the address that an
    /// entry at this height covers (the walk stopped at an empty entry there).
    Vacant(usize),
    /// The address is beyond the format's input width.
    Outside,
}

impl<F: NestedFormat, H: AxMmHal> PageTable<F, H> {
    /// An empty table: allocates and zeroes the root (several contiguous frames,
    /// aligned to its size, for concatenated and x4 roots).
    pub(crate) fn new(format: F) -> AxVmResult<Self> {
        let geometry = format.geometry();
        let output_limit = 1u64
            .checked_shl(u32::from(format.output_bits()))
            .unwrap_or(0);
        let root = Self::alloc_zeroed(output_limit, geometry.root_frames())?;
        Ok(Self {
            format,
            geometry,
            root,
            root_mask: geometry.root_entries().wrapping_sub(1),
            root_height: geometry.root_height(),
            input_limit: geometry.input_limit(),
            output_limit,
            _hal: PhantomData,
        })
    }

    pub(crate) fn format(&self) -> &F {
        &self.format
    }

    pub(crate) fn root(&self) -> HostPhysAddr {
        HostPhysAddr::from(self.root as usize)
    }

    pub(crate) fn paging_config(&self) -> NestedPagingConfig {
        self.format.paging_config(self.root())
    }

    /// The first host physical address entries cannot hold (0: all of them fit).
    pub(crate) fn output_limit(&self) -> u64 {
        self.output_limit
    }

    /// Walks the tables for `gpa`.
    #[inline]
    pub(crate) fn lookup(&self, gpa: usize) -> Lookup {
        if gpa >= self.input_limit {
            return Lookup::Outside;
        }
        let mut table = self.root;
        let mut height = self.root_height;
        let mut mask = self.root_mask;
        loop {
            let index = (gpa >> shift(height)) & mask;
            // SAFETY: `table` is a live table of this tree with more than `mask`
            // entries (the root has `root_mask + 1`, the others 512), so the read
            // is in bounds; `&self` excludes concurrent writers.
            let entry = unsafe { self.table_ptr(table).add(index).read() };
            if !self.format.is_present(entry) {
                return Lookup::Vacant(height);
            }
            if height == 0 || !self.format.is_table(entry, height) {
                return match PageSize::at_height(height) {
                    Some(size) => Lookup::Mapped(entry, size),
                    None => Lookup::Outside,
                };
            }
            table = self.format.decode_pa(entry);
            height = height.wrapping_sub(1);
            mask = TABLE_ENTRIES.wrapping_sub(1);
        }
    }

    /// The host address `gpa` is mapped to: [`lookup`](Self::lookup) without
    /// decoding flags and size, the hot path of guest memory access.
    #[inline]
    pub(crate) fn translate_pa(&self, gpa: usize) -> Option<u64> {
        if gpa >= self.input_limit {
            return None;
        }
        let mut table = self.root;
        let mut height = self.root_height;
        let mut mask = self.root_mask;
        loop {
            let shift = shift(height);
            // SAFETY: as in `lookup`.
            let entry = unsafe { self.table_ptr(table).add((gpa >> shift) & mask).read() };
            if !self.format.is_present(entry) {
                return None;
            }
            if height == 0 || !self.format.is_table(entry, height) {
                let offset = gpa & span(height).wrapping_sub(1);
                return Some(self.format.decode_pa(entry) | offset as u64);
            }
            table = self.format.decode_pa(entry);
            height = height.wrapping_sub(1);
            mask = TABLE_ENTRIES.wrapping_sub(1);
        }
    }

    /// The host address, flags and leaf size mapping `gpa`.
    #[inline]
    pub(crate) fn translate(&self, gpa: usize) -> Option<(u64, MappingFlags, PageSize)> {
        match self.lookup(gpa) {
            Lookup::Mapped(entry, size) => {
                let offset = (gpa & size.bytes().wrapping_sub(1)) as u64;
                Some((
                    self.format.decode_pa(entry) | offset,
                    self.format.leaf_flags(entry),
                    size,
                ))
            }
            Lookup::Vacant(_) | Lookup::Outside => None,
        }
    }

    /// Allocates `count` zeroed frames for a table (contiguous and aligned to
    /// their size when more than one) whose address an entry can hold.
    fn alloc_frames(&self, count: usize) -> AxVmResult<u64> {
        Self::alloc_zeroed(self.output_limit, count)
    }

    fn alloc_zeroed(output_limit: u64, count: usize) -> AxVmResult<u64> {
        let bytes = count
            .checked_mul(FRAME_SIZE)
            .ok_or(AxVmError::InvalidInput)?;
        let frame = if count == 1 {
            H::alloc_frame()
        } else {
            H::alloc_contiguous_frames(count, bytes.trailing_zeros())
        }
        .ok_or(AxVmError::NoMemory)?;
        let pa = frame.as_usize() as u64;
        let fits = output_limit == 0
            || pa
                .checked_add(bytes as u64)
                .is_some_and(|end| end <= output_limit);
        if !fits || pa.checked_rem(bytes as u64) != Some(0) {
            Self::dealloc_frames(pa, count);
            return Err(AxVmError::BadAddress);
        }
        // SAFETY: the HAL handed us these `count` frames for our exclusive use and
        // maps them writable at `phys_to_virt`.
        unsafe { core::ptr::write_bytes(H::phys_to_virt(frame).as_mut_ptr(), 0, bytes) };
        Ok(pa)
    }

    fn dealloc_frames(pa: u64, count: usize) {
        let frame = HostPhysAddr::from(pa as usize);
        if count == 1 {
            H::dealloc_frame(frame);
        } else {
            H::dealloc_contiguous_frames(frame, count);
        }
    }

    /// The first entry of the table at `pa`.
    #[inline]
    fn table_ptr(&self, pa: u64) -> *mut u64 {
        H::phys_to_virt(HostPhysAddr::from(pa as usize)).as_mut_ptr_of::<u64>()
    }

    /// The entries of the table at `pa`, of height `height`.
    ///
    /// # Safety
    ///
    /// `pa` must be a table of this tree at `height`, and no other reference to
    /// its entries may be live while the returned one is: a frame appears once
    /// in the tree, so slices of a parent and of its child never alias.
    #[inline]
    unsafe fn entries<'a>(&self, pa: u64, height: usize) -> &'a mut [u64] {
        // SAFETY: per the contract, `pa` is one of our tables, which holds
        // `entries(height)` initialised u64s at `phys_to_virt(pa)`, unaliased.
        unsafe {
            core::slice::from_raw_parts_mut(self.table_ptr(pa), self.geometry.entries(height))
        }
    }

    /// Frees the table at `pa` (height `height`) and every table below it,
    /// reporting each leaf (present or disabled) to `on_leaf` if given.
    fn free_subtree(
        &mut self,
        pa: u64,
        height: usize,
        on_leaf: &mut Option<&mut dyn FnMut(u64, PageSize)>,
    ) {
        if height > 0 || on_leaf.is_some() {
            // SAFETY: `pa` is a table of this tree at `height`, detached from its
            // parent or about to be; nothing else refers to its entries.
            let entries = unsafe { self.entries(pa, height) };
            for &entry in entries.iter().filter(|entry| **entry != 0) {
                let child = self.format.decode_pa(entry);
                if height > 0 && self.format.is_table(entry, height) {
                    self.free_subtree(child, height.wrapping_sub(1), on_leaf);
                } else if let (Some(sink), Some(size)) =
                    (on_leaf.as_mut(), PageSize::at_height(height))
                {
                    sink(child, size);
                }
            }
        }
        let frames = if height == self.geometry.root_height() {
            self.geometry.root_frames()
        } else {
            1
        };
        Self::dealloc_frames(pa, frames);
    }

    /// Whether the table at `pa` still has an entry the hardware uses.
    fn has_present(&self, pa: u64, height: usize) -> bool {
        // SAFETY: `pa` is a table of this tree; the slice is dropped before return.
        let entries = unsafe { self.entries(pa, height) };
        entries.iter().any(|entry| self.format.is_present(*entry))
    }
}

impl<F: NestedFormat, H: AxMmHal> Drop for PageTable<F, H> {
    /// Frees every table; leaves are the owner's business (the address space
    /// gives its allocated frames back before).
    fn drop(&mut self) {
        let root = self.root;
        self.free_subtree(root, self.geometry.root_height(), &mut None);
    }
}

/// Bytes covered by an entry at `height`, as a guest address span.
#[inline]
fn slot_end(gpa: usize, height: usize) -> usize {
    (gpa | span(height).wrapping_sub(1)).wrapping_add(1)
}
