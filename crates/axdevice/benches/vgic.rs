//! The vGICv3's costs on the paths a running guest takes: a GICD write and read through
//! `AxVmDevices` (bus lookup + decode + lock + state), and one list/sync round of the run
//! loop with one pending interrupt.
//!
//! The VM is the aarch64 registry's: a GICD, one vCPU's GICR and a PL011 with SPI 33.
//!
//! Run: `cargo bench -p axdevice --bench vgic`.

// Setup with constant, valid inputs; the measured code paths return values, not panics.
#![allow(clippy::expect_used)]

use std::{hint::black_box, sync::Arc, time::Duration};

use axdevice::{
    AxVmDeviceConfig, AxVmDevices, DeviceRegistry, LogBackend, Platform, SerialBackend,
};
use axvm_types::{
    AccessWidth, EmulatedDeviceConfig, EmulatedDeviceType, GuestPhysAddr, VirtualIrq,
};
use criterion::{Criterion, criterion_group, criterion_main};

const GICD: usize = 0x0800_0000;

fn vm() -> AxVmDevices {
    let registry = DeviceRegistry::with_builtin_models(Platform::Aarch64, |config| {
        Arc::new(LogBackend::new(&config.name)) as Arc<dyn SerialBackend>
    });
    let line = |name: &str, base_gpa, length, irq_id, emu_type, cfg_list| EmulatedDeviceConfig {
        name: name.into(),
        base_gpa,
        length,
        irq_id,
        emu_type,
        cfg_list,
    };
    registry
        .build(&AxVmDeviceConfig::new(vec![
            line(
                "gic",
                GICD,
                0x1_0000,
                0,
                EmulatedDeviceType::InterruptController,
                vec![0x080a_0000],
            ),
            line(
                "uart",
                0x0900_0000,
                0x1000,
                33,
                EmulatedDeviceType::Console,
                vec![],
            ),
        ]))
        .expect("a valid VM")
}

fn gicd(c: &mut Criterion) {
    let devices = vm();
    let mut group = c.benchmark_group("vgic");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let isenabler = GuestPhysAddr::from(GICD + 0x104);
    group.bench_function("gicd_write_isenabler", |b| {
        b.iter(|| {
            devices
                .handle_mmio_write(black_box(isenabler), AccessWidth::Dword, black_box(0x2))
                .expect("GICD write")
        });
    });
    let ctlr = GuestPhysAddr::from(GICD);
    group.bench_function("gicd_read_ctlr", |b| {
        b.iter(|| {
            devices
                .handle_mmio_read(black_box(ctlr), AccessWidth::Dword)
                .expect("GICD read")
        });
    });
    devices
        .handle_mmio_write(ctlr, AccessWidth::Dword, 0x2)
        .expect("enable group 1");
    let controller = devices.interrupt_controller().expect("a GIC");
    let sink = devices.irq_sink().expect("a GIC");
    let mut out = Vec::with_capacity(4);
    let mut handled: Vec<VirtualIrq> = Vec::with_capacity(4);
    group.bench_function("raise_list_handle_sync", |b| {
        b.iter(|| {
            sink.pulse(33);
            controller.irqs_for_vcpu(0, 4, &mut out);
            handled.clear();
            handled.extend(out.iter().map(|irq| VirtualIrq {
                state: axvm_types::VirqState::Inactive,
                ..*irq
            }));
            controller.sync_from_vcpu(0, black_box(&handled));
        });
    });
    group.finish();
}

criterion_group!(benches, gicd);
criterion_main!(benches);
