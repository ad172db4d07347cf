//! The x86 Linux boot protocol (Documentation/arch/x86/boot.rst) for a 32-bit loader:
//! the bzImage's setup header ([`SetupHeader`]), where its kernel and initrd go in guest
//! memory ([`kernel_load_address`], [`initrd_address`]), and the zero page
//! ([`ZeroPage`], with the guest's e820 map from [`e820_map`]) the kernel finds in ESI
//! at its 32-bit entry.
//!
//! ```
//! use axvm::bzimage::{SetupHeader, ZeroPage, e820_map, kernel_load_address};
//! use axvm_types::{VmMemConfig, VmMemMappingType};
//!
//! // The header fields a loader reads, as a real bzImage has them.
//! let mut image = vec![0u8; 0x2000];
//! image[0x1f1] = 3; // setup_sects
//! image[0x1fe..0x200].copy_from_slice(&0xaa55u16.to_le_bytes());
//! image[0x201] = 0x6a; // the header ends at 0x202 + 0x6a
//! image[0x202..0x206].copy_from_slice(b"HdrS");
//! image[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
//! image[0x211] = 1; // LOADED_HIGH
//! image[0x214..0x218].copy_from_slice(&0x10_0000u32.to_le_bytes());
//! image[0x260..0x264].copy_from_slice(&0x40_0000u32.to_le_bytes()); // init_size
//! let header = SetupHeader::parse(&image).unwrap();
//! assert_eq!(header.kernel_offset(), 0x800);
//!
//! let ram = [VmMemConfig { gpa: 0, size: 0x800_0000, flags: 0x7, map_type: VmMemMappingType::MapAlloc }];
//! let map = e820_map(&ram);
//! let load = kernel_load_address(&header, header.kernel(&image).len(), &map).unwrap();
//! assert_eq!(load, 0x10_0000);
//! let mut zero_page = ZeroPage::new(&image, header.header_end).unwrap();
//! zero_page.set_e820(&map).unwrap();
//! assert_eq!(zero_page.as_bytes()[0x1e8], 3); // RAM, the legacy hole, RAM
//! ```

mod header;
#[cfg(test)]
mod tests;
mod zero_page;

pub use self::{
    header::{LOADED_HIGH, MIN_VERSION, SetupHeader, XLF_KERNEL_64},
    zero_page::{E820_MAX, E820Entry, E820Kind, ZERO_PAGE_SIZE, ZeroPage, e820_map},
};

/// Why a bzImage cannot be booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BzImageError {
    /// No "HdrS" setup header with the 0xAA55 boot flag: not a bzImage.
    NotBzImage,
    /// A boot protocol older than [`MIN_VERSION`] (the version found).
    OldProtocol(u16),
    /// A zImage, whose kernel is loaded below 1 MiB.
    NotLoadedHigh,
    /// The image ends inside its header or its setup code.
    Truncated,
    /// More memory ranges than the zero page's e820 table holds.
    TooManyRanges,
    /// No RAM holds the kernel with the `init_size` it needs free.
    NoRoomForKernel,
    /// No RAM below the header's `initrd_addr_max`, clear of the kernel, holds the initrd.
    NoRoomForInitrd,
}

impl core::fmt::Display for BzImageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotBzImage => f.write_str("not a bzImage (no HdrS setup header)"),
            Self::OldProtocol(version) => write!(
                f,
                "boot protocol {}.{:02} is older than 2.10",
                version >> 8,
                version & 0xff
            ),
            Self::NotLoadedHigh => f.write_str("a zImage (loaded low) is not supported"),
            Self::Truncated => f.write_str("the image ends inside its setup code"),
            Self::TooManyRanges => f.write_str("more memory ranges than e820 entries"),
            Self::NoRoomForKernel => f.write_str("no RAM holds the kernel and its init_size"),
            Self::NoRoomForInitrd => f.write_str("no RAM below initrd_addr_max holds the initrd"),
        }
    }
}

