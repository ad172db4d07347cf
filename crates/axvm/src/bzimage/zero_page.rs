//! The zero page (`struct boot_params`, Documentation/arch/x86/zero-page.rst) a 32-bit
//! loader hands the kernel in ESI.

use alloc::vec::Vec;

use axvm_types::{MappingFlags, VmMemConfig};

use super::{BzImageError, header::HEADER_OFFSET};

/// The zero page's size.
pub const ZERO_PAGE_SIZE: usize = 4096;
/// The most e820 entries the zero page holds.
pub const E820_MAX: usize = 128;
/// `e820_entries`.
const E820_COUNT: usize = 0x1e8;
/// `e820_table`.
const E820_TABLE: usize = 0x2d0;
/// One e820 entry: address, size (u64 each), type (u32).
const E820_ENTRY: usize = 20;
/// `type_of_loader`: 0xff, a loader without an assigned id.
const TYPE_OF_LOADER: usize = 0x210;
/// `ramdisk_image`, `ramdisk_size`, `cmd_line_ptr` and their high halves.
const RAMDISK_IMAGE: usize = 0x218;
const RAMDISK_SIZE: usize = 0x21c;
const CMD_LINE_PTR: usize = 0x228;
const EXT_RAMDISK_IMAGE: usize = 0x0c0;
const EXT_RAMDISK_SIZE: usize = 0x0c4;
const EXT_CMD_LINE_PTR: usize = 0x0c8;
/// The end of conventional memory and the start of extended memory: between them
/// PC firmware reports the video memory and the BIOS ROMs, reserved.
const LOW_END: u64 = 0xa_0000;
const HIGH_START: u64 = 0x10_0000;

/// What an e820 entry says of its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum E820Kind {
    /// Usable RAM.
    Ram = 1,
    /// Reserved: not for the kernel's allocator.
    Reserved = 2,
}

/// One range of the guest's physical memory map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct E820Entry {
    /// The first address.
    pub addr: u64,
    /// Bytes.
    pub size: u64,
    /// What it is.
    pub kind: E820Kind,
}

/// The e820 map of a VM with `regions`, by address: every region RAM (device regions
/// reserved), except the PC's legacy hole 0xA0000-0x100000, reserved where a region
/// covers it. Empty regions are left out.
#[must_use]
pub fn e820_map(regions: &[VmMemConfig]) -> Vec<E820Entry> {
    let mut map = Vec::new();
    for region in regions.iter().filter(|region| region.size != 0) {
        let start = region.gpa as u64;
        let end = start.saturating_add(region.size as u64);
        let device = region
            .mapping_flags()
            .is_some_and(|flags| flags.contains(MappingFlags::DEVICE));
        let kind = if device {
            E820Kind::Reserved
        } else {
            E820Kind::Ram
        };
        let hole_start = start.max(LOW_END);
        let hole_end = end.min(HIGH_START);
        let mut push = |from: u64, to: u64, kind| {
            if to > from {
                map.push(E820Entry {
                    addr: from,
                    size: to.saturating_sub(from),
                    kind,
                });
            }
        };
        if kind == E820Kind::Ram && hole_start < hole_end {
            push(start, hole_start, E820Kind::Ram);
            push(hole_start, hole_end, E820Kind::Reserved);
            push(hole_end, end, E820Kind::Ram);
        } else {
            push(start, end, kind);
        }
    }
    map.sort_unstable_by_key(|entry| entry.addr);
    map
}

/// A zero page being filled.
#[derive(Clone, PartialEq, Eq)]
pub struct ZeroPage(Vec<u8>);

impl core::fmt::Debug for ZeroPage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ZeroPage").finish_non_exhaustive()
    }
}

impl ZeroPage {
    /// A zeroed page holding the setup header of `image` (from 0x1f1 to
    /// `header_end`, as the image has it) with `type_of_loader` = 0xff.
    ///
    /// # Errors
    ///
    /// [`BzImageError::Truncated`] when the image ends inside the header, or the
    /// header claims to run past the zero page.
    pub fn new(image: &[u8], header_end: usize) -> Result<Self, BzImageError> {
        let mut page = alloc::vec![0; ZERO_PAGE_SIZE];
        let header = image
            .get(HEADER_OFFSET..header_end)
            .ok_or(BzImageError::Truncated)?;
        page.get_mut(HEADER_OFFSET..header_end)
            .ok_or(BzImageError::Truncated)?
            .copy_from_slice(header);
        let mut zero_page = Self(page);
        zero_page.put(TYPE_OF_LOADER, &[0xff]);
        Ok(zero_page)
    }

    fn put(&mut self, offset: usize, bytes: &[u8]) {
        if let Some(field) = self.0.get_mut(offset..offset.saturating_add(bytes.len())) {
            field.copy_from_slice(bytes);
        }
    }

    /// Writes a 64-bit value split into a header field (low half) and its `ext_`
    /// field in the zero page (high half).
    fn put_split(&mut self, low: usize, high: usize, value: u64) {
        self.put(low, &((value & 0xffff_ffff) as u32).to_le_bytes());
        self.put(high, &((value >> 32) as u32).to_le_bytes());
    }

    /// The command line's guest address.
    pub fn set_cmdline(&mut self, gpa: u64) {
        self.put_split(CMD_LINE_PTR, EXT_CMD_LINE_PTR, gpa);
    }

    /// The initrd's guest address and size.
    pub fn set_ramdisk(&mut self, gpa: u64, size: u64) {
        self.put_split(RAMDISK_IMAGE, EXT_RAMDISK_IMAGE, gpa);
        self.put_split(RAMDISK_SIZE, EXT_RAMDISK_SIZE, size);
    }

    /// The memory map.
    ///
    /// # Errors
    ///
    /// [`BzImageError::TooManyRanges`] beyond [`E820_MAX`] entries (nothing written).
    pub fn set_e820(&mut self, map: &[E820Entry]) -> Result<(), BzImageError> {
        let count = u8::try_from(map.len())
            .ok()
            .filter(|&count| usize::from(count) <= E820_MAX)
            .ok_or(BzImageError::TooManyRanges)?;
        self.put(E820_COUNT, &[count]);
        for (index, entry) in map.iter().enumerate() {
            let at = E820_TABLE.saturating_add(index.saturating_mul(E820_ENTRY));
            self.put(at, &entry.addr.to_le_bytes());
            self.put(at.saturating_add(8), &entry.size.to_le_bytes());
            self.put(at.saturating_add(16), &(entry.kind as u32).to_le_bytes());
        }
        Ok(())
    }

    /// The page's bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}
