//! The factories of the crate's own models.

use alloc::sync::Arc;

use axvm_types::{EmulatedDeviceConfig, EmulatedDeviceType};

use super::{ConsoleProvider, DeviceRegistry, gic};
use crate::{
    addr::{DeviceAddr, DeviceRange, MmioRange},
    devices::AxVmDevices,
    error::DeviceError,
    ivc::IvcChannelAllocator,
    models::{DummyDevice, Ns16550, Pl011},
    platform::{Platform, Window},
    traits::BaseDeviceOps,
};

/// Registers a device built for whichever address kind the platform puts its window in.
fn add_in_window(
    platform: Platform,
    config: &EmulatedDeviceConfig,
    devices: &mut AxVmDevices,
    build: impl GenericBuild,
) -> Result<(), DeviceError> {
    match platform.window(config)? {
        Window::Port(range) => devices.add_port_dev(build.build(config, range)),
        Window::Mmio(range) => devices.add_mmio_dev(build.build(config, range)),
    }
}

/// A constructor for a model that is generic over the address kind.
trait GenericBuild {
    fn build<A: DeviceAddr>(
        &self,
        config: &EmulatedDeviceConfig,
        range: DeviceRange<A>,
    ) -> Arc<dyn BaseDeviceOps<A>>;
}

struct BuildDummy;

impl GenericBuild for BuildDummy {
    fn build<A: DeviceAddr>(
        &self,
        config: &EmulatedDeviceConfig,
        range: DeviceRange<A>,
    ) -> Arc<dyn BaseDeviceOps<A>> {
        Arc::new(DummyDevice::new(&config.name, range))
    }
}

struct BuildNs16550(Arc<ConsoleProvider>);

impl GenericBuild for BuildNs16550 {
    fn build<A: DeviceAddr>(
        &self,
        config: &EmulatedDeviceConfig,
        range: DeviceRange<A>,
    ) -> Arc<dyn BaseDeviceOps<A>> {
        Arc::new(Ns16550::new(&config.name, range, (self.0)(config)))
    }
}

/// Wires a PL011's interrupt to the VM's controller, if it has one and the config names
/// a line.
fn wire_pl011(uart: Pl011, config: &EmulatedDeviceConfig, devices: &AxVmDevices) -> Pl011 {
    match (devices.irq_sink(), u32::try_from(config.irq_id)) {
        (Some(sink), Ok(line)) if line != 0 => uart.with_irq(sink, line),
        _ => uart,
    }
}

pub(super) fn register(registry: &mut DeviceRegistry, consoles: Arc<ConsoleProvider>) {
    let platform = registry.platform();
    registry.register(EmulatedDeviceType::Dummy, move |config, devices| {
        add_in_window(platform, config, devices, BuildDummy)
    });
    registry.register(EmulatedDeviceType::IVCChannel, |config, devices| {
        let pool = IvcChannelAllocator::new(&config.name, MmioRange::for_config(config)?)?;
        devices.set_ivc_pool(&config.name, pool)
    });
    match platform {
        Platform::Aarch64 => {
            registry.register(EmulatedDeviceType::InterruptController, gic::build);
            registry.register(EmulatedDeviceType::Console, move |config, devices| {
                let range = MmioRange::for_config(config)?;
                let uart = Pl011::new(&config.name, range, consoles(config));
                devices.add_mmio_dev(Arc::new(wire_pl011(uart, config, devices)))
            })
        }
        Platform::X86_64 | Platform::Riscv64 => {
            registry.register(EmulatedDeviceType::Console, move |config, devices| {
                add_in_window(platform, config, devices, BuildNs16550(consoles.clone()))
            })
        }
    };
}
