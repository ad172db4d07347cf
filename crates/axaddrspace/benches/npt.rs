//! Benchmarks of the nested page tables over the arena HAL (see docs/performance.md).
//!
//! Every guest range is 1 GiB; the host ranges of linear mappings are never
//! touched, so map and unmap measure the tables alone.

#![allow(clippy::unwrap_used, clippy::arithmetic_side_effects, missing_docs)]

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use axaddrspace::{
    AddrSpace, AxMmHal, Ept, NestedFormat, Stage2, Sv4x,
    testing::{ArenaConfig, ArenaHal, RecordingTlb},
};
use axvm_types::{GuestPhysAddr, HostPhysAddr, MappingFlags};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const GIB: usize = 0x4000_0000;
const MIB2: usize = 0x20_0000;
const HOST: usize = 0x40_0000_0000;
const RW: MappingFlags = MappingFlags::READ.union(MappingFlags::WRITE);
const TRANSLATIONS: usize = 1 << 20;

/// Host offsets that force each leaf size over a 1 GiB-aligned guest range.
const LAYOUTS: [(&str, usize); 3] = [("4k_pages", 0x1000), ("2m_blocks", MIB2), ("1g_blocks", 0)];

type Space<F> = AddrSpace<ArenaHal, F, RecordingTlb>;

fn install_arena() {
    ArenaHal::install(ArenaConfig {
        bytes: 2 * GIB + 64 * MIB2,
        contiguous: true,
        poison: false,
    });
}

fn space<F: NestedFormat>(format: &F) -> Space<F> {
    AddrSpace::with_format(
        format.clone(),
        RecordingTlb::default(),
        GuestPhysAddr::from(0),
        4 * GIB,
    )
    .unwrap()
}

fn mapped<F: NestedFormat>(format: &F, host_offset: usize) -> Space<F> {
    let mut space = space(format);
    space
        .map_linear(GIB.into(), HostPhysAddr::from(HOST + host_offset), GIB, RW)
        .unwrap();
    space
}

/// Times `measured` on a space prepared by `setup`, excluding setup and teardown.
fn timed<S>(
    iters: u64,
    mut setup: impl FnMut() -> S,
    mut measured: impl FnMut(&mut S),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let mut state = setup();
        let start = Instant::now();
        measured(&mut state);
        total += start.elapsed();
        drop(state);
    }
    total
}

fn map_and_unmap<F: NestedFormat>(c: &mut Criterion, name: &str, format: F) {
    install_arena();
    let mut group = c.benchmark_group(format!("{name}/linear_1gib"));
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for (layout, host_offset) in LAYOUTS {
        group.bench_function(BenchmarkId::new("map", layout), |b| {
            b.iter_custom(|iters| {
                timed(
                    iters,
                    || space(&format),
                    |space| {
                        space
                            .map_linear(GIB.into(), HostPhysAddr::from(HOST + host_offset), GIB, RW)
                            .unwrap()
                    },
                )
            })
        });
        group.bench_function(BenchmarkId::new("unmap", layout), |b| {
            b.iter_custom(|iters| {
                timed(
                    iters,
                    || mapped(&format, host_offset),
                    |space| space.unmap(GIB.into(), GIB).unwrap(),
                )
            })
        });
    }
    group.finish();
}

fn translate<F: NestedFormat>(c: &mut Criterion, name: &str, format: F) {
    install_arena();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let addresses: Vec<GuestPhysAddr> = (0..TRANSLATIONS)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            GuestPhysAddr::from(GIB + (seed as usize % GIB))
        })
        .collect();
    let mut group = c.benchmark_group(format!("{name}/translate_1m_random"));
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    group.throughput(Throughput::Elements(TRANSLATIONS as u64));
    for (layout, host_offset) in LAYOUTS.into_iter().take(2) {
        let space = mapped(&format, host_offset);
        group.bench_function(layout, |b| {
            b.iter(|| {
                addresses.iter().fold(0usize, |sum, gpa| {
                    sum.wrapping_add(
                        space
                            .translate(black_box(*gpa))
                            .map_or(0, HostPhysAddr::as_usize),
                    )
                })
            })
        });
    }
    group.finish();
}

