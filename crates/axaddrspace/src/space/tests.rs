//! Behaviour of the address space over the arena HAL, format by format where it matters.

use alloc::vec;

use axvm_types::{AxVmError, GuestPhysAddr, HostPhysAddr, MappingFlags, MemoryAddr};

use super::AddrSpace;
use crate::{
    format::{Ept, NestedFormat, PageSize, Stage2, Sv4x, Sv4xMode},
    hal::AxMmHal,
    testing::{ArenaConfig, ArenaHal, RecordingTlb},
};

const RW: MappingFlags = MappingFlags::READ.union(MappingFlags::WRITE);
const RWX: MappingFlags = RW.union(MappingFlags::EXECUTE);
const GIB: usize = 0x4000_0000;
const MIB2: usize = 0x20_0000;
/// A host range the tests map but never access.
const HOST: usize = 0x40_0000_0000;

type Space<F> = AddrSpace<ArenaHal, F, RecordingTlb>;

fn space<F: NestedFormat>(format: F, base: usize, size: usize) -> Space<F> {
    AddrSpace::with_format(format, RecordingTlb::default(), base.into(), size).unwrap()
}

fn fresh_arena() {
    ArenaHal::install(ArenaConfig::default());
}

fn size_at<F: NestedFormat>(space: &Space<F>, gpa: usize) -> Option<(usize, PageSize)> {
    space
        .query(gpa.into())
        .map(|(hpa, _, size)| (hpa.as_usize(), size))
}

#[test]
fn aligned_linear_mappings_use_the_largest_blocks() {
    fresh_arena();
    let mut space = space(Ept::new(), 0, 4 * GIB);
    space
        .map_linear(
            GIB.into(),
            HostPhysAddr::from(HOST),
            GIB + MIB2 + 0x1000,
            RWX,
        )
        .unwrap();
    assert_eq!(
        size_at(&space, GIB + 0x1234),
        Some((HOST + 0x1234, PageSize::Size1G))
    );
    assert_eq!(
        size_at(&space, 2 * GIB + 5),
        Some((HOST + GIB + 5, PageSize::Size2M))
    );
    assert_eq!(
        size_at(&space, 2 * GIB + MIB2),
        Some((HOST + GIB + MIB2, PageSize::Size4K))
    );
    assert_eq!(size_at(&space, 2 * GIB + MIB2 + 0x1000), None);
    // Root, one table at height 2, one at height 1, one at height 0.
    assert_eq!(ArenaHal::frames_in_use(), 4);
    assert_eq!(space.tlb().publications(), 1);
}

#[test]
fn unaligned_host_addresses_force_small_pages() {
    fresh_arena();
    let mut space = space(Stage2::default(), 0, 4 * GIB);
    space
        .map_linear(0.into(), HostPhysAddr::from(HOST + 0x1000), 4 * MIB2, RW)
        .unwrap();
    for gpa in (0..4 * MIB2).step_by(0x1000) {
        assert_eq!(
            size_at(&space, gpa),
            Some((HOST + 0x1000 + gpa, PageSize::Size4K))
        );
    }
    // Two root frames (40-bit IPA, 3 levels), one table at height 1, four at height 0.
    assert_eq!(ArenaHal::frames_in_use(), 7);
}

