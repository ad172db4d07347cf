//! Tests of the registry and the built-in factories.

use alloc::{
    string::{String, ToString},
    sync::Arc,
    vec,
    vec::Vec,
};

use axvm_types::{AccessWidth, EmulatedDeviceConfig, EmulatedDeviceType, GuestPhysAddr, Port};

use super::*;
use crate::{addr::MmioRange, models::DummyDevice, testing::Line};

fn line(
    name: &str,
    base_gpa: usize,
    length: usize,
    emu_type: EmulatedDeviceType,
) -> EmulatedDeviceConfig {
    EmulatedDeviceConfig {
        name: name.into(),
        base_gpa,
        length,
        irq_id: 0,
        emu_type,
        cfg_list: Vec::new(),
    }
}

fn registry(platform: Platform) -> (DeviceRegistry, Arc<Line>) {
    let output = Line::new();
    let console = output.clone();
    let registry =
        DeviceRegistry::with_builtin_models(platform, move |_| -> Arc<dyn SerialBackend> {
            console.clone()
        });
    (registry, output)
}

#[test]
fn x86_com1_is_a_port_device() {
    let (registry, output) = registry(Platform::X86_64);
    let config = AxVmDeviceConfig::new(vec![line(
        "x86-com1",
        0x3f8,
        8,
        EmulatedDeviceType::Console,
    )]);
    let devices = registry.build(&config).unwrap();
    assert_eq!(devices.iter_port_dev().len(), 1);
    assert_eq!(devices.iter_mmio_dev().len(), 0);
    devices
        .handle_port_write(Port(0x3f8), AccessWidth::Byte, usize::from(b'!'))
        .unwrap();
    assert_eq!(output.sent(), b"!");
}

#[test]
fn riscv_console_is_an_mmio_16550() {
    let (registry, output) = registry(Platform::Riscv64);
    let config = AxVmDeviceConfig::new(vec![line(
        "uart",
        0x1000_0000,
        0x100,
        EmulatedDeviceType::Console,
    )]);
    let devices = registry.build(&config).unwrap();
    let uart = GuestPhysAddr::from(0x1000_0000);
    devices
        .handle_mmio_write(uart, AccessWidth::Byte, usize::from(b'r'))
        .unwrap();
    assert_eq!(output.sent(), b"r");
    // LSR at offset 5: a byte-register 16550, not a PL011.
    assert_eq!(
        devices.handle_mmio_read(GuestPhysAddr::from(0x1000_0005), AccessWidth::Byte),
        Ok(0x60)
    );
}

#[test]
fn aarch64_console_is_a_pl011() {
    let (registry, output) = registry(Platform::Aarch64);
    let config = AxVmDeviceConfig::new(vec![line(
        "pl011",
        0x900_0000,
        0x1000,
        EmulatedDeviceType::Console,
    )]);
    let devices = registry.build(&config).unwrap();
    devices
        .handle_mmio_write(GuestPhysAddr::from(0x900_0000), AccessWidth::Dword, 0x61)
        .unwrap();
    assert_eq!(output.sent(), b"a");
    assert_eq!(
        devices.handle_mmio_read(GuestPhysAddr::from(0x900_0fe0), AccessWidth::Dword),
        Ok(0x11)
    );
}

#[test]
fn a_type_without_a_model_lists_the_supported_ones() {
    let (registry, _) = registry(Platform::Aarch64);
    let config = AxVmDeviceConfig::new(vec![line("pit", 0x40, 4, EmulatedDeviceType::X86Pit)]);
    let error = registry.build(&config).unwrap_err();
    assert_eq!(
        error.to_string(),
        "no model for emulated device type `x86-pit` (device `pit`) on aarch64; \
         supported: dummy, interrupt-controller, console, ivc-channel"
    );
    let empty = DeviceRegistry::new(Platform::X86_64);
    let error = empty
        .build(&AxVmDeviceConfig::new(vec![line(
            "c",
            0x3f8,
            8,
            EmulatedDeviceType::Console,
        )]))
        .unwrap_err();
    assert!(error.to_string().ends_with("supported: none"), "{error}");
}

#[test]
fn user_factories_extend_and_replace_the_builtin_ones() {
    let (mut registry, _) = registry(Platform::Aarch64);
    assert!(!registry.supports(EmulatedDeviceType::X86IoApic));
    registry.register(EmulatedDeviceType::X86IoApic, |config, devices| {
        let range = MmioRange::for_config(config)?;
        devices.add_mmio_dev(Arc::new(DummyDevice::new(&config.name, range)))
    });
    assert!(registry.supports(EmulatedDeviceType::X86IoApic));
    let config = AxVmDeviceConfig::new(vec![line(
        "ioapic",
        0xfec0_0000,
        0x1000,
        EmulatedDeviceType::X86IoApic,
    )]);
    let devices = registry.build(&config).unwrap();
    let (range, device) = devices
        .find_mmio_dev(GuestPhysAddr::from(0xfec0_0010))
        .unwrap();
    assert_eq!(device.name(), "ioapic");
    assert_eq!(range.size(), 0x1000);
}

