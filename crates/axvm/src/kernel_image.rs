//! The headers of Linux kernel `Image` files for arm64 and riscv64: where the kernel
//! wants to be placed and how much memory from there it needs (its `.bss` and early
//! page tables included), read from the 64-byte header at the start of the image.
//!
//! A raw binary (no header) is `None`: it is loaded where the config says, as before.
//!
//! ```
//! use axvm::kernel_image::KernelImage;
//!
//! let mut image = [0u8; 64];
//! image[8..16].copy_from_slice(&0u64.to_le_bytes()); // text_offset
//! image[16..24].copy_from_slice(&0x20_0000u64.to_le_bytes()); // image_size
//! image[56..60].copy_from_slice(b"ARM\x64");
//! let header = KernelImage::parse_arm64(&image).unwrap();
//! assert_eq!(header.load_address(0x4000_0000, 0x4008_0000), Some(0x4020_0000));
//! assert_eq!(header.footprint(), 0x20_0000);
//! ```

/// Bytes of the header both formats share the layout of.
pub const HEADER_SIZE: usize = 64;
/// The arm64 magic, "ARM\x64", at offset 56.
const ARM64_MAGIC: [u8; 4] = *b"ARM\x64";
/// The riscv magic, "RSC\x05", at offset 56 (the older 8-byte "RISCV\0\0\0" at 48 is
/// accepted too).
const RISCV_MAGIC: [u8; 4] = *b"RSC\x05";
const RISCV_MAGIC_OLD: [u8; 8] = *b"RISCV\0\0\0";
/// arm64 kernels older than 3.17 leave `image_size` zero and expect this offset.
const ARM64_LEGACY_TEXT_OFFSET: u64 = 0x8_0000;
/// The alignment of the base an arm64 kernel's `text_offset` counts from.
const ARM64_BASE_ALIGN: u64 = 0x20_0000;
/// arm64 flags bit 0: the kernel is big-endian.
const ARM64_FLAG_BIG_ENDIAN: u64 = 1 << 0;
/// arm64 flags bit 3: the kernel may sit anywhere in memory, not only near the
/// start of DRAM.
const ARM64_FLAG_ANYWHERE: u64 = 1 << 3;
/// The alignment a riscv64 kernel needs (a 2 MiB megapage for its linear map).
const RISCV64_ALIGN: u64 = 0x20_0000;

/// Which architecture's `Image` a header came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageArch {
    /// arm64 (`Documentation/arch/arm64/booting.rst`).
    Arm64,
    /// riscv64 (`Documentation/arch/riscv/boot-image-header.rst`).
    Riscv64,
}

/// What a kernel `Image` header asks of its loader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelImage {
    /// The format.
    pub arch: ImageArch,
    /// Bytes from the aligned base to where the image is loaded.
    pub text_offset: u64,
    /// Bytes the kernel occupies from its load address, `.bss` included (0: not
    /// said, as in old arm64 kernels).
    pub image_size: u64,
    /// The header's flags word.
    pub flags: u64,
}

impl KernelImage {
    /// The arm64 header of `image`, or `None` when it has none (a raw binary) or is
    /// a big-endian kernel (the vCPU starts little-endian).
    #[must_use]
    pub fn parse_arm64(image: &[u8]) -> Option<Self> {
        let header = image.get(..HEADER_SIZE)?;
        if header.get(56..60)? != ARM64_MAGIC {
            return None;
        }
        let flags = le64(header, 24)?;
        if flags & ARM64_FLAG_BIG_ENDIAN != 0 {
            return None;
        }
        let image_size = le64(header, 16)?;
        let text_offset = if image_size == 0 {
            ARM64_LEGACY_TEXT_OFFSET
        } else {
            le64(header, 8)?
        };
        Some(Self {
            arch: ImageArch::Arm64,
            text_offset,
            image_size,
            flags,
        })
    }