#[test]
fn partial_unmap_splits_blocks_and_invalidates() {
    fresh_arena();
    let mut space = space(Sv4x::default(), 0, 4 * GIB);
    space
        .map_linear(GIB.into(), HostPhysAddr::from(HOST), GIB, RW)
        .unwrap();
    let before = space.tlb().invalidations();
    space
        .unmap((GIB + 3 * MIB2 + 0x5000).into(), 0x2000)
        .unwrap();
    assert!(
        space.tlb().invalidations() >= before + 3,
        "two block splits and the unmap"
    );
    let last = space.tlb().last_invalidated().unwrap();
    assert_eq!(
        (last.start.as_usize(), last.end.as_usize()),
        (GIB + 3 * MIB2 + 0x5000, GIB + 3 * MIB2 + 0x7000)
    );
    assert_eq!(size_at(&space, GIB + 3 * MIB2 + 0x5000), None);
    assert_eq!(size_at(&space, GIB + 3 * MIB2 + 0x6fff), None);
    assert_eq!(
        size_at(&space, GIB + 3 * MIB2 + 0x4fff),
        Some((HOST + 3 * MIB2 + 0x4fff, PageSize::Size4K))
    );
    assert_eq!(
        size_at(&space, GIB + 3 * MIB2 + 0x7000),
        Some((HOST + 3 * MIB2 + 0x7000, PageSize::Size4K))
    );
    assert_eq!(
        size_at(&space, GIB + 2 * MIB2),
        Some((HOST + 2 * MIB2, PageSize::Size2M))
    );
    assert_eq!(
        size_at(&space, 2 * GIB - 1),
        Some((HOST + GIB - 1, PageSize::Size2M))
    );
    // Unmapping the rest frees every table but the root.
    space.unmap(GIB.into(), GIB).unwrap();
    assert_eq!(size_at(&space, GIB + 0x7000), None);
    assert_eq!(
        ArenaHal::frames_in_use(),
        Sv4x::default().geometry().root_frames()
    );
}

#[test]
fn protect_splits_changes_flags_and_invalidates() {
    fresh_arena();
    let mut space = space(Ept::new(), 0, 4 * GIB);
    space
        .map_linear(0.into(), HostPhysAddr::from(HOST), GIB, RWX)
        .unwrap();
    let before = space.tlb().invalidations();
    space
        .protect(MIB2.into(), 0x1000, MappingFlags::READ)
        .unwrap();
    assert!(space.tlb().invalidations() > before);
    assert_eq!(
        space.query(MIB2.into()),
        Some((
            HostPhysAddr::from(HOST + MIB2),
            MappingFlags::READ,
            PageSize::Size4K
        ))
    );
    assert_eq!(
        space
            .query((MIB2 + 0x1000).into())
            .map(|(_, flags, _)| flags),
        Some(RWX)
    );
    assert_eq!(
        space.query(0.into()).map(|(_, flags, size)| (flags, size)),
        Some((RWX, PageSize::Size2M))
    );
    assert_eq!(
        space.protect(0.into(), 0x1000, MappingFlags::WRITE),
        Err(AxVmError::InvalidInput)
    );
}

#[test]
fn bad_requests_are_errors() {
    fresh_arena();
    let mut space = space(Ept::new(), 0x1000_0000, GIB);
    let at = |gpa: usize| GuestPhysAddr::from(gpa);
    let host = HostPhysAddr::from(HOST);
    space.map_linear(at(0x1000_0000), host, 0x2000, RW).unwrap();
    assert_eq!(
        space.map_linear(at(0x1000_1000), host, 0x1000, RW),
        Err(AxVmError::AlreadyExists)
    );
    assert_eq!(
        space.map_alloc(at(0x0fff_f000), 0x2000, RW, true),
        Err(AxVmError::BadAddress)
    );
    assert_eq!(
        space.map_linear(at(0x1000_2000), host, 0, RW),
        Err(AxVmError::InvalidInput)
    );
    assert_eq!(
        space.map_linear(at(0x1000_2800), host, 0x1000, RW),
        Err(AxVmError::InvalidInput)
    );
    assert_eq!(
        space.map_linear(at(0x1000_2000), HostPhysAddr::from(HOST + 8), 0x1000, RW),
        Err(AxVmError::InvalidInput)
    );
    assert_eq!(
        space.map_linear(at(0x1000_2000), host, 0x1001, RW),
        Err(AxVmError::InvalidInput)
    );
    assert_eq!(
        space.map_linear(at(0x1000_2000), host, 0x1000, MappingFlags::WRITE),
        Err(AxVmError::InvalidInput)
    );
    assert_eq!(
        space.map_alloc(at(usize::MAX & !0xfff), 0x2000, RW, true),
        Err(AxVmError::InvalidInput)
    );
    assert_eq!(
        space.map_alloc(at(0x5000_0000), 0x1000, RW, false),
        Err(AxVmError::BadAddress)
    );
    assert_eq!(
        space.map_alloc(at(0x4fff_f000), 0x2000, RW, false),
        Err(AxVmError::BadAddress)
    );
    assert_eq!(
        space.map_linear(
            at(0x1000_2000),
            HostPhysAddr::from(usize::MAX & !0xfff),
            0x2000,
            RW
        ),
        Err(AxVmError::InvalidInput)
    );
    // EPT entries hold 52-bit host addresses.
    assert_eq!(
        space.map_linear(at(0x1000_2000), HostPhysAddr::from(1 << 52), 0x1000, RW),
        Err(AxVmError::BadAddress)
    );
    assert_eq!(
        space.map_linear(
            at(0x1000_2000),
            HostPhysAddr::from((1 << 52) - 0x1000),
            0x2000,
            RW
        ),
        Err(AxVmError::BadAddress)
    );
    assert_eq!(
        space.unmap(at(0x1000_0000), 0),
        Err(AxVmError::InvalidInput)
    );
    assert_eq!(
        space.unmap(at(0x5000_0000), 0x1000),
        Err(AxVmError::BadAddress)
    );
    assert_eq!(
        space.protect(at(0x1000_0800), 0x1000, RW),
        Err(AxVmError::InvalidInput)
    );
    // Nothing above changed the one mapping.
    assert_eq!(
        size_at(&space, 0x1000_1000),
        Some((HOST + 0x1000, PageSize::Size4K))
    );
}

