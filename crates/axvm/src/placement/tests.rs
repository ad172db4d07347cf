use alloc::{format, vec::Vec};

use axvmconfig::AxVMCrateConfig;
use proptest::prelude::*;

use super::*;

fn config(arch: Arch, load: usize) -> AxVMConfig {
    let toml = format!(
        r#"
[base]
id = 1
name = "place"
cpu_num = 1

[kernel]
entry_point = {load}
kernel_path = "Image"
kernel_load_addr = {load}
memory_regions = [
    [0x4000_0000, 0x1000_0000, 0x7, 0],
    [0x8000_0000, 0x100_0000, 0x7, 2],
]
"#
    );
    AxVMConfig::new(AxVMCrateConfig::from_toml(&toml).unwrap(), arch).unwrap()
}

/// An arm64 Image header (and nothing else) with `text_offset` and `image_size`.
fn arm64_image(text_offset: u64, image_size: u64) -> Vec<u8> {
    let mut image = alloc::vec![0u8; 0x100];
    image[8..16].copy_from_slice(&text_offset.to_le_bytes());
    image[16..24].copy_from_slice(&image_size.to_le_bytes());
    image[24..32].copy_from_slice(&0xau64.to_le_bytes());
    image[56..60].copy_from_slice(b"ARM\x64");
    image
}

/// A riscv64 Image header (both magics, version 0.2) with `text_offset` and
/// `image_size`, then `body` bytes.
fn riscv_image(text_offset: u64, image_size: u64, body: usize) -> Vec<u8> {
    let mut image = alloc::vec![0u8; 64 + body];
    image[8..16].copy_from_slice(&text_offset.to_le_bytes());
    image[16..24].copy_from_slice(&image_size.to_le_bytes());
    image[32..36].copy_from_slice(&2u32.to_le_bytes());
    image[48..56].copy_from_slice(b"RISCV\0\0\0");
    image[56..60].copy_from_slice(b"RSC\x05");
    image
}

#[test]
fn an_image_goes_to_an_aligned_base_plus_its_text_offset_and_is_entered_there() {
    let image = arm64_image(0, 0x250_0000);
    // Already aligned: where the config says.
    let placed = place_kernel(&config(Arch::Aarch64, 0x4020_0000), &image).unwrap();
    assert_eq!(
        placed,
        KernelPlacement {
            load: 0x4020_0000,
            reserved: 0x250_0000,
            entry: Some(0x4020_0000)
        }
    );
    // The usual raw-kernel address 0x4008_0000 is moved up to the next 2 MiB base.
    let placed = place_kernel(&config(Arch::Aarch64, 0x4008_0000), &image).unwrap();
    assert_eq!(placed.load, 0x4020_0000);
    assert_eq!(placed.entry, Some(0x4020_0000));
    // A text offset counts from the aligned base.
    let image = arm64_image(0x8_0000, 0x100_0000);
    let placed = place_kernel(&config(Arch::Aarch64, 0x4000_0000), &image).unwrap();
    assert_eq!((placed.load, placed.reserved), (0x4008_0000, 0x100_0000));
    let placed = place_kernel(&config(Arch::Aarch64, 0x4008_1000), &image).unwrap();
    assert_eq!(placed.load, 0x4028_0000);
}

#[test]
fn an_image_reserves_at_least_its_file() {
    // image_size 0 (an old kernel): the file itself, at the legacy text offset.
    let image = arm64_image(0, 0);
    let placed = place_kernel(&config(Arch::Aarch64, 0x4000_0000), &image).unwrap();
    assert_eq!((placed.load, placed.reserved), (0x4008_0000, 0x100));
}

#[test]
fn an_image_that_does_not_fit_its_region_is_a_bad_address() {
    // 0x4f00_0000 + 0x200_0000 runs past the region's end 0x5000_0000.
    let image = arm64_image(0, 0x200_0000);
    assert_eq!(
        place_kernel(&config(Arch::Aarch64, 0x4f00_0000), &image),
        Err(AxVmError::BadAddress)
    );
    // Aligning up leaves the region.
    let image = arm64_image(0, 0x1000);
    assert_eq!(
        place_kernel(&config(Arch::Aarch64, 0x4ff0_0000), &image),
        Err(AxVmError::BadAddress)
    );
}

