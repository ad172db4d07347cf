//! The setup header of a bzImage (boot protocol 2.10 and later), read from the image.

use super::BzImageError;

/// Where the setup header starts in the image (and in the zero page).
pub const HEADER_OFFSET: usize = 0x1f1;
/// The offset of the header's "HdrS" magic.
const MAGIC_OFFSET: usize = 0x202;
/// The magic.
const MAGIC: [u8; 4] = *b"HdrS";
/// The boot sector signature at 0x1fe.
const BOOT_FLAG: u16 = 0xaa55;
/// The oldest protocol this loader takes: 2.10 added `pref_address`, `init_size` and
/// `min_alignment`, which placement needs (Linux 2.6.31, 2009).
pub const MIN_VERSION: u16 = 0x020a;
/// `setup_sects` of 0 means 4 (boot.rst).
const DEFAULT_SETUP_SECTS: u8 = 4;
/// A sector.
const SECTOR: usize = 512;
/// `loadflags` bit 0: the protected-mode code is loaded at 0x100000.
pub const LOADED_HIGH: u8 = 1 << 0;
/// `xloadflags` bit 0: the kernel has the 64-bit entry point at `load + 0x200`.
pub const XLF_KERNEL_64: u16 = 1 << 0;

/// What a loader needs from a bzImage's setup header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetupHeader {
    /// Sectors of real-mode setup code after the boot sector (0 in the file reads 4).
    pub setup_sects: u8,
    /// The boot protocol version (`0x020f` is 2.15).
    pub version: u16,
    /// `loadflags`.
    pub loadflags: u8,
    /// Where a non-relocated kernel's 32-bit entry is (normally 0x100000).
    pub code32_start: u32,
    /// The highest address the initrd may occupy (its last byte).
    pub initrd_addr_max: u32,
    /// The alignment a relocatable kernel needs.
    pub kernel_alignment: u32,
    /// Whether the kernel may be loaded at any `kernel_alignment`-aligned address.
    pub relocatable: bool,
    /// The smallest alignment, as a power of two, the kernel accepts.
    pub min_alignment: u8,
    /// `xloadflags`.
    pub xloadflags: u16,
    /// The longest command line, without its NUL.
    pub cmdline_size: u32,
    /// Where a relocatable kernel prefers to be loaded.
    pub pref_address: u64,
    /// The memory the kernel needs from its load address before it relocates or
    /// decompresses itself: to be kept free.
    pub init_size: u32,
    /// The end of the header in the image (0x202 plus the byte at 0x201): the bytes a
    /// loader copies into the zero page.
    pub header_end: usize,
}

fn u8_at(image: &[u8], offset: usize) -> Result<u8, BzImageError> {
    image.get(offset).copied().ok_or(BzImageError::Truncated)
}

fn u16_at(image: &[u8], offset: usize) -> Result<u16, BzImageError> {
    let bytes = image
        .get(offset..offset.saturating_add(2))
        .and_then(|bytes| <[u8; 2]>::try_from(bytes).ok())
        .ok_or(BzImageError::Truncated)?;
    Ok(u16::from_le_bytes(bytes))
}

fn u32_at(image: &[u8], offset: usize) -> Result<u32, BzImageError> {
    let bytes = image
        .get(offset..offset.saturating_add(4))
        .and_then(|bytes| <[u8; 4]>::try_from(bytes).ok())
        .ok_or(BzImageError::Truncated)?;
    Ok(u32::from_le_bytes(bytes))
}

fn u64_at(image: &[u8], offset: usize) -> Result<u64, BzImageError> {
    let low = u32_at(image, offset)?;
    let high = u32_at(image, offset.saturating_add(4))?;
    Ok(u64::from(low) | (u64::from(high) << 32))
}

impl SetupHeader {
    /// Reads the setup header of `image`.
    ///
    /// # Errors
    ///
    /// [`BzImageError::NotBzImage`] without the "HdrS" magic or the 0xAA55 boot flag,
    /// [`BzImageError::OldProtocol`] before protocol 2.10, [`BzImageError::NotLoadedHigh`]
    /// for a zImage (its kernel is loaded low), [`BzImageError::Truncated`] when the
    /// image ends inside the header or the setup code.
    pub fn parse(image: &[u8]) -> Result<Self, BzImageError> {
        let magic = image.get(MAGIC_OFFSET..MAGIC_OFFSET.saturating_add(MAGIC.len()));
        if magic.ok_or(BzImageError::Truncated)? != MAGIC || u16_at(image, 0x1fe)? != BOOT_FLAG {
            return Err(BzImageError::NotBzImage);
        }
        let version = u16_at(image, 0x206)?;
        if version < MIN_VERSION {
            return Err(BzImageError::OldProtocol(version));
        }
        let loadflags = u8_at(image, 0x211)?;
        if loadflags & LOADED_HIGH == 0 {
            return Err(BzImageError::NotLoadedHigh);
        }
        let setup_sects = match u8_at(image, HEADER_OFFSET)? {
            0 => DEFAULT_SETUP_SECTS,
            sects => sects,
        };
        let header = Self {
            setup_sects,
            version,
            loadflags,
            code32_start: u32_at(image, 0x214)?,
            initrd_addr_max: u32_at(image, 0x22c)?,
            kernel_alignment: u32_at(image, 0x230)?,
            relocatable: u8_at(image, 0x234)? != 0,
            min_alignment: u8_at(image, 0x235)?,
            xloadflags: u16_at(image, 0x236)?,
            cmdline_size: u32_at(image, 0x238)?,
            pref_address: u64_at(image, 0x258)?,
            init_size: u32_at(image, 0x260)?,
            header_end: MAGIC_OFFSET.saturating_add(usize::from(u8_at(image, 0x201)?)),
        };
        if image.len() < header.kernel_offset() {
            return Err(BzImageError::Truncated);
        }
        Ok(header)
    }

    /// Where the protected-mode kernel starts in the file: after the boot sector and
    /// the setup sectors.
    #[must_use]
    pub fn kernel_offset(&self) -> usize {
        usize::from(self.setup_sects)
            .saturating_add(1)
            .saturating_mul(SECTOR)
    }

    /// The protected-mode kernel of `image` (the part loaded at the load address).
    #[must_use]
    pub fn kernel<'a>(&self, image: &'a [u8]) -> &'a [u8] {
        image.get(self.kernel_offset()..).unwrap_or(&[])
    }

    /// The alignment a relocated load address needs: `kernel_alignment`, or 2 MiB
    /// when the header gives none that is a power of two.
    #[must_use]
    pub fn alignment(&self) -> u64 {
        let align = u64::from(self.kernel_alignment);
        if align.is_power_of_two() {
            align
        } else {
            0x20_0000
        }
    }
}