#[test]
fn spaces_beyond_the_input_width_are_refused_and_nothing_aliases() {
    fresh_arena();
    let too_big = AddrSpace::<ArenaHal, Sv4x, RecordingTlb>::with_format(
        Sv4x::default(),
        RecordingTlb::default(),
        0.into(),
        (1 << 41) + 0x1000,
    );
    assert_eq!(too_big.err(), Some(AxVmError::BadAddress));
    let mut space = space(Sv4x::default(), 0, 1 << 41);
    space
        .map_linear(0.into(), HostPhysAddr::from(HOST), 0x1000, RW)
        .unwrap();
    assert_eq!(space.translate((1usize << 41).into()), None);
    assert_eq!(space.translate((1usize << 63).into()), None);
    assert!(!space.handle_page_fault((1usize << 41).into(), MappingFlags::READ));
    let ept = AddrSpace::<ArenaHal, Ept, RecordingTlb>::new_empty(0.into(), (1 << 48) + 0x1000);
    assert_eq!(ept.err(), Some(AxVmError::BadAddress));
}

#[test]
fn host_frames_beyond_the_entry_width_are_errors() {
    fresh_arena();
    // The arena's frames sit near 2^46, beyond a 40-bit stage-2 output range.
    let narrow = Stage2::new(36, 3, 1).unwrap().with_pa_bits(40).unwrap();
    let result = AddrSpace::<ArenaHal, Stage2, RecordingTlb>::with_format(
        narrow,
        RecordingTlb::default(),
        0.into(),
        GIB,
    );
    assert_eq!(result.err(), Some(AxVmError::BadAddress));
    assert_eq!(ArenaHal::frames_in_use(), 0);
    let mut space = space(Stage2::default(), 0, GIB);
    assert_eq!(
        space.map_linear(0.into(), HostPhysAddr::from(1 << 48), 0x1000, RW),
        Err(AxVmError::BadAddress)
    );
}

#[test]
fn multi_frame_roots_need_contiguous_frames() {
    ArenaHal::install(ArenaConfig {
        contiguous: false,
        ..ArenaConfig::default()
    });
    let sv = AddrSpace::<ArenaHal, Sv4x, RecordingTlb>::new_empty(0.into(), GIB);
    assert_eq!(sv.err(), Some(AxVmError::NoMemory));
    ArenaHal::set_contiguous(true);
    let sv48 = space(Sv4x::new(Sv4xMode::Sv48x4, 9).unwrap(), 0, GIB);
    assert_eq!(sv48.page_table_root().as_usize() % 0x4000, 0);
    assert_eq!(ArenaHal::frames_in_use(), 4);
    let s2 = space(Stage2::new(42, 3, 2).unwrap(), 0, GIB);
    assert_eq!(s2.page_table_root().as_usize() % 0x8000, 0);
    assert_eq!(s2.paging_config().vmid, 2);
    drop((sv48, s2));
    assert_eq!(ArenaHal::frames_in_use(), 0);
}

