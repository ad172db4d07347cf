//! MMIO device lookup latency: the bus's predecessor search against linear scans of the
//! same devices, with 4, 64 and 1024 devices, for hits and for misses.
//!
//! Two linear scans are measured: `linear_dyn` asks every device for its window through
//! the trait object, as the reference implementation does; `linear_ranges` scans the
//! windows the bus stores, the fastest a scan can be.
//!
//! Two more layouts of 1024 devices test the bucket table's limits (bus only):
//! `outlier` moves the last device far above the others; `clustered` packs half of the
//! devices and spreads the other half 1 GiB apart, the table's worst case (the spread half
//! is found by binary search).
//!
//! Run: `cargo bench -p axdevice --bench lookup`.

// Setup with constant, valid inputs; the measured code paths return values, not panics.
#![allow(clippy::expect_used, clippy::arithmetic_side_effects)]

use std::{hint::black_box, sync::Arc, time::Duration};

use axdevice::{AxVmDevices, DummyDevice, MmioRange};
use axvm_types::GuestPhysAddr;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

const BASE: usize = 0x1000_0000;
/// Each device has a 4 KiB window; windows are at least 8 KiB apart so a gap follows each.
const WINDOW: usize = 0x1000;
const STRIDE: usize = 0x2000;
/// Lookups cycle through this many addresses, in an order the branch predictor cannot learn.
const ADDRESSES: usize = 4096;

#[derive(Clone, Copy)]
enum Layout {
    /// Windows 8 KiB apart.
    Uniform,
    /// Uniform, but the last window at 0xffff_0000_0000_0000.
    Outlier,
    /// The first half 8 KiB apart, the second half 1 GiB apart above 4 GiB.
    Clustered,
}

impl Layout {
    fn start(self, i: usize, count: usize) -> usize {
        match self {
            Self::Outlier if i + 1 == count => 0xffff_0000_0000_0000,
            Self::Clustered if i >= count / 2 => 0x1_0000_0000 + (i - count / 2) * 0x4000_0000,
            _ => BASE + i * STRIDE,
        }
    }
}

fn devices(layout: Layout, count: usize) -> AxVmDevices {
    let mut devices = AxVmDevices::empty();
    for i in 0..count {
        let range = MmioRange::from_raw(layout.start(i, count), WINDOW).expect("valid window");
        devices
            .add_mmio_dev(Arc::new(DummyDevice::new(&format!("dev{i}"), range)))
            .expect("windows are disjoint");
    }
    devices
}

/// Pseudo-random addresses inside windows (`hit`) or in the gaps after them.
fn addresses(layout: Layout, count: usize, hit: bool) -> Vec<GuestPhysAddr> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..ADDRESSES)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let device = (state % count as u64) as usize;
            let offset = ((state >> 32) % WINDOW as u64) as usize;
            let gap = if hit { 0 } else { WINDOW };
            GuestPhysAddr::from(layout.start(device, count) + gap + offset)
        })
        .collect()
}

/// Cycles through `addrs`.
fn cycle(addrs: Vec<GuestPhysAddr>) -> impl FnMut() -> GuestPhysAddr {
    let mut i = 0usize;
    move || {
        i = (i + 1) % ADDRESSES;
        addrs.get(i).copied().unwrap_or_default()
    }
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("mmio_lookup");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for count in [4, 64, 1024] {
        let devices = devices(Layout::Uniform, count);
        for hit in [true, false] {
            let case = if hit { "hit" } else { "miss" };
            let mut next = cycle(addresses(Layout::Uniform, count, hit));
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
    for (layout, name) in [
        (Layout::Outlier, "outlier"),
        (Layout::Clustered, "clustered"),
    ] {
        let devices = devices(layout, 1024);
        for hit in [true, false] {
            let case = if hit { "hit" } else { "miss" };
            let mut next = cycle(addresses(layout, 1024, hit));
            group.bench_function(BenchmarkId::new(format!("bus/{case}-{name}"), 1024), |b| {
                b.iter(|| black_box(devices.find_mmio_dev(black_box(next())).is_some()));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, lookup);
criterion_main!(benches);
