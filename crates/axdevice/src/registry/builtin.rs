//! The factories of the crate's own models.

use alloc::sync::Arc;

use axvm_types::{EmulatedDeviceConfig, EmulatedDeviceType};

use super::{ConsoleProvider, DeviceRegistry, gic, plic};
use crate::{
    addr::{DeviceAddr, DeviceRange, MmioRange},
    devices::AxVmDevices,
    error::DeviceError,
    irq::IrqSink,
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

/// An NS16550 with its host end and, if wired, its interrupt line.
struct BuildNs16550<'a> {
    consoles: &'a ConsoleProvider,
    irq: Option<(Arc<dyn IrqSink>, u32)>,
}

impl GenericBuild for BuildNs16550<'_> {
    fn build<A: DeviceAddr>(
        &self,
        config: &EmulatedDeviceConfig,
        range: DeviceRange<A>,
    ) -> Arc<dyn BaseDeviceOps<A>> {
        let uart = Ns16550::new(&config.name, range, (self.consoles)(config));
        Arc::new(match &self.irq {
            Some((sink, line)) => uart.with_irq(sink.clone(), *line),
            None => uart,
        })
    }
}

/// Where a device's interrupt goes: the VM's controller, if it has one and the config
/// names a line.
fn irq_line(
    config: &EmulatedDeviceConfig,
    devices: &AxVmDevices,
) -> Option<(Arc<dyn IrqSink>, u32)> {
    match (devices.irq_sink(), u32::try_from(config.irq_id)) {
        (Some(sink), Ok(line)) if line != 0 => Some((sink, line)),
        _ => None,
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
            registry
                .register_interrupt_controller(EmulatedDeviceType::InterruptController, gic::build);
            registry.register(EmulatedDeviceType::Console, move |config, devices| {
                let range = MmioRange::for_config(config)?;
                let uart = Pl011::new(&config.name, range, consoles(config));
                let uart = match irq_line(config, devices) {
                    Some((sink, line)) => uart.with_irq(sink, line),
                    None => uart,
                };
                devices.add_mmio_dev(Arc::new(uart))
            })
        }
        Platform::X86_64 | Platform::Riscv64 => {
            if platform == Platform::Riscv64 {
                for emu_type in [
                    EmulatedDeviceType::InterruptController,
                    EmulatedDeviceType::PPPTGlobal,
                ] {
                    registry.register_interrupt_controller(emu_type, plic::build);
                }
            }
            registry.register(EmulatedDeviceType::Console, move |config, devices| {
                let build = BuildNs16550 {
                    consoles: consoles.as_ref(),
                    irq: irq_line(config, devices),
                };
                add_in_window(platform, config, devices, build)
            })
        }
    };
}
