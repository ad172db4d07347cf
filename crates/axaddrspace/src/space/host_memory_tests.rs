//! The hypervisor reaches only host memory the host vouched for, and copies
//! guest memory soundly while vCPUs (here: another thread) write it.

use core::sync::atomic::{AtomicU64, Ordering};

use axvm_types::{AxVmError, HostPhysAddr, MappingFlags};

use super::AddrSpace;
use crate::{
    format::Ept,
    hal::{AxMmHal, LinearMemory},
    testing::{ArenaConfig, ArenaHal, RecordingTlb},
};

const RW: MappingFlags = MappingFlags::READ.union(MappingFlags::WRITE);
/// Outside every arena: the test process's memory would be here, if anything.
const OUTSIDE: usize = 0x40_0000_0000;

type Space = AddrSpace<ArenaHal, Ept, RecordingTlb>;

fn space() -> Space {
    ArenaHal::install(ArenaConfig::default());
    AddrSpace::with_format(Ept::new(), RecordingTlb::default(), 0.into(), 1 << 30).unwrap()
}

/// The old defect: safe `map_linear` of any host address and a safe `read`
/// dereferenced `phys_to_virt` of it (a segfault with `ArenaHal`).
#[test]
fn memory_the_host_did_not_vouch_for_is_never_dereferenced() {
    let mut space = space();
    assert_eq!(
        ArenaHal::linear_memory(HostPhysAddr::from(OUTSIDE), 0x1000),
        LinearMemory::Device
    );
    // Mapped for the guest (device memory, as far as the hypervisor knows)...
    space
        .map_linear(0x1000.into(), HostPhysAddr::from(OUTSIDE), 0x1000, RW)
        .unwrap();
    assert!(space.translate(0x1000.into()).is_some());
    // ...but never reached by the hypervisor.
    let mut buf = [0u8; 16];
    assert_eq!(
        space.read(0x1000.into(), &mut buf),
        Err(AxVmError::BadAddress)
    );
    assert_eq!(space.write(0x1000.into(), &buf), Err(AxVmError::BadAddress));
    assert_eq!(
        space.translated_byte_buffer(0x1000.into(), 16).err(),
        Some(AxVmError::BadAddress)
    );
}

/// Host memory in use by the host (here: the space's own root table) cannot be
/// given to a guest at all.
#[test]
fn host_memory_in_use_is_refused() {
    let mut space = space();
    let root = space.page_table_root();
    assert_eq!(
        space.map_linear(0x1000.into(), root, 0x1000, RW),
        Err(AxVmError::PermissionDenied)
    );
    // Guest RAM the host set aside is mapped; once given back, it is refused.
    let ram = ArenaHal::alloc_guest_ram(2, 12).unwrap();
    assert_eq!(ArenaHal::linear_memory(ram, 0x2000), LinearMemory::Ram);
    assert_eq!(
        space.map_linear(0x1000.into(), ram, 0x3000, RW),
        Err(AxVmError::PermissionDenied),
        "partly beyond the guest RAM"
    );
    space.map_linear(0x1000.into(), ram, 0x2000, RW).unwrap();
    space.write(0x1ffc.into(), b"ram!").unwrap();
    space.unmap(0x1000.into(), 0x2000).unwrap();
    ArenaHal::dealloc_contiguous_frames(ram, 2);
    assert_eq!(ArenaHal::linear_memory(ram, 0x1000), LinearMemory::Refused);
    assert_eq!(
        space.map_linear(0x1000.into(), ram, 0x1000, RW),
        Err(AxVmError::PermissionDenied)
    );
}

#[test]
fn guest_memory_slices_copy_within_their_bounds() {
    let mut space = space();
    space.map_alloc(0.into(), 0x2000, RW, true).unwrap();
    space.write(0xffe.into(), &[1, 2, 3, 4]).unwrap();
    let pieces = space.translated_byte_buffer(0xffe.into(), 4).unwrap();
    let [low, high] = pieces.as_slice() else {
        panic!("two pieces expected");
    };
    assert_eq!((low.len(), high.len()), (2, 2));
    let mut two = [0; 2];
    high.read(0, &mut two).unwrap();
    assert_eq!(two, [3, 4]);
    low.write(1, &[9]).unwrap();
    assert_eq!(low.read(1, &mut two), Err(AxVmError::InvalidInput));
    assert_eq!(low.write(usize::MAX, &[0]), Err(AxVmError::InvalidInput));
    assert_eq!(space.translate(0x1000.into()), Some(high.host_phys_addr()));
    drop(pieces);
    let mut back = [0; 4];
    space.read(0xffe.into(), &mut back).unwrap();
    assert_eq!(back, [1, 9, 3, 4]);
}

/// A copy while a vCPU writes guest memory is no data race: this crate touches
/// guest memory only with atomic elements, so a writer thread using atomics
/// (standing in for a guest) races with nothing (which Miri can check), and every
/// aligned word is seen whole.
#[test]
fn copies_while_a_vcpu_writes_see_whole_words() {
    const WORDS: usize = 64;
    const ROUNDS: u64 = if cfg!(miri) { 20 } else { 2000 };
    let mut space = space();
    space.map_alloc(0.into(), 0x1000, RW, true).unwrap();
    let host = space.translated_byte_buffer(0.into(), WORDS * 8).unwrap()[0].as_ptr() as usize;
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for round in 1..=ROUNDS {
                for word in 0..WORDS {
                    let at = core::ptr::with_exposed_provenance_mut::<u64>(host + word * 8);
                    // SAFETY: the page is allocated guest RAM that outlives the scope
                    // and is 8-byte aligned; everyone accesses it atomically.
                    unsafe { AtomicU64::from_ptr(at) }
                        .store((round & 0xff) * 0x0101_0101_0101_0101, Ordering::Relaxed);
                }
            }
        });
        let mut buf = [0u8; WORDS * 8];
        for _ in 0..ROUNDS {
            space.read(0.into(), &mut buf).unwrap();
            for word in buf.chunks_exact(8) {
                let bytes: [u8; 8] = word.try_into().unwrap();
                let value = u64::from_ne_bytes(bytes);
                assert_eq!(value % 0x0101_0101_0101_0101, 0, "torn word {value:#x}");
            }
        }
    });
    drop(space);
    assert_eq!(ArenaHal::frames_in_use(), 0);
}