#[test]
fn allocated_memory_is_zeroed_and_given_back() {
    fresh_arena();
    // Dirty some frames (the arena poisons what it gets back).
    let dirty: alloc::vec::Vec<_> = (0..64).filter_map(|_| ArenaHal::alloc_frame()).collect();
    dirty.into_iter().for_each(ArenaHal::dealloc_frame);
    let mut space = space(Ept::new(), 0, GIB);
    let root_frames = ArenaHal::frames_in_use();
    space.map_alloc(0x1000.into(), 3 * MIB2, RW, true).unwrap();
    assert_eq!(
        size_at(&space, MIB2).map(|(_, size)| size),
        Some(PageSize::Size2M)
    );
    assert_eq!(
        size_at(&space, 0x1000).map(|(_, size)| size),
        Some(PageSize::Size4K)
    );
    let mut buf = vec![0xffu8; 3 * MIB2];
    space.read(0x1000.into(), &mut buf).unwrap();
    assert!(buf == vec![0; 3 * MIB2]);
    space.unmap(0x1000.into(), 3 * MIB2).unwrap();
    assert_eq!(ArenaHal::frames_in_use(), root_frames);
    drop(space);
    assert_eq!((ArenaHal::frames_in_use(), ArenaHal::misuses()), (0, 0));
}

#[test]
fn without_contiguous_frames_allocation_falls_back_to_pages() {
    ArenaHal::install(ArenaConfig {
        contiguous: false,
        ..ArenaConfig::default()
    });
    let mut space = space(Ept::new(), 0, GIB);
    space.map_alloc(0.into(), 2 * MIB2, RW, true).unwrap();
    assert_eq!(
        size_at(&space, MIB2).map(|(_, size)| size),
        Some(PageSize::Size4K)
    );
    // Root, tables at heights 2 and 1, two at height 0, and 1024 frames.
    assert_eq!(ArenaHal::frames_in_use(), 5 + 1024);
    // Unmapping part of it gives exactly those frames back.
    space.unmap(0x10_0000.into(), 0x10_0000).unwrap();
    assert_eq!(ArenaHal::frames_in_use(), 5 + 1024 - 256);
    drop(space);
    assert_eq!((ArenaHal::frames_in_use(), ArenaHal::misuses()), (0, 0));
}

#[test]
fn partial_unmap_of_an_allocated_block_returns_its_pieces() {
    fresh_arena();
    let mut space = space(Stage2::default(), 0, GIB);
    space.map_alloc(0.into(), MIB2, RW, true).unwrap();
    let (block, size) = size_at(&space, 0).unwrap();
    assert_eq!(size, PageSize::Size2M);
    space.write(0x3000.into(), b"kept").unwrap();
    space.unmap(0x1000.into(), 0x2000).unwrap();
    assert_eq!(
        size_at(&space, 0x3000),
        Some((block + 0x3000, PageSize::Size4K))
    );
    let mut kept = [0; 4];
    space.read(0x3000.into(), &mut kept).unwrap();
    assert_eq!(&kept, b"kept");
    space.unmap(0.into(), MIB2).unwrap();
    assert_eq!(ArenaHal::frames_in_use(), 2);
    drop(space);
    assert_eq!((ArenaHal::frames_in_use(), ArenaHal::misuses()), (0, 0));
}

#[test]
fn failed_mappings_roll_back() {
    // Enough for the root and a few tables, not for 4 MiB of pages.
    ArenaHal::install(ArenaConfig {
        bytes: 64 * 0x1000,
        contiguous: false,
        poison: true,
    });
    let mut space = space(Ept::new(), 0, GIB);
    assert_eq!(
        space.map_alloc(0.into(), 2 * MIB2, RW, true),
        Err(AxVmError::NoMemory)
    );
    assert_eq!(ArenaHal::frames_in_use(), 1);
    assert_eq!(size_at(&space, 0), None);
    // A linear mapping that needs more tables than there are frames.
    assert_eq!(
        space.map_linear(0.into(), HostPhysAddr::from(HOST + 0x1000), 200 * MIB2, RW),
        Err(AxVmError::NoMemory)
    );
    assert_eq!(ArenaHal::frames_in_use(), 1);
    assert_eq!(size_at(&space, 0), None);
    // The range is still free.
    space.map_alloc(0.into(), 0x8000, RW, true).unwrap();
    assert_eq!(ArenaHal::misuses(), 0);
}