    /// The riscv64 header of `image`, or `None` when it has none.
    #[must_use]
    pub fn parse_riscv64(image: &[u8]) -> Option<Self> {
        let header = image.get(..HEADER_SIZE)?;
        if header.get(56..60)? != RISCV_MAGIC && header.get(48..56)? != RISCV_MAGIC_OLD {
            return None;
        }
        Some(Self {
            arch: ImageArch::Riscv64,
            text_offset: le64(header, 8)?,
            image_size: le64(header, 16)?,
            flags: le64(header, 24)?,
        })
    }

    /// Bytes the kernel needs from its load address (`.bss` and early page tables
    /// included): `image_size`; 0 when an old arm64 header does not say, and then
    /// the caller keeps room after the file itself.
    #[must_use]
    pub const fn footprint(&self) -> u64 {
        self.image_size
    }

    /// Where to load the image for a VM whose RAM region starts at `ram_start`,
    /// given the address the config asks for: the lowest address at or above
    /// `requested` that the header allows (arm64: a 2 MiB-aligned base plus
    /// `text_offset`; riscv64: 2 MiB-aligned). `None` on overflow.
    ///
    /// An arm64 kernel without the "anywhere" flag must sit near the start of DRAM;
    /// it still gets the first allowed address at or above `requested`, which the
    /// config places there.
    #[must_use]
    pub fn load_address(&self, ram_start: u64, requested: u64) -> Option<u64> {
        let from = requested.max(ram_start);
        match self.arch {
            ImageArch::Arm64 => {
                // The smallest base ≡ 0 (mod 2 MiB) with base + text_offset >= from.
                let base = align_up(from.saturating_sub(self.text_offset), ARM64_BASE_ALIGN)?;
                base.checked_add(self.text_offset)
            }
            ImageArch::Riscv64 => align_up(from, RISCV64_ALIGN),
        }
    }

    /// Whether an arm64 kernel may be placed anywhere in physical memory (flags bit 3).
    #[must_use]
    pub const fn placeable_anywhere(&self) -> bool {
        matches!(self.arch, ImageArch::Arm64) && self.flags & ARM64_FLAG_ANYWHERE != 0
    }
}

/// The little-endian `u64` at `offset` of `bytes`.
fn le64(bytes: &[u8], offset: usize) -> Option<u64> {
    let end = offset.checked_add(8)?;
    let field: [u8; 8] = bytes.get(offset..end)?.try_into().ok()?;
    Some(u64::from_le_bytes(field))
}