/// The granule the initrd is placed at.
const PAGE: u64 = 0x1000;
/// Where extended memory starts: the kernel and the initrd go above it.
const HIGH_START: u64 = 0x10_0000;

/// Whether `[start, start + len)` lies in one RAM entry of `map`.
fn in_ram(map: &[E820Entry], start: u64, len: u64) -> bool {
    let Some(end) = start.checked_add(len) else {
        return false;
    };
    map.iter().any(|entry| {
        entry.kind == E820Kind::Ram
            && entry.addr <= start
            && entry.addr.saturating_add(entry.size) >= end
    })
}

/// The bytes from the load address the kernel needs free: its `init_size`, and at
/// least the protected-mode code itself.
#[must_use]
pub fn kernel_footprint(header: &SetupHeader, kernel_len: usize) -> u64 {
    u64::from(header.init_size).max(kernel_len as u64)
}

/// Where the protected-mode kernel (`kernel_len` bytes) goes: `code32_start` for a
/// kernel that is not relocatable; for a relocatable one its `pref_address`, else
/// `code32_start`, else the lowest suitably aligned address from 1 MiB; always with
/// [`kernel_footprint`] bytes of RAM from there.
///
/// # Errors
///
/// [`BzImageError::NoRoomForKernel`] when no candidate has that much RAM.
pub fn kernel_load_address(
    header: &SetupHeader,
    kernel_len: usize,
    map: &[E820Entry],
) -> Result<u64, BzImageError> {
    let need = kernel_footprint(header, kernel_len);
    let code32 = u64::from(header.code32_start);
    if !header.relocatable {
        return if in_ram(map, code32, need) {
            Ok(code32)
        } else {
            Err(BzImageError::NoRoomForKernel)
        };
    }
    let align = header.alignment();
    let aligned = |addr: u64| addr.checked_next_multiple_of(align);
    let preferred = [header.pref_address, code32]
        .into_iter()
        .filter(|addr| addr.checked_rem(align) == Some(0));
    let region_starts = map
        .iter()
        .filter(|entry| entry.kind == E820Kind::Ram)
        .filter_map(|entry| aligned(entry.addr.max(HIGH_START)));
    preferred
        .chain(region_starts)
        .find(|&addr| addr >= HIGH_START && in_ram(map, addr, need))
        .ok_or(BzImageError::NoRoomForKernel)
}

/// Where an initrd of `size` bytes goes: as high as possible in RAM from 1 MiB, its
/// last byte at most the header's `initrd_addr_max`, page-aligned, clear of every
/// `(start, length)` range of `taken` (the kernel's footprint, the zero page...).
///
/// # Errors
///
/// [`BzImageError::NoRoomForInitrd`] when nothing fits.
pub fn initrd_address(
    header: &SetupHeader,
    size: u64,
    map: &[E820Entry],
    taken: &[(u64, u64)],
) -> Result<u64, BzImageError> {
    let limit = u64::from(header.initrd_addr_max).saturating_add(1);
    let clash = |addr: u64| {
        taken.iter().copied().find(|&(start, len)| {
            addr < start.saturating_add(len) && start < addr.saturating_add(size)
        })
    };
    let mut best = None;
    for entry in map.iter().filter(|entry| entry.kind == E820Kind::Ram) {
        let low = entry.addr.max(HIGH_START);
        let top = entry.addr.saturating_add(entry.size).min(limit);
        let mut candidate = top.checked_sub(size).map(|addr| addr & !(PAGE - 1));
        while let Some(addr) = candidate.filter(|&addr| addr >= low) {
            match clash(addr) {
                // Below what it hit, and try again.
                Some((start, _)) => candidate = start.checked_sub(size).map(|a| a & !(PAGE - 1)),
                None => {
                    best = best.max(Some(addr));
                    break;
                }
            }
        }
    }
    best.ok_or(BzImageError::NoRoomForInitrd)
}