#[test]
fn lazy_areas_fault_in_the_largest_block() {
    fresh_arena();
    let mut space = space(Sv4x::default(), 0, 4 * GIB);
    space.map_alloc(0x1000.into(), 4 * MIB2, RW, false).unwrap();
    assert_eq!(ArenaHal::frames_in_use(), 4);
    assert_eq!(size_at(&space, 0x1000), None);
    // The first block is cut by the area start: one page.
    assert!(space.handle_page_fault(0x1000.into(), MappingFlags::READ));
    assert_eq!(
        size_at(&space, 0x1000).map(|(_, size)| size),
        Some(PageSize::Size4K)
    );
    assert_eq!(size_at(&space, 0x2000), None);
    // Whole 2 MiB blocks inside the area come in as blocks.
    assert!(space.handle_page_fault((MIB2 + 0x1234).into(), MappingFlags::WRITE));
    assert_eq!(
        size_at(&space, MIB2).map(|(_, size)| size),
        Some(PageSize::Size2M)
    );
    // Already mapped: another vCPU got there first.
    assert!(space.handle_page_fault((MIB2 + 8).into(), MappingFlags::READ));
    // Not allowed, or outside any area; the area's flags tell the two apart, present
    // or not.
    assert!(!space.handle_page_fault(MIB2.into(), MappingFlags::EXECUTE));
    assert_eq!(space.mapping_flags((3 * MIB2).into()), Some(RW));
    assert_eq!(space.mapping_flags((8 * MIB2).into()), None);
    assert!(!space.handle_page_fault((8 * MIB2).into(), MappingFlags::READ));
    assert!(space.tlb().publications() >= 2);
    drop(space);
    assert_eq!((ArenaHal::frames_in_use(), ArenaHal::misuses()), (0, 0));
}

#[test]
#[cfg_attr(miri, ignore)] // a 2 GiB arena
fn lazy_faults_use_a_gigabyte_when_the_host_has_one() {
    ArenaHal::install(ArenaConfig {
        bytes: 2 * GIB + 8 * MIB2,
        contiguous: true,
        poison: false,
    });
    let mut space = space(Ept::new(), 0, 4 * GIB);
    space.map_alloc(GIB.into(), GIB, RW, false).unwrap();
    assert!(space.handle_page_fault((GIB + 0x1234).into(), MappingFlags::WRITE));
    assert_eq!(
        size_at(&space, 2 * GIB - 1).map(|(_, size)| size),
        Some(PageSize::Size1G)
    );
    drop(space);
    assert_eq!(ArenaHal::frames_in_use(), 0);
}

#[test]
fn guest_memory_access_crosses_pages_and_mappings() {
    fresh_arena();
    let mut space = space(Ept::new(), 0, GIB);
    space.map_alloc(0.into(), 0x3000, RW, true).unwrap();
    // A linear mapping of arena frames set aside as guest RAM, so that the
    // hypervisor can reach them.
    let frames = ArenaHal::alloc_guest_ram(2, 12).unwrap();
    space.map_linear(0x3000.into(), frames, 0x2000, RW).unwrap();
    let data: alloc::vec::Vec<u8> = (0..0x3000u32).map(|i| i as u8).collect();
    space.write(0x1800.into(), &data).unwrap();
    let mut back = vec![0; data.len()];
    space.read(0x1800.into(), &mut back).unwrap();
    assert_eq!(back, data);
    assert_eq!(
        space.translate_and_get_limit(0x3800.into()),
        Some((frames.wrapping_add(0x800), 0x1800))
    );
    assert_eq!(
        space
            .translate_and_get_limit(0x1800.into())
            .map(|(_, limit)| limit),
        Some(0x800)
    );
    let pieces = space.translated_byte_buffer(0x1800.into(), 0x3000).unwrap();
    let lens: alloc::vec::Vec<usize> = pieces.iter().map(|piece| piece.len()).collect();
    assert_eq!(lens, [0x800, 0x1000, 0x1800]);
    let mut first = [0xff; 2];
    pieces.first().unwrap().read(0, &mut first).unwrap();
    assert_eq!(first, [0, 1]);
    drop(pieces);
    // Unmapped or device memory is refused.
    assert_eq!(
        space.read(0x4800.into(), &mut [0; 0x1000]),
        Err(AxVmError::BadAddress)
    );
    space
        .map_linear(0x10_0000.into(), frames, 0x1000, RW | MappingFlags::DEVICE)
        .unwrap();
    assert_eq!(
        space.write(0x10_0000.into(), &[1]),
        Err(AxVmError::BadAddress)
    );
    space.unmap(0x10_0000.into(), 0x1000).unwrap();
    // Pieces may alias: they hand out no references.
    space.map_linear(0x5000.into(), frames, 0x1000, RW).unwrap();
    let pieces = space.translated_byte_buffer(0x3000.into(), 0x3000).unwrap();
    assert_eq!(pieces.len(), 2);
    drop(pieces);
    assert_eq!(
        space.read(usize::MAX.into(), &mut [0; 2]),
        Err(AxVmError::InvalidInput)
    );
    drop(space);
    ArenaHal::dealloc_contiguous_frames(frames, 2);
    assert_eq!((ArenaHal::frames_in_use(), ArenaHal::misuses()), (0, 0));
}

