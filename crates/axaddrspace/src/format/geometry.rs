//! Table geometry shared by all formats: 4 KiB pages, 512-entry tables below the
//! root, and a root whose width follows from the levels and the input width.

#![allow(clippy::arithmetic_side_effects)] // shifts of validated geometries (levels 3..=4, <= 56 bits)

use axvm_types::{AxVmError, AxVmResult};

/// Bits translated by a 512-entry table.
const INDEX_BITS: u32 = 9;
/// Bits of the offset inside a 4 KiB page.
const PAGE_BITS: u32 = 12;
/// Entries of a non-root table.
pub(crate) const TABLE_ENTRIES: usize = 512;

/// The size of one leaf mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PageSize {
    /// A 4 KiB page (height 0).
    Size4K,
    /// A 2 MiB block (height 1).
    Size2M,
    /// A 1 GiB block (height 2).
    Size1G,
}

impl PageSize {
    /// Every size, largest first: the order in which mappings try them.
    pub const LARGEST_FIRST: [PageSize; 3] = [PageSize::Size1G, PageSize::Size2M, PageSize::Size4K];

    /// The size in bytes.
    #[must_use]
    pub const fn bytes(self) -> usize {
        match self {
            PageSize::Size4K => 0x1000,
            PageSize::Size2M => 0x20_0000,
            PageSize::Size1G => 0x4000_0000,
        }
    }

    /// The table height whose entries map this size.
    #[must_use]
    pub const fn height(self) -> usize {
        match self {
            PageSize::Size4K => 0,
            PageSize::Size2M => 1,
            PageSize::Size1G => 2,
        }
    }

    /// The leaf size of entries at `height`, if leaves may sit there.
    #[must_use]
    pub const fn at_height(height: usize) -> Option<PageSize> {
        match height {
            0 => Some(PageSize::Size4K),
            1 => Some(PageSize::Size2M),
            2 => Some(PageSize::Size1G),
            _ => None,
        }
    }

    /// Whether `addr` is a multiple of this size.
    #[must_use]
    pub const fn is_aligned(self, addr: usize) -> bool {
        addr & (self.bytes() - 1) == 0
    }
}

/// Levels and guest-physical input width of a nested page table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Geometry {
    levels: u8,
    gpa_bits: u8,
}

impl Geometry {
    /// A geometry of `levels` levels translating `gpa_bits`-bit addresses.
    ///
    /// The root resolves what the lower levels leave, between 1 and 13 bits (at
    /// most 16 concatenated 4 KiB tables); other combinations are `InvalidInput`.
    pub const fn new(levels: u8, gpa_bits: u8) -> AxVmResult<Self> {
        let below_root = match levels {
            3 => PAGE_BITS + 2 * INDEX_BITS,
            4 => PAGE_BITS + 3 * INDEX_BITS,
            _ => return Err(AxVmError::InvalidInput),
        };
        let bits = gpa_bits as u32;
        if bits <= below_root || bits > below_root + INDEX_BITS + 4 {
            return Err(AxVmError::InvalidInput);
        }
        Ok(Self { levels, gpa_bits })
    }

    /// A geometry a format fixes by its definition; its tests check it with [`Geometry::new`].
    pub(crate) const fn fixed(levels: u8, gpa_bits: u8) -> Self {
        Self { levels, gpa_bits }
    }

    /// Number of translation levels.
    #[must_use]
    pub const fn levels(self) -> u8 {
        self.levels
    }

    /// Width of the guest-physical input address, in bits.
    #[must_use]
    pub const fn gpa_bits(self) -> u8 {
        self.gpa_bits
    }

    /// Height of the root table (`levels - 1`).
    #[must_use]
    pub const fn root_height(self) -> usize {
        self.levels.saturating_sub(1) as usize
    }

    /// Number of entries of the root table.
    #[must_use]
    pub const fn root_entries(self) -> usize {
        1 << (self.gpa_bits as u32 - shift(self.root_height()))
    }

    /// Number of 4 KiB frames of the root table (concatenated roots span several).
    #[must_use]
    pub const fn root_frames(self) -> usize {
        let frames = self.root_entries() / TABLE_ENTRIES;
        if frames == 0 { 1 } else { frames }
    }

    /// The first guest-physical address the tables cannot translate.
    #[must_use]
    pub const fn input_limit(self) -> usize {
        1 << self.gpa_bits
    }

    /// Number of entries of a table at `height`.
    pub(crate) const fn entries(self, height: usize) -> usize {
        if height == self.root_height() {
            self.root_entries()
        } else {
            TABLE_ENTRIES
        }
    }
}

/// Bit position of the lowest address bit a table at `height` resolves.
pub(crate) const fn shift(height: usize) -> u32 {
    PAGE_BITS + INDEX_BITS * height as u32
}

/// Bytes covered by one entry of a table at `height`.
pub(crate) const fn span(height: usize) -> usize {
    1 << shift(height)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_follow_levels_and_input_width() {
        let ept = Geometry::new(4, 48).unwrap();
        assert_eq!(
            (ept.root_entries(), ept.root_frames(), ept.root_height()),
            (512, 1, 3)
        );
        let sv39x4 = Geometry::new(3, 41).unwrap();
        assert_eq!((sv39x4.root_entries(), sv39x4.root_frames()), (2048, 4));
        let sv48x4 = Geometry::new(4, 50).unwrap();
        assert_eq!((sv48x4.root_entries(), sv48x4.root_frames()), (2048, 4));
        let ipa32 = Geometry::new(3, 32).unwrap();
        assert_eq!((ipa32.root_entries(), ipa32.root_frames()), (4, 1));
        assert_eq!(sv39x4.input_limit(), 1 << 41);
        assert_eq!(sv39x4.entries(2), 2048);
        assert_eq!(sv39x4.entries(1), 512);
    }

    #[test]
    fn impossible_geometries_are_rejected() {
        assert_eq!(Geometry::new(2, 30), Err(AxVmError::InvalidInput));
        assert_eq!(Geometry::new(5, 57), Err(AxVmError::InvalidInput));
        assert_eq!(Geometry::new(3, 30), Err(AxVmError::InvalidInput));
        assert_eq!(Geometry::new(3, 44), Err(AxVmError::InvalidInput));
        assert!(Geometry::new(3, 43).is_ok());
        assert_eq!(Geometry::new(4, 53), Err(AxVmError::InvalidInput));
        assert_eq!(Geometry::new(4, 255), Err(AxVmError::InvalidInput));
    }

    #[test]
    fn page_sizes_know_their_height_and_alignment() {
        for size in PageSize::LARGEST_FIRST {
            assert_eq!(PageSize::at_height(size.height()), Some(size));
            assert_eq!(span(size.height()), size.bytes());
            assert!(size.is_aligned(0x4000_0000));
            assert!(!size.is_aligned(0x4000_0800));
        }
        assert_eq!(PageSize::at_height(3), None);
    }
}