/// `value` rounded up to the power of two `align`; `None` on overflow.
const fn align_up(value: u64, align: u64) -> Option<u64> {
    let mask = align.wrapping_sub(1);
    match value.checked_add(mask) {
        Some(sum) => Some(sum & !mask),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(text_offset: u64, image_size: u64, flags: u64, magic: (usize, &[u8])) -> [u8; 64] {
        let mut image = [0u8; 64];
        image[8..16].copy_from_slice(&text_offset.to_le_bytes());
        image[16..24].copy_from_slice(&image_size.to_le_bytes());
        image[24..32].copy_from_slice(&flags.to_le_bytes());
        image[magic.0..magic.0 + magic.1.len()].copy_from_slice(magic.1);
        image
    }

    #[test]
    fn an_arm64_image_is_placed_at_an_aligned_base_plus_its_text_offset() {
        let image = header(0, 0x2a0_0000, 0xa, (56, b"ARM\x64"));
        let kernel = KernelImage::parse_arm64(&image).unwrap();
        assert_eq!(kernel.footprint(), 0x2a0_0000);
        assert!(kernel.placeable_anywhere());
        assert_eq!(
            kernel.load_address(0x4000_0000, 0x4000_0000),
            Some(0x4000_0000)
        );
        assert_eq!(
            kernel.load_address(0x4000_0000, 0x4008_0000),
            Some(0x4020_0000)
        );
        // An old-style text offset of 0x80000 keeps the offset from the base.
        let image = header(0x8_0000, 0x100_0000, 0x2, (56, b"ARM\x64"));
        let kernel = KernelImage::parse_arm64(&image).unwrap();
        assert!(!kernel.placeable_anywhere());
        assert_eq!(
            kernel.load_address(0x4000_0000, 0x4000_0000),
            Some(0x4008_0000)
        );
        assert_eq!(
            kernel.load_address(0x4000_0000, 0x4008_0000),
            Some(0x4008_0000)
        );
        assert_eq!(
            kernel.load_address(0x4000_0000, 0x4008_1000),
            Some(0x4028_0000)
        );
    }

    #[test]
    fn old_and_foreign_arm64_images() {
        // image_size 0: a pre-3.17 kernel, text offset 0x80000 whatever the header says.
        let old = KernelImage::parse_arm64(&header(0x1234, 0, 0, (56, b"ARM\x64"))).unwrap();
        assert_eq!((old.text_offset, old.footprint()), (0x8_0000, 0));
        // Big-endian kernels, raw binaries and short files have no usable header.
        assert_eq!(
            KernelImage::parse_arm64(&header(0, 1, 1, (56, b"ARM\x64"))),
            None
        );
        assert_eq!(KernelImage::parse_arm64(&[0x14; 64]), None);
        assert_eq!(KernelImage::parse_arm64(&[0; 63]), None);
        assert_eq!(
            KernelImage::parse_arm64(&header(0, 1, 0, (56, b"RSC\x05"))),
            None
        );
    }

    #[test]
    fn a_riscv_image_is_placed_two_mib_aligned() {
        let image = header(0x20_0000, 0x180_0000, 0, (56, b"RSC\x05"));
        let kernel = KernelImage::parse_riscv64(&image).unwrap();
        assert_eq!(kernel.arch, ImageArch::Riscv64);
        assert_eq!(kernel.footprint(), 0x180_0000);
        assert_eq!(
            kernel.load_address(0x8000_0000, 0x8020_0000),
            Some(0x8020_0000)
        );
        assert_eq!(
            kernel.load_address(0x8000_0000, 0x8020_1000),
            Some(0x8040_0000)
        );
        assert_eq!(
            kernel.load_address(0x9000_0000, 0x8020_0000),
            Some(0x9000_0000)
        );
        let old = header(0, 0x1000, 0, (48, b"RISCV\0\0\0"));
        assert!(KernelImage::parse_riscv64(&old).is_some());
        assert_eq!(KernelImage::parse_riscv64(&[0x13; 64]), None);
        assert!(!kernel.placeable_anywhere());
    }

    #[test]
    fn placement_never_overflows() {
        let image = header(0x10, 1, 0, (56, b"ARM\x64"));
        let kernel = KernelImage::parse_arm64(&image).unwrap();
        assert_eq!(kernel.load_address(0, u64::MAX), None);
        // A huge text offset from a low base still fits.
        let image = header(u64::MAX, 1, 0, (56, b"ARM\x64"));
        let kernel = KernelImage::parse_arm64(&image).unwrap();
        assert_eq!(kernel.load_address(0, u64::MAX), Some(u64::MAX));
        let kernel = KernelImage::parse_riscv64(&header(0, 1, 0, (56, b"RSC\x05"))).unwrap();
        assert_eq!(kernel.load_address(0, u64::MAX), None);
        for offset in [0, 1, 0x8_0000, 0x1f_ffff, 0x20_0000, u64::MAX / 2] {
            let kernel = KernelImage::parse_arm64(&header(offset, 1, 0, (56, b"ARM\x64"))).unwrap();
            for requested in [0, 1, 0x4000_0000, 0x4008_0001, u64::MAX - 0x40_0000] {
                if let Some(load) = kernel.load_address(0x4000_0000, requested) {
                    assert!(load >= requested.max(0x4000_0000));
                    assert_eq!(load.wrapping_sub(offset) % ARM64_BASE_ALIGN, 0);
                }
            }
        }
    }
}
