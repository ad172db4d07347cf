//! TLB maintenance covers every CPU and runs privileged instructions only in
//! hypervisor mode; VMIDs are unique among live spaces; host out-of-memory is
//! the host's error.

use core::cell::Cell;

use axvm_types::{
    AxVmError, GuestPhysAddrRange, HostPhysAddr, HostVirtAddr, MappingFlags, NestedPagingConfig,
};

use super::AddrSpace;
use crate::{
    format::{Ept, Stage2},
    hal::{AxMmHal, LinearMemory},
    testing::{ArenaConfig, ArenaHal, RecordingTlb},
    tlb::{ArchTlb, NestedTlb},
    vmid::VmidRegistry,
};

const RW: MappingFlags = MappingFlags::READ.union(MappingFlags::WRITE);

fn fresh_arena() {
    ArenaHal::install(ArenaConfig::default());
}

fn whole(start: usize, end: usize) -> GuestPhysAddrRange {
    GuestPhysAddrRange::new(start.into(), end.into())
}

/// The old defect: `ArchTlb` ran `invept` on drop whatever the CPU's mode, which
/// faults before VMXON and on a hosted build (this test would die of SIGILL).
#[test]
fn the_arch_tlb_runs_nothing_outside_hypervisor_mode_and_asks_the_host() {
    fresh_arena();
    let mut space: AddrSpace<ArenaHal, Ept, ArchTlb> =
        AddrSpace::with_format(Ept::with_vpid(5), ArchTlb, 0.into(), 1 << 30).unwrap();
    space
        .map_alloc(0x20_0000.into(), 0x20_0000, RW, true)
        .unwrap();
    space.unmap(0x20_0000.into(), 0x1000).unwrap();
    drop(space);
    let remote = ArenaHal::remote_invalidations();
    assert_eq!(
        remote.first(),
        Some(&(5, whole(0x20_0000, 0x40_0000))),
        "the split block"
    );
    assert_eq!(
        remote.get(1),
        Some(&(5, whole(0x20_0000, 0x20_1000))),
        "the unmapped page"
    );
    assert_eq!(
        remote.last(),
        Some(&(5, whole(0, 1 << 30))),
        "the whole space on drop"
    );
    assert_eq!(ArenaHal::frames_in_use(), 0);
}

/// A TLB with the traits of a privileged broadcast (aarch64's), counting.
#[derive(Default)]
struct Broadcast(Cell<usize>);

impl NestedTlb for Broadcast {
    const PRIVILEGED: bool = true;
    const BROADCAST: bool = true;

    fn invalidate(&self, _config: &NestedPagingConfig, _range: GuestPhysAddrRange) {
        self.0.set(self.0.get() + 1);
    }
}

/// [`ArenaHal`], but on a CPU in hypervisor mode.
struct HypervisorMode;

// SAFETY: forwards to `ArenaHal`; claims hypervisor mode only for test TLBs
// that execute no instruction.
unsafe impl AxMmHal for HypervisorMode {
    fn alloc_frame() -> Option<HostPhysAddr> {
        ArenaHal::alloc_frame()
    }
    fn dealloc_frame(paddr: HostPhysAddr) {
        ArenaHal::dealloc_frame(paddr);
    }
    fn phys_to_virt(paddr: HostPhysAddr) -> HostVirtAddr {
        ArenaHal::phys_to_virt(paddr)
    }
    fn alloc_contiguous_frames(count: usize, align_log2: u32) -> Option<HostPhysAddr> {
        ArenaHal::alloc_contiguous_frames(count, align_log2)
    }
    fn dealloc_contiguous_frames(paddr: HostPhysAddr, count: usize) {
        ArenaHal::dealloc_contiguous_frames(paddr, count);
    }
    fn linear_memory(paddr: HostPhysAddr, size: usize) -> LinearMemory {
        ArenaHal::linear_memory(paddr, size)
    }
    fn in_hypervisor_mode() -> bool {
        true
    }
    fn invalidate_remote(config: &NestedPagingConfig, range: GuestPhysAddrRange) {
        ArenaHal::invalidate_remote(config, range);
    }
    fn vmids() -> &'static VmidRegistry {
        ArenaHal::vmids()
    }
}