#[test]
fn dropping_a_space_frees_everything() {
    fresh_arena();
    {
        let mut space = space(Stage2::new(48, 4, 3).unwrap(), 0, 8 * GIB);
        space
            .map_linear(0.into(), HostPhysAddr::from(HOST + 0x1000), 4 * MIB2, RW)
            .unwrap();
        space
            .map_linear(GIB.into(), HostPhysAddr::from(HOST), GIB, RW)
            .unwrap();
        space
            .map_alloc((4 * GIB).into(), 3 * MIB2, RW, true)
            .unwrap();
        space.map_alloc((5 * GIB).into(), GIB, RW, false).unwrap();
        assert!(space.handle_page_fault((5 * GIB + 0x7000).into(), MappingFlags::READ));
        space.unmap((GIB + 0x5000).into(), 0x1000).unwrap();
        assert!(ArenaHal::frames_in_use() > 1000);
    }
    assert_eq!((ArenaHal::frames_in_use(), ArenaHal::misuses()), (0, 0));
}

#[test]
fn the_paging_config_feeds_the_register_encoders() {
    fresh_arena();
    let space = space(Ept::with_vpid(4), 0, GIB);
    let config = space.paging_config();
    assert_eq!(config.root, space.page_table_root());
    assert_eq!(
        Ept::eptp(&config),
        space.page_table_root().as_usize() as u64 | 0x1e
    );
    let s2 = self::space(Stage2::new(40, 3, 0x101).unwrap(), 0, GIB);
    assert_eq!(Stage2::vttbr(&s2.paging_config()) >> 48, 0x101);
    assert_eq!(s2.format().vtcr() & (1 << 19), 1 << 19);
}

#[test]
fn translation_follows_the_root_entry_through_splits_and_frees() {
    fresh_arena();
    // Sv39x4 roots map 1 GiB per entry, so the home entry can be a leaf.
    let mut space = space(Sv4x::default(), 0x8000_0000, 2 * GIB);
    space
        .map_linear(0x8000_0000.into(), HostPhysAddr::from(HOST), GIB, RW)
        .unwrap();
    assert_eq!(
        size_at(&space, 0x8000_5000),
        Some((HOST + 0x5000, PageSize::Size1G))
    );
    space.unmap(0x8000_4000.into(), 0x1000).unwrap();
    assert_eq!(size_at(&space, 0x8000_4000), None);
    assert_eq!(
        space.translate(0x8000_5000.into()),
        Some(HostPhysAddr::from(HOST + 0x5000))
    );
    assert_eq!(
        space.translate(0xbfff_f000usize.into()),
        Some(HostPhysAddr::from(HOST + GIB - 0x1000))
    );
    space.unmap(0x8000_0000.into(), GIB).unwrap();
    assert_eq!(space.translate(0x8000_5000.into()), None);
    space
        .map_linear(0x8000_5000.into(), HostPhysAddr::from(HOST), 0x1000, RW)
        .unwrap();
    assert_eq!(
        space.translate(0x8000_5000.into()),
        Some(HostPhysAddr::from(HOST))
    );
    assert_eq!(space.translate(0x8000_6000.into()), None);
}