#[test]
fn raw_kernels_and_other_architectures_stay_where_the_config_says() {
    let raw = [0x14u8; 0x300];
    for arch in [Arch::Aarch64, Arch::Riscv64, Arch::X86_64] {
        let placed = place_kernel(&config(arch, 0x4008_0000), &raw).unwrap();
        assert_eq!(
            placed,
            KernelPlacement {
                load: 0x4008_0000,
                reserved: 0x300,
                entry: None
            }
        );
    }
    // An arm64 Image on another architecture is just bytes there.
    let placed = place_kernel(&config(Arch::Riscv64, 0x4008_0000), &arm64_image(0, 1)).unwrap();
    assert_eq!((placed.load, placed.entry), (0x4008_0000, None));
}

#[test]
fn a_riscv_image_goes_to_a_2mib_boundary_past_ram_plus_its_text_offset() {
    let image = riscv_image(0x20_0000, 0x1e6_c000, 0x100);
    // The start of RAM: RAM + text_offset, where firmware would load it.
    let placed = place_kernel(&config(Arch::Riscv64, 0x4000_0000), &image).unwrap();
    assert_eq!(
        placed,
        KernelPlacement {
            load: 0x4020_0000,
            reserved: 0x1e6_c000,
            entry: Some(0x4020_0000)
        }
    );
    let placed = place_kernel(&config(Arch::Riscv64, 0x4020_0000), &image).unwrap();
    assert_eq!(placed.load, 0x4020_0000);
    // Higher up, to the next 2 MiB boundary.
    let placed = place_kernel(&config(Arch::Riscv64, 0x4030_0000), &image).unwrap();
    assert_eq!(
        (placed.load, placed.entry),
        (0x4040_0000, Some(0x4040_0000))
    );
    // An image_size below the file (a broken header): the file is kept free.
    let placed = place_kernel(
        &config(Arch::Riscv64, 0x4000_0000),
        &riscv_image(0, 1, 0x300),
    )
    .unwrap();
    assert_eq!((placed.load, placed.reserved), (0x4000_0000, 0x340));
}

#[test]
fn a_riscv_image_with_a_header_that_cannot_be_honoured_is_a_bad_address() {
    let refused = |load: usize, image: &[u8]| place_kernel(&config(Arch::Riscv64, load), image);
    // image_size past the region's end 0x5000_0000.
    assert_eq!(
        refused(0x4000_0000, &riscv_image(0x20_0000, 0x1000_0000, 0)),
        Err(AxVmError::BadAddress)
    );
    // text_offset past the region, or past the address space; image_size at the top.
    for (text_offset, image_size) in [
        (0x1000_0000, 1),
        (u64::MAX, 1),
        (u64::MAX - 0x3fff_ffff, 1),
        (0x20_0000, u64::MAX),
        (0x20_0000, u64::MAX - 0x4020_0000 + 1),
    ] {
        assert_eq!(
            refused(0x4000_0000, &riscv_image(text_offset, image_size, 0)),
            Err(AxVmError::BadAddress),
            "{text_offset:#x} {image_size:#x}"
        );
    }
}

fn ram(gpa: usize, size: usize) -> VmMemConfig {
    VmMemConfig {
        gpa,
        size,
        flags: 0x7,
        map_type: VmMemMappingType::MapAlloc,
    }
}

