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
/// The riscv magic, "RSC\x05", at offset 56 (header version 0.2 on). The 8-byte
/// "RISCV\0\0\0" at 48, deprecated since 0.2 and the only magic of 0.1 headers, is
/// enough too: kernels may drop it.
const RISCV_MAGIC: [u8; 4] = *b"RSC\x05";
const RISCV_MAGIC_OLD: [u8; 8] = *b"RISCV\0\0\0";
/// riscv flags bit 0: the kernel is big-endian.
const RISCV_FLAG_BIG_ENDIAN: u64 = 1 << 0;
/// arm64 kernels older than 3.17 leave `image_size` zero and expect this offset.
const ARM64_LEGACY_TEXT_OFFSET: u64 = 0x8_0000;
/// The alignment of the base an arm64 kernel's `text_offset` counts from.
const ARM64_BASE_ALIGN: u64 = 0x20_0000;
/// arm64 flags bit 0: the kernel is big-endian.
const ARM64_FLAG_BIG_ENDIAN: u64 = 1 << 0;
/// arm64 flags bit 3: the kernel may sit anywhere in memory, not only near the
/// start of DRAM.
const ARM64_FLAG_ANYWHERE: u64 = 1 << 3;
/// The alignment a riscv64 kernel needs (a PMD boundary: its early page tables map
/// the kernel with 2 MiB megapages; Debian's kernel is not relocatable).
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
    /// arm64: bytes from the 2 MiB-aligned base to where the image is loaded;
    /// riscv64: bytes from the start of RAM to where it is loaded (0x20_0000 for
    /// rv64 kernels with an MMU).
    pub text_offset: u64,
    /// Bytes the kernel occupies from its load address, `.bss` included (0: not
    /// said, as in old arm64 kernels).
    pub image_size: u64,
    /// The header's flags word.
    pub flags: u64,
    /// riscv64: the header's version, major << 16 | minor (0.2 is 2); arm64 headers
    /// have none (0).
    pub version: u32,
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
            version: 0,
        })
    }

    /// The riscv64 header of `image`, or `None` when it has none (a raw binary, a
    /// file shorter than the header) or is a big-endian kernel (the vCPU starts
    /// little-endian). Either magic is enough; the version is recorded, not
    /// checked (the layout has not changed since 0.1).
    #[must_use]
    pub fn parse_riscv64(image: &[u8]) -> Option<Self> {
        let header = image.get(..HEADER_SIZE)?;
        if header.get(56..60)? != RISCV_MAGIC && header.get(48..56)? != RISCV_MAGIC_OLD {
            return None;
        }
        let flags = le64(header, 24)?;
        if flags & RISCV_FLAG_BIG_ENDIAN != 0 {
            return None;
        }
        Some(Self {
            arch: ImageArch::Riscv64,
            text_offset: le64(header, 8)?,
            image_size: le64(header, 16)?,
            flags,
            version: le32(header, 32)?,
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
    /// `requested` that the header allows. arm64: a 2 MiB-aligned base plus
    /// `text_offset`. riscv64: 2 MiB-aligned and at least `text_offset` past
    /// `ram_start` (a request for the start of RAM gets RAM + `text_offset`, where
    /// firmware would put the kernel). `None` on overflow.
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
            ImageArch::Riscv64 => {
                let lowest = ram_start.checked_add(self.text_offset)?;
                align_up(from.max(lowest), RISCV64_ALIGN)
            }
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

/// The little-endian `u32` at `offset` of `bytes`.
fn le32(bytes: &[u8], offset: usize) -> Option<u32> {
    let end = offset.checked_add(4)?;
    let field: [u8; 4] = bytes.get(offset..end)?.try_into().ok()?;
    Some(u32::from_le_bytes(field))
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

    /// A riscv64 header as Linux writes it: both magics, version 0.2.
    fn riscv(text_offset: u64, image_size: u64, flags: u64) -> [u8; 64] {
        let mut image = header(text_offset, image_size, flags, (56, b"RSC\x05"));
        image[32..36].copy_from_slice(&2u32.to_le_bytes());
        image[48..56].copy_from_slice(b"RISCV\0\0\0");
        image
    }

    #[test]
    fn a_riscv_image_is_placed_two_mib_aligned_past_its_text_offset() {
        // Debian's 6.12 kernel: text_offset 2 MiB, image_size 0x1e6c000.
        let kernel = KernelImage::parse_riscv64(&riscv(0x20_0000, 0x1e6_c000, 0)).unwrap();
        assert_eq!(kernel.arch, ImageArch::Riscv64);
        assert_eq!(
            (kernel.text_offset, kernel.footprint(), kernel.version),
            (0x20_0000, 0x1e6_c000, 2)
        );
        assert!(!kernel.placeable_anywhere());
        // The start of RAM: RAM + text_offset.
        assert_eq!(
            kernel.load_address(0x9000_0000, 0x9000_0000),
            Some(0x9020_0000)
        );
        assert_eq!(
            kernel.load_address(0x9000_0000, 0x9020_0000),
            Some(0x9020_0000)
        );
        // Any 2 MiB boundary above it; an unaligned request goes up to the next.
        assert_eq!(
            kernel.load_address(0x9000_0000, 0x9400_0000),
            Some(0x9400_0000)
        );
        assert_eq!(
            kernel.load_address(0x9000_0000, 0x9020_1000),
            Some(0x9040_0000)
        );
        // A request below the region counts from the region.
        assert_eq!(
            kernel.load_address(0x9000_0000, 0x8020_0000),
            Some(0x9020_0000)
        );
        // A text offset of 0 (a no-MMU kernel): the start of RAM itself.
        let kernel = KernelImage::parse_riscv64(&riscv(0, 0x1000, 0)).unwrap();
        assert_eq!(
            kernel.load_address(0x9000_0000, 0x9000_0000),
            Some(0x9000_0000)
        );
        // An odd text offset still ends on a 2 MiB boundary.
        let kernel = KernelImage::parse_riscv64(&riscv(0x1000, 0x1000, 0)).unwrap();
        assert_eq!(
            kernel.load_address(0x9000_0000, 0x9000_0000),
            Some(0x9020_0000)
        );
    }

    #[test]
    fn either_riscv_magic_is_enough() {
        let new_only = header(0x20_0000, 0x1000, 0, (56, b"RSC\x05"));
        assert_eq!(
            KernelImage::parse_riscv64(&new_only).map(|k| k.version),
            Some(0)
        );
        // A 0.1 header had only the deprecated magic.
        let old_only = header(0x20_0000, 0x1000, 0, (48, b"RISCV\0\0\0"));
        assert!(KernelImage::parse_riscv64(&old_only).is_some());
        // An unknown version is recorded, not refused.
        let mut future = riscv(0x20_0000, 0x1000, 0);
        future[32..36].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        assert_eq!(
            KernelImage::parse_riscv64(&future).map(|k| k.version),
            Some(0x1_0000)
        );
    }

    #[test]
    fn riscv_files_without_a_usable_header_are_raw() {
        // No magic, a near miss, the arm64 one, a big-endian kernel.
        assert_eq!(KernelImage::parse_riscv64(&[0x13; 64]), None);
        assert_eq!(
            KernelImage::parse_riscv64(&header(0, 1, 0, (56, b"RSC\x06"))),
            None
        );
        assert_eq!(
            KernelImage::parse_riscv64(&header(0, 1, 0, (48, b"RISCV\0\0\x01"))),
            None
        );
        assert_eq!(
            KernelImage::parse_riscv64(&header(0, 1, 0, (56, b"ARM\x64"))),
            None
        );
        assert_eq!(KernelImage::parse_arm64(&riscv(0, 1, 0)), None);
        assert_eq!(KernelImage::parse_riscv64(&riscv(0x20_0000, 1, 1)), None);
        // Truncated: every prefix shorter than the header, magic included or not.
        let full = riscv(0x20_0000, 0x1000, 0);
        for len in 0..HEADER_SIZE {
            assert_eq!(KernelImage::parse_riscv64(&full[..len]), None, "{len}");
        }
        assert!(KernelImage::parse_riscv64(&full).is_some());
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
        // A riscv text offset that runs past the end of the address space.
        let kernel = KernelImage::parse_riscv64(&riscv(u64::MAX, 1, 0)).unwrap();
        assert_eq!(kernel.load_address(0x9000_0000, 0x9000_0000), None);
        let kernel = KernelImage::parse_riscv64(&riscv(u64::MAX - 0x9000_0000, 1, 0)).unwrap();
        assert_eq!(kernel.load_address(0x9000_0000, 0), None);
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

    proptest::proptest! {
        /// Any bytes: no panic; a riscv64 kernel that gets an address gets one on a
        /// 2 MiB boundary, at or above both the request and RAM + text_offset.
        #[test]
        fn any_riscv_header_is_parsed_and_placed_without_panicking(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            magic in 0usize..3,
            ram in proptest::prelude::any::<u64>(),
            requested in proptest::prelude::any::<u64>(),
        ) {
            let mut bytes = bytes;
            match magic {
                0 => {
                    if let Some(field) = bytes.get_mut(56..60) {
                        field.copy_from_slice(b"RSC\x05");
                    }
                }
                1 => {
                    if let Some(field) = bytes.get_mut(48..56) {
                        field.copy_from_slice(b"RISCV\0\0\0");
                    }
                }
                _ => {}
            }
            let Some(kernel) = KernelImage::parse_riscv64(&bytes) else {
                return Ok(());
            };
            proptest::prop_assert!(bytes.len() >= HEADER_SIZE);
            if let Some(load) = kernel.load_address(ram, requested) {
                proptest::prop_assert_eq!(load % RISCV64_ALIGN, 0);
                proptest::prop_assert!(load >= requested);
                proptest::prop_assert!(load - ram >= kernel.text_offset);
            }
        }
    }
}