#[test]
fn a_broadcast_needs_the_host_only_where_it_cannot_run() {
    fresh_arena();
    let mut space: AddrSpace<HypervisorMode, Stage2, Broadcast> = AddrSpace::with_format(
        Stage2::new(40, 3, 9).unwrap(),
        Broadcast::default(),
        0.into(),
        1 << 30,
    )
    .unwrap();
    space.map_alloc(0.into(), 0x1000, RW, true).unwrap();
    space.unmap(0.into(), 0x1000).unwrap();
    assert_eq!(space.tlb().0.get(), 1);
    assert!(ArenaHal::remote_invalidations().is_empty());
    drop(space);

    let mut space: AddrSpace<ArenaHal, Stage2, Broadcast> = AddrSpace::with_format(
        Stage2::new(40, 3, 9).unwrap(),
        Broadcast::default(),
        0.into(),
        1 << 30,
    )
    .unwrap();
    space.map_alloc(0.into(), 0x1000, RW, true).unwrap();
    space.unmap(0.into(), 0x1000).unwrap();
    assert_eq!(space.tlb().0.get(), 0, "not in hypervisor mode");
    assert_eq!(ArenaHal::remote_invalidations(), [(9, whole(0, 0x1000))]);
}

#[test]
fn a_local_tlb_is_completed_by_the_host_on_the_other_cpus() {
    fresh_arena();
    let mut space: AddrSpace<ArenaHal, Ept, RecordingTlb> = AddrSpace::with_format(
        Ept::with_vpid(3),
        RecordingTlb::default(),
        0.into(),
        1 << 30,
    )
    .unwrap();
    space.map_alloc(0.into(), 0x2000, RW, true).unwrap();
    space
        .protect(0x1000.into(), 0x1000, MappingFlags::READ)
        .unwrap();
    assert_eq!(space.tlb().invalidations(), 1);
    assert_eq!(
        ArenaHal::remote_invalidations(),
        [(3, whole(0x1000, 0x2000))]
    );
}

/// The old defect: two live spaces could share a VMID, so one VM's cached
/// translations answered for the other's.
#[test]
fn vmids_are_unique_among_live_spaces() {
    fresh_arena();
    let new = |vpid| {
        AddrSpace::<ArenaHal, Ept, RecordingTlb>::with_format(
            Ept::with_vpid(vpid),
            RecordingTlb::default(),
            0.into(),
            1 << 30,
        )
    };
    let first = new(1).unwrap();
    assert_eq!(new(1).err(), Some(AxVmError::AlreadyExists));
    assert_eq!(
        ArenaHal::frames_in_use(),
        1,
        "the refused space took no frame"
    );
    let second = new(2).unwrap();
    assert!(ArenaHal::vmids().is_held(1) && ArenaHal::vmids().is_held(2));
    assert_eq!(ArenaHal::vmids().first_free(1), Some(3));
    drop(first);
    let again = new(1).unwrap();
    drop((second, again));
    assert!(!ArenaHal::vmids().is_held(1));
}

#[test]
fn a_failed_space_gives_its_vmid_back() {
    ArenaHal::install(ArenaConfig {
        bytes: 0x1000,
        contiguous: true,
        poison: true,
    });
    let frame = ArenaHal::alloc_frame().unwrap();
    let new = || {
        AddrSpace::<ArenaHal, Ept, RecordingTlb>::with_format(
            Ept::with_vpid(4),
            RecordingTlb::default(),
            0.into(),
            1 << 30,
        )
    };
    assert_eq!(new().err(), Some(AxVmError::NoMemory));
    assert!(!ArenaHal::vmids().is_held(4));
    ArenaHal::dealloc_frame(frame);
    assert!(new().is_ok());
}

/// The old defect: a fault the host had no memory for was reported like the
/// guest's own fault (`false`).
#[test]
fn host_out_of_memory_is_the_hosts_error() {
    fresh_arena();
    let mut space: AddrSpace<ArenaHal, Ept, RecordingTlb> =
        AddrSpace::with_format(Ept::new(), RecordingTlb::default(), 0.into(), 1 << 30).unwrap();
    space.map_alloc(0.into(), 0x20_0000, RW, false).unwrap();
    let mut taken = alloc::vec::Vec::new();
    while let Some(frame) = ArenaHal::alloc_frame() {
        taken.push(frame);
    }
    assert_eq!(
        space.try_handle_page_fault(0x1000.into(), MappingFlags::WRITE),
        Err(AxVmError::NoMemory)
    );
    assert!(!space.handle_page_fault(0x1000.into(), MappingFlags::WRITE));
    // The guest's own faults stay `Ok(false)`.
    assert_eq!(
        space.try_handle_page_fault(0x40_0000.into(), MappingFlags::READ),
        Ok(false)
    );
    assert_eq!(
        space.try_handle_page_fault(0x1000.into(), MappingFlags::EXECUTE),
        Ok(false)
    );
    for frame in taken {
        ArenaHal::dealloc_frame(frame);
    }
    assert_eq!(
        space.try_handle_page_fault(0x1000.into(), MappingFlags::WRITE),
        Ok(true)
    );
}