#[test]
fn a_default_dtb_goes_to_the_top_2mib_block_that_is_free() {
    let regions = [ram(0x4000_0000, 0x1000_0000), ram(0x9000_0000, 0x1000_0000)];
    assert_eq!(default_dtb_gpa(&regions, &[], 0x1000), Some(0x4fe0_0000));
    // The ramdisk sits at the top: just below it.
    let ramdisk = (0x4f00_0000, 0x100_0000);
    assert_eq!(
        default_dtb_gpa(&regions, &[ramdisk], 0x1000),
        Some(0x4ee0_0000)
    );
    // A ramdisk that ends inside the top block pushes the DTB a block down.
    let ramdisk = (0x4f00_0000, 0xf0_0000);
    assert_eq!(
        default_dtb_gpa(&regions, &[ramdisk], 0x1000),
        Some(0x4ee0_0000)
    );
    // A region whose end is not 2 MiB aligned: its last partial block if the DTB
    // fits there, else the block below.
    let odd = [ram(0x4000_0000, 0x20_1000)];
    assert_eq!(default_dtb_gpa(&odd, &[], 0x1000), Some(0x4020_0000));
    assert_eq!(default_dtb_gpa(&odd, &[], 0x2000), Some(0x4000_0000));
    // The whole region taken, or a DTB too large or empty: nowhere.
    let kernel = (0x4000_0000, 0x1000_0000);
    assert_eq!(default_dtb_gpa(&regions, &[kernel], 0x1000), None);
    assert_eq!(default_dtb_gpa(&regions, &[], DTB_MAX_SIZE + 1), None);
    assert_eq!(default_dtb_gpa(&regions, &[], 0), None);
    assert_eq!(default_dtb_gpa(&[], &[], 0x1000), None);
    // Reserved regions are skipped.
    let mut reserved = ram(0x1000_0000, 0x1000_0000);
    reserved.map_type = VmMemMappingType::MapReserved;
    assert_eq!(
        default_dtb_gpa(&[reserved, regions[0]], &[], 0x1000),
        Some(0x4fe0_0000)
    );
}

proptest! {
    /// Whatever a riscv64 header says and wherever the config asks for it, the
    /// kernel is refused or placed on a 2 MiB boundary at or above the request and
    /// RAM + text_offset, entered there, with what it reserves inside its region.
    #[test]
    fn a_riscv_image_is_placed_inside_its_region_or_refused(
        text_offset in prop_oneof![0u64..0x80_0000, any::<u64>()],
        image_size in prop_oneof![0u64..0x1000_0000, any::<u64>()],
        load in 0x4000_0000usize..0x5000_0000,
    ) {
        let image = riscv_image(text_offset, image_size, 0x40);
        match place_kernel(&config(Arch::Riscv64, load), &image) {
            Ok(placed) => {
                prop_assert_eq!(placed.load % 0x20_0000, 0);
                prop_assert!(placed.load >= load);
                prop_assert!((placed.load - 0x4000_0000) as u64 >= text_offset);
                prop_assert_eq!(placed.entry, Some(placed.load));
                prop_assert!(placed.reserved as u64 >= image_size);
                prop_assert!(placed.load + placed.reserved <= 0x5000_0000);
            }
            Err(error) => prop_assert_eq!(error, AxVmError::BadAddress),
        }
    }

    /// The default DTB address is 2 MiB-aligned, inside the first region, clear of
    /// every occupied range, and no higher aligned address would be.
    #[test]
    fn the_default_dtb_address_is_the_highest_free_one(
        start in 0usize..0x100,
        blocks in 1usize..64,
        occupied in proptest::collection::vec((0usize..0x8000_0000, 0usize..0x800_0000), 0..4),
        len in 1usize..=DTB_MAX_SIZE,
    ) {
        let region = ram(start << 21, blocks << 21);
        let occupied: Vec<(usize, usize)> = occupied
            .into_iter()
            .map(|(offset, size)| (region.gpa + offset % region.size, size))
            .collect();
        let free = |at: usize| {
            at + len <= region.gpa + region.size
                && occupied.iter().all(|&(gpa, size)| at + len <= gpa || gpa + size <= at)
        };
        let expected = (0..blocks).rev().map(|b| region.gpa + (b << 21)).find(|&at| free(at));
        prop_assert_eq!(default_dtb_gpa(&[region], &occupied, len), expected);
    }
}
