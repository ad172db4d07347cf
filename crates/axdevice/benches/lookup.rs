//! MMIO device lookup latency: the bus's predecessor search against linear scans of the
//! same devices, with 4, 64 and 1024 devices, for hits and for misses.
//!
//! Two linear scans are measured: `linear_dyn` asks every device for its window through
//! the trait object, as the reference implementation does; `linear_ranges` scans the
//! windows the bus stores, the fastest a scan can be.
//!
//! `bus/*-skewed/1024` puts the last of the 1024 devices far above the others, so the
//! bucket table cannot separate the rest: the worst case, a binary search over them all.
//!
//! Run: `cargo bench -p axdevice --bench lookup`.

// Setup with constant, valid inputs; the measured code paths return values, not panics.
#![allow(clippy::expect_used, clippy::arithmetic_side_effects)]

use std::{hint::black_box, sync::Arc, time::Duration};

use axdevice::{AxVmDevices, DummyDevice, MmioRange};
use axvm_types::GuestPhysAddr;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

const BASE: usize = 0x1000_0000;
/// Each device has a 4 KiB window; windows are 8 KiB apart so a gap follows each one.
const WINDOW: usize = 0x1000;
const STRIDE: usize = 0x2000;
/// Lookups cycle through this many addresses, in an order the branch predictor cannot learn.
const ADDRESSES: usize = 4096;

/// Where the far device of the skewed layout sits.
const FAR: usize = 0xffff_0000_0000_0000;

fn devices(count: usize, skewed: bool) -> AxVmDevices {
    let mut devices = AxVmDevices::empty();
    for i in 0..count {
        let start = if skewed && i + 1 == count {
            FAR
        } else {
            BASE + i * STRIDE
        };
        let range = MmioRange::from_raw(start, WINDOW).expect("valid window");
        let name = format!("dev{i}");
        devices
            .add_mmio_dev(Arc::new(DummyDevice::new(&name, range)))
            .expect("windows are disjoint");
    }
    devices
}

/// Pseudo-random addresses inside windows (`hit`) or in the gaps after them.
fn addresses(count: usize, hit: bool) -> Vec<GuestPhysAddr> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..ADDRESSES)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let device = (state % count as u64) as usize;
            let offset = ((state >> 32) % WINDOW as u64) as usize;
            let gap = if hit { 0 } else { WINDOW };
            GuestPhysAddr::from(BASE + device * STRIDE + gap + offset)
        })
        .collect()
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("mmio_lookup");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for count in [4, 64, 1024] {
        let devices = devices(count, false);
        for hit in [true, false] {
            let addrs = addresses(count, hit);
            let case = if hit { "hit" } else { "miss" };
            let mut i = 0usize;
            let mut next = move || {
                i = (i + 1) % ADDRESSES;
                addrs.get(i).copied().unwrap_or_default()
            };
            group.bench_function(BenchmarkId::new(format!("bus/{case}"), count), |b| {
                b.iter(|| black_box(devices.find_mmio_dev(black_box(next())).is_some()));
            });
            group.bench_function(BenchmarkId::new(format!("linear_dyn/{case}"), count), |b| {
                b.iter(|| {
                    let addr = black_box(next());
                    black_box(
                        devices
                            .iter_mmio_dev()
                            .find(|device| device.address_range().contains(addr))
                            .is_some(),
                    )
                });
            });
            group.bench_function(
                BenchmarkId::new(format!("linear_ranges/{case}"), count),
                |b| {
                    b.iter(|| {
                        let addr = black_box(next());
                        black_box(
                            devices
                                .mmio_bus()
                                .iter_ranges()
                                .find(|(range, _)| range.contains(addr))
                                .is_some(),
                        )
                    });
                },
            );
        }
    }
    let skewed = devices(1024, true);
    for hit in [true, false] {
        // Addresses among the 1023 crowded devices.
        let addrs = addresses(1023, hit);
        let case = if hit { "hit-skewed" } else { "miss-skewed" };
        let mut i = 0usize;
        group.bench_function(BenchmarkId::new(format!("bus/{case}"), 1024), |b| {
            b.iter(|| {
                i = (i + 1) % ADDRESSES;
                let addr = addrs.get(i).copied().unwrap_or_default();
                black_box(skewed.find_mmio_dev(black_box(addr)).is_some())
            });
        });
    }
    group.finish();
}

criterion_group!(benches, lookup);
criterion_main!(benches);