#[test]
fn controller_factories_run_first() {
    let (mut registry, _) = registry(Platform::Riscv64);
    for emu_type in [
        EmulatedDeviceType::InterruptController,
        EmulatedDeviceType::PPPTGlobal,
    ] {
        assert!(registry.builds_interrupt_controller(emu_type));
    }
    assert!(!registry.builds_interrupt_controller(EmulatedDeviceType::Console));
    let order = Arc::new(spin::Mutex::new(Vec::new()));
    let record = |order: &Arc<spin::Mutex<Vec<String>>>| {
        let order = order.clone();
        move |config: &EmulatedDeviceConfig, _: &mut AxVmDevices| {
            order.lock().push(config.name.clone());
            Ok(())
        }
    };
    registry.register(EmulatedDeviceType::Dummy, record(&order));
    registry.register_interrupt_controller(EmulatedDeviceType::X86IoApic, record(&order));
    let config = AxVmDeviceConfig::new(vec![
        line("a", 0x1000, 0x10, EmulatedDeviceType::Dummy),
        line("ioapic", 0x2000, 0x10, EmulatedDeviceType::X86IoApic),
        line("b", 0x3000, 0x10, EmulatedDeviceType::Dummy),
    ]);
    registry.build(&config).unwrap();
    assert_eq!(*order.lock(), ["ioapic", "a", "b"]);
    // A plain registration replaces the factory and its controller role.
    registry.register(EmulatedDeviceType::X86IoApic, record(&order));
    assert!(!registry.builds_interrupt_controller(EmulatedDeviceType::X86IoApic));
    order.lock().clear();
    registry.build(&config).unwrap();
    assert_eq!(*order.lock(), ["a", "ioapic", "b"]);
}

#[test]
fn overlapping_and_empty_config_windows_are_refused() {
    let (registry, _) = registry(Platform::Riscv64);
    let overlapping = AxVmDeviceConfig::new(vec![
        line("uart", 0x1000_0000, 0x100, EmulatedDeviceType::Console),
        line("hole", 0x1000_0080, 0x1000, EmulatedDeviceType::Dummy),
    ]);
    assert_eq!(
        registry.build(&overlapping).unwrap_err().to_string(),
        "MMIO window of `hole` [0x10000080, 0x10001080) overlaps `uart` [0x10000000, 0x10000100)"
    );
    let empty = AxVmDeviceConfig::new(vec![line(
        "uart",
        0x1000_0000,
        0,
        EmulatedDeviceType::Console,
    )]);
    assert_eq!(
        registry.build(&empty).unwrap_err().to_string(),
        "MMIO window of `uart` is empty"
    );
}

#[test]
fn ivc_channel_config_creates_one_pool() {
    let (registry, _) = registry(Platform::X86_64);
    let ivc = line("ivc", 0x8000_0000, 0x4000, EmulatedDeviceType::IVCChannel);
    let devices = registry
        .build(&AxVmDeviceConfig::new(vec![ivc.clone()]))
        .unwrap();
    let channel = devices.alloc_ivc_channel(0x2000).unwrap();
    assert_eq!(channel, GuestPhysAddr::from(0x8000_0000));
    devices.release_ivc_channel(channel, 0x2000).unwrap();
    assert_eq!(
        registry
            .build(&AxVmDeviceConfig::new(vec![ivc.clone(), ivc]))
            .unwrap_err(),
        DeviceError::DuplicateIvcPool { name: "ivc".into() }
    );
    let none = registry.build(&AxVmDeviceConfig::default()).unwrap();
    assert_eq!(none.alloc_ivc_channel(0x1000), Err(DeviceError::NoIvcPool));
    assert_eq!(
        none.release_ivc_channel(GuestPhysAddr::from(0), 0x1000),
        Err(DeviceError::NoIvcPool)
    );
}

#[test]
fn reference_x86_config_builds_what_has_a_model() {
    // The emulated devices of the reference x86 Linux config: COM1 has a model; the
    // IOAPIC and PIT have none yet, and the error says which types do.
    let (registry, _) = registry(Platform::X86_64);
    let com1 = line("x86-com1", 0x3f8, 0x8, EmulatedDeviceType::Console);
    let pit = line("x86-pit", 0x40, 0x22, EmulatedDeviceType::X86Pit);
    assert!(
        registry
            .build(&AxVmDeviceConfig::new(vec![com1.clone()]))
            .is_ok()
    );
    let error = registry
        .build(&AxVmDeviceConfig::new(vec![com1, pit]))
        .unwrap_err();
    assert!(matches!(
        error,
        DeviceError::NoModel {
            emu_type: EmulatedDeviceType::X86Pit,
            platform: "x86_64",
            ..
        }
    ));
}

#[test]
fn default_registry_serves_the_native_platform() {
    let registry = DeviceRegistry::default();
    assert_eq!(registry.platform(), Platform::native());
    let types: Vec<_> = registry.supported_types().collect();
    assert_eq!(
        types,
        [
            EmulatedDeviceType::Dummy,
            EmulatedDeviceType::Console,
            EmulatedDeviceType::IVCChannel
        ]
    );
    let devices = AxVmDevices::new(AxVmDeviceConfig::new(vec![line(
        "probe",
        0x2000_0000,
        0x10,
        EmulatedDeviceType::Dummy,
    )]))
    .unwrap();
    assert_eq!(
        devices.handle_mmio_read(GuestPhysAddr::from(0x2000_0004), AccessWidth::Dword),
        Ok(0)
    );
}