fn allocate(c: &mut Criterion) {
    install_arena();
    let ept = Ept::new();
    let mut group = c.benchmark_group("ept/alloc_1gib");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));
    group.bench_function("memset_baseline", |b| {
        b.iter_custom(|iters| {
            let frames = GIB / 0x1000;
            let block = ArenaHal::alloc_contiguous_frames(frames, 30).unwrap();
            let host = ArenaHal::phys_to_virt(block).as_mut_ptr();
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                // SAFETY: `block` is 1 GiB of arena memory this benchmark owns.
                unsafe { std::ptr::write_bytes(black_box(host), 0, GIB) };
                total += start.elapsed();
            }
            ArenaHal::dealloc_contiguous_frames(block, frames);
            total
        })
    });
    // What zeroing costs page by page, as a host that grants only 4 KiB frames forces.
    group.bench_function("memset_4k_pieces_baseline", |b| {
        b.iter_custom(|iters| {
            let frames = GIB / 0x1000;
            let block = ArenaHal::alloc_contiguous_frames(frames, 30).unwrap();
            let host = ArenaHal::phys_to_virt(block).as_mut_ptr();
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                for frame in 0..frames {
                    // SAFETY: each 4 KiB piece is inside the 1 GiB block this benchmark owns.
                    unsafe {
                        std::ptr::write_bytes(black_box(host.add(frame * 0x1000)), 0, 0x1000)
                    };
                }
                total += start.elapsed();
            }
            ArenaHal::dealloc_contiguous_frames(block, frames);
            total
        })
    });
    group.bench_function("eager_largest_blocks", |b| {
        b.iter_custom(|iters| {
            timed(
                iters,
                || space(&ept),
                |space| space.map_alloc(GIB.into(), GIB, RW, true).unwrap(),
            )
        })
    });
    group.bench_function("lazy_fault_in", |b| {
        b.iter_custom(|iters| {
            timed(
                iters,
                || space(&ept),
                |space| {
                    space.map_alloc(GIB.into(), GIB, RW, false).unwrap();
                    let mut gpa = GIB;
                    while gpa < 2 * GIB {
                        assert!(space.handle_page_fault(gpa.into(), MappingFlags::WRITE));
                        gpa += space
                            .query(gpa.into())
                            .map_or(0x1000, |(_, _, size)| size.bytes());
                    }
                },
            )
        })
    });
    group.bench_function("eager_4k_frames", |b| {
        ArenaHal::set_contiguous(false);
        b.iter_custom(|iters| {
            timed(
                iters,
                || space(&ept),
                |space| space.map_alloc(GIB.into(), GIB, RW, true).unwrap(),
            )
        });
        ArenaHal::set_contiguous(true);
    });
    group.finish();
}

/// Hypervisor copies to and from guest memory: a 1 MiB image and a 64-byte
/// structure (a hypercall argument block, a descriptor).
fn copy(c: &mut Criterion) {
    install_arena();
    let mut space = space(&Ept::new());
    space.map_alloc(GIB.into(), 16 * MIB2, RW, true).unwrap();
    let mut group = c.benchmark_group("ept/copy");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    let mut buf = vec![0x5au8; 1 << 20];
    group.throughput(Throughput::Bytes(buf.len() as u64));
    group.bench_function("write_1mib", |b| {
        b.iter(|| space.write(black_box(GIB + 0x10).into(), &buf).unwrap())
    });
    group.bench_function("read_1mib", |b| {
        b.iter(|| space.read(black_box(GIB + 0x10).into(), &mut buf).unwrap())
    });
    // A plain `memcpy` of the same host memory: what the atomic-element copy costs
    // over one that would race with running vCPUs.
    let host = space
        .translated_byte_buffer((GIB + 0x10).into(), buf.len())
        .unwrap()
        .first()
        .unwrap()
        .as_ptr();
    group.bench_function("memcpy_1mib_baseline", |b| {
        // SAFETY: 1 MiB of guest RAM this benchmark allocated and nothing else uses.
        b.iter(|| unsafe {
            std::ptr::copy_nonoverlapping(black_box(host), buf.as_mut_ptr(), buf.len())
        })
    });
    let mut small = [0u8; 64];
    group.throughput(Throughput::Bytes(small.len() as u64));
    group.bench_function("read_64b", |b| {
        b.iter(|| {
            space
                .read(black_box(GIB + 0x1_0008).into(), &mut small)
                .unwrap()
        })
    });
    group.finish();
}

fn formats(c: &mut Criterion) {
    map_and_unmap(c, "ept", Ept::new());
    map_and_unmap(c, "stage2", Stage2::default());
    map_and_unmap(c, "sv39x4", Sv4x::default());
    translate(c, "ept", Ept::new());
    translate(c, "stage2", Stage2::default());
    translate(c, "sv39x4", Sv4x::default());
}

criterion_group!(benches, formats, allocate, copy);
criterion_main!(benches);
