use alloc::{vec, vec::Vec};

use axvm_types::{VmMemConfig, VmMemMappingType};
use proptest::prelude::*;

use super::*;

/// A bzImage of `len` bytes whose header has the fields Debian's 6.1 amd64 kernel has
/// (protocol 2.15, relocatable, 2 MiB alignment), `setup_sects` 3.
fn image(len: usize) -> Vec<u8> {
    let mut image = vec![0u8; len];
    image[0x1f1] = 3;
    image[0x1fe..0x200].copy_from_slice(&0xaa55u16.to_le_bytes());
    image[0x201] = 0x6a;
    image[0x202..0x206].copy_from_slice(b"HdrS");
    image[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    image[0x211] = LOADED_HIGH;
    image[0x214..0x218].copy_from_slice(&0x10_0000u32.to_le_bytes());
    image[0x22c..0x230].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    image[0x230..0x234].copy_from_slice(&0x20_0000u32.to_le_bytes());
    image[0x234] = 1;
    image[0x235] = 21;
    image[0x236..0x238].copy_from_slice(&0x7fu16.to_le_bytes());
    image[0x238..0x23c].copy_from_slice(&0x7ffu32.to_le_bytes());
    image[0x258..0x260].copy_from_slice(&0x100_0000u64.to_le_bytes());
    image[0x260..0x264].copy_from_slice(&0x3f9_0000u32.to_le_bytes());
    image
}

fn ram(gpa: usize, size: usize) -> VmMemConfig {
    VmMemConfig {
        gpa,
        size,
        flags: 0x7,
        map_type: VmMemMappingType::MapAlloc,
    }
}

fn entry(addr: u64, size: u64, kind: E820Kind) -> E820Entry {
    E820Entry { addr, size, kind }
}

#[test]
fn the_header_gives_what_placement_needs() {
    let header = SetupHeader::parse(&image(0x4000)).unwrap();
    assert_eq!(header.version, 0x020f);
    assert_eq!(header.kernel_offset(), 0x800);
    assert_eq!(header.kernel(&image(0x4000)).len(), 0x3800);
    assert!(header.relocatable);
    assert_eq!(header.alignment(), 0x20_0000);
    assert_eq!(header.pref_address, 0x100_0000);
    assert_eq!(header.init_size, 0x3f9_0000);
    assert_eq!(header.initrd_addr_max, 0x7fff_ffff);
    assert_eq!(header.cmdline_size, 0x7ff);
    assert_eq!(header.header_end, 0x26c);
    assert_ne!(header.xloadflags & XLF_KERNEL_64, 0);
}

#[test]
fn setup_sects_zero_means_four() {
    let mut bytes = image(0x4000);
    bytes[0x1f1] = 0;
    assert_eq!(SetupHeader::parse(&bytes).unwrap().kernel_offset(), 0xa00);
}

#[test]
fn what_is_not_a_bootable_bzimage_is_refused() {
    let mut bytes = image(0x4000);
    bytes[0x202] = b'X';
    assert_eq!(SetupHeader::parse(&bytes), Err(BzImageError::NotBzImage));
    let mut bytes = image(0x4000);
    bytes[0x1fe] = 0;
    assert_eq!(SetupHeader::parse(&bytes), Err(BzImageError::NotBzImage));
    let mut bytes = image(0x4000);
    bytes[0x206..0x208].copy_from_slice(&0x0209u16.to_le_bytes());
    assert_eq!(
        SetupHeader::parse(&bytes),
        Err(BzImageError::OldProtocol(0x0209))
    );
    let mut bytes = image(0x4000);
    bytes[0x211] = 0;
    assert_eq!(SetupHeader::parse(&bytes), Err(BzImageError::NotLoadedHigh));
    assert_eq!(
        SetupHeader::parse(&image(0x4000)[..0x230]),
        Err(BzImageError::Truncated)
    );
    // The setup code runs past the end of the file.
    assert_eq!(
        SetupHeader::parse(&image(0x700)),
        Err(BzImageError::Truncated)
    );
    assert_eq!(SetupHeader::parse(&[]), Err(BzImageError::Truncated));
}

#[test]
fn the_e820_map_reserves_the_legacy_hole_and_device_regions() {
    let device = VmMemConfig {
        flags: 0x17,
        ..ram(0xfec0_0000, 0x1000)
    };
    let map = e820_map(&[
        ram(0x10_0000, 0x100_0000),
        device,
        ram(0, 0x10_0000),
        ram(0, 0),
    ]);
    assert_eq!(
        map,
        [
            entry(0, 0xa_0000, E820Kind::Ram),
            entry(0xa_0000, 0x6_0000, E820Kind::Reserved),
            entry(0x10_0000, 0x100_0000, E820Kind::Ram),
            entry(0xfec0_0000, 0x1000, E820Kind::Reserved),
        ]
    );
    // A region inside the hole is all reserved; one that ends in it keeps its RAM part.
    assert_eq!(
        e820_map(&[ram(0xc_0000, 0x1_0000)]),
        [entry(0xc_0000, 0x1_0000, E820Kind::Reserved)]
    );
    assert_eq!(
        e820_map(&[ram(0x9_0000, 0x2_0000)]),
        [
            entry(0x9_0000, 0x1_0000, E820Kind::Ram),
            entry(0xa_0000, 0x1_0000, E820Kind::Reserved)
        ]
    );
}

#[test]
fn the_zero_page_holds_the_header_and_what_the_loader_fills_in() {
    let mut bytes = image(0x4000);
    bytes[0x1f1..0x26c]
        .iter_mut()
        .skip(0x30)
        .for_each(|byte| *byte = byte.wrapping_add(0x11));
    let header = SetupHeader::parse(&bytes).unwrap();
    let mut page = ZeroPage::new(&bytes, header.header_end).unwrap();
    page.set_cmdline(0x2_0000);
    page.set_ramdisk(0x1_2345_6000, 0x80_0000);
    let map = e820_map(&[ram(0, 0x800_0000)]);
    page.set_e820(&map).unwrap();
    let page = page.as_bytes();
    assert_eq!(page.len(), ZERO_PAGE_SIZE);
    // Zero before the header but the fields the loader filled in.
    assert!(page[..0xc0].iter().all(|&byte| byte == 0));
    assert!(page[0xcc..0x1e8].iter().all(|&byte| byte == 0));
    assert!(page[0x1e9..0x1f1].iter().all(|&byte| byte == 0));
    // The header as the image has it, but type_of_loader.
    assert_eq!(page[0x210], 0xff);
    assert_eq!(page[0x1f1..0x210], bytes[0x1f1..0x210]);
    assert_eq!(page[0x211..0x218], bytes[0x211..0x218]);
    assert_eq!(page[0x220..0x228], bytes[0x220..0x228]);
    assert_eq!(page[0x22c..0x26c], bytes[0x22c..0x26c]);
    assert!(page[0x26c..0x2d0].iter().all(|&byte| byte == 0));
    let u32_at = |offset: usize| u32::from_le_bytes(page[offset..offset + 4].try_into().unwrap());
    let u64_at = |offset: usize| u64::from_le_bytes(page[offset..offset + 8].try_into().unwrap());
    assert_eq!((u32_at(0x228), u32_at(0xc8)), (0x2_0000, 0));
    assert_eq!((u32_at(0x218), u32_at(0xc0)), (0x2345_6000, 1));
    assert_eq!((u32_at(0x21c), u32_at(0xc4)), (0x80_0000, 0));
    assert_eq!(usize::from(page[0x1e8]), map.len());
    for (index, expected) in map.iter().enumerate() {
        let at = 0x2d0 + 20 * index;
        assert_eq!(u64_at(at), expected.addr);
        assert_eq!(u64_at(at + 8), expected.size);
        assert_eq!(u32_at(at + 16), expected.kind as u32);
    }
}

#[test]
fn the_e820_table_has_a_limit() {
    let bytes = image(0x4000);
    let mut page = ZeroPage::new(&bytes, 0x26c).unwrap();
    let map = vec![entry(0, 0x1000, E820Kind::Ram); E820_MAX + 1];
    assert_eq!(page.set_e820(&map), Err(BzImageError::TooManyRanges));
    assert_eq!(page.as_bytes()[0x1e8], 0);
    assert!(page.set_e820(&map[..E820_MAX]).is_ok());
    assert_eq!(
        ZeroPage::new(&bytes, ZERO_PAGE_SIZE + 1),
        Err(BzImageError::Truncated)
    );
}

#[test]
fn the_kernel_goes_where_it_prefers_if_there_is_room() {
    let bytes = image(0x4000);
    let header = SetupHeader::parse(&bytes).unwrap();
    let big = e820_map(&[ram(0, 0x1000_0000)]);
    assert_eq!(kernel_load_address(&header, 0x3800, &big), Ok(0x100_0000));
    // pref_address + init_size past the end of RAM: code32_start is not 2 MiB-aligned,
    // so the first aligned address from 1 MiB, which is pref_address again: no room.
    let small = e820_map(&[ram(0, 0x400_0000)]);
    assert_eq!(
        kernel_load_address(&header, 0x3800, &small),
        Err(BzImageError::NoRoomForKernel)
    );
    let two_regions = e820_map(&[ram(0, 0x400_0000), ram(0x1000_0000, 0x1000_0000)]);
    assert_eq!(
        kernel_load_address(&header, 0x3800, &two_regions),
        Ok(0x1000_0000)
    );
    let fixed = SetupHeader {
        relocatable: false,
        ..header
    };
    assert_eq!(kernel_load_address(&fixed, 0x3800, &big), Ok(0x10_0000));
    assert_eq!(
        kernel_load_address(&fixed, 0x3800, &small),
        Err(BzImageError::NoRoomForKernel)
    );
    assert_eq!(kernel_footprint(&header, 0x500_0000), 0x500_0000);
}

#[test]
fn the_initrd_goes_high_clear_of_the_kernel_and_below_its_limit() {
    let bytes = image(0x4000);
    let header = SetupHeader::parse(&bytes).unwrap();
    let map = e820_map(&[ram(0, 0x1000_0000)]);
    let kernel = (0x100_0000, u64::from(header.init_size));
    assert_eq!(
        initrd_address(&header, 0x80_0123, &map, &[kernel]),
        Ok(0xf7f_f000)
    );
    let capped = SetupHeader {
        initrd_addr_max: 0x4ff_ffff,
        ..header
    };
    // Under the limit the kernel fills 16-80 MiB: the initrd goes below it.
    assert_eq!(
        initrd_address(&capped, 0x80_0000, &map, &[(0x100_0000, 0x400_0000)]),
        Ok(0x80_0000)
    );
    assert_eq!(
        initrd_address(&capped, 0x80_0000, &map, &[(0x10_0000, 0x4f0_0000)]),
        Err(BzImageError::NoRoomForInitrd)
    );
    assert_eq!(
        initrd_address(&capped, 0x80_0000, &map, &[(0x300_0000, 0x200_0000)]),
        Ok(0x280_0000)
    );
    assert_eq!(
        initrd_address(&header, 0x2000_0000, &map, &[]),
        Err(BzImageError::NoRoomForInitrd)
    );
}

proptest! {
    #[test]
    fn parsing_any_bytes_never_panics(mut bytes in proptest::collection::vec(any::<u8>(), 0..0x1200), magic in any::<bool>()) {
        if magic && bytes.len() >= 0x206 {
            bytes[0x202..0x206].copy_from_slice(b"HdrS");
            bytes[0x1fe..0x200].copy_from_slice(&0xaa55u16.to_le_bytes());
        }
        if let Ok(header) = SetupHeader::parse(&bytes) {
            prop_assert!(header.kernel_offset() <= bytes.len());
            let _ = ZeroPage::new(&bytes, header.header_end);
        }
    }

    /// A placed initrd lies in RAM from 1 MiB, below its limit, clear of what is taken.
    #[test]
    fn a_placed_initrd_fits(
        size in 1u64..0x400_0000,
        limit in 0x10_0000u32..0x2000_0000,
        taken in proptest::collection::vec((0u64..0x2000_0000, 0u64..0x800_0000), 0..4),
        regions in proptest::collection::vec((0usize..0x2000_0000, 0usize..0x1000_0000), 1..4),
    ) {
        let header = SetupHeader { initrd_addr_max: limit, ..SetupHeader::parse(&image(0x4000)).unwrap() };
        let regions: Vec<VmMemConfig> = regions.into_iter().map(|(gpa, size)| ram(gpa, size)).collect();
        let map = e820_map(&regions);
        if let Ok(addr) = initrd_address(&header, size, &map, &taken) {
            prop_assert!(addr >= 0x10_0000 && addr % 0x1000 == 0);
            prop_assert!(addr + size - 1 <= u64::from(limit));
            prop_assert!(in_ram(&map, addr, size));
            for (start, len) in taken {
                prop_assert!(addr + size <= start || start + len <= addr);
            }
        }
    }
}
