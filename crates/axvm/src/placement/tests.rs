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
