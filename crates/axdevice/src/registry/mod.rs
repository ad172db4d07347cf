//! Device factories keyed by [`EmulatedDeviceType`]: how a config line becomes devices.
//!
//! Adding a model means registering one more factory; no central `match` knows every type.

mod builtin;
mod controller;
mod gic;
mod plic;
#[cfg(test)]
mod tests;

use alloc::{
    boxed::Box,
    collections::{BTreeMap, BTreeSet},
    string::String,
    sync::Arc,
    vec::Vec,
};

use axvm_types::{EmulatedDeviceConfig, EmulatedDeviceType};

use crate::{
    backend::{LogBackend, SerialBackend},
    devices::{AxVmDeviceConfig, AxVmDevices},
    error::DeviceError,
    platform::Platform,
};

/// Builds the device(s) one config line describes and registers them in the VM's devices.
pub type DeviceFactory =
    dyn Fn(&EmulatedDeviceConfig, &mut AxVmDevices) -> Result<(), DeviceError> + Send + Sync;

/// Gives each console device its host end.
pub type ConsoleProvider = dyn Fn(&EmulatedDeviceConfig) -> Arc<dyn SerialBackend> + Send + Sync;

/// The factories a hypervisor builds VM devices with, for one [`Platform`].
pub struct DeviceRegistry {
    platform: Platform,
    factories: BTreeMap<EmulatedDeviceType, Box<DeviceFactory>>,
    /// The types whose factories build interrupt controllers.
    controllers: BTreeSet<EmulatedDeviceType>,
}

impl core::fmt::Debug for DeviceRegistry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeviceRegistry")
            .field("platform", &self.platform)
            .field("types", &self.factories.keys().collect::<Vec<_>>())
            .field("controllers", &self.controllers)
            .finish()
    }
}

impl DeviceRegistry {
    /// A registry for `platform` with no factory.
    #[must_use]
    pub const fn new(platform: Platform) -> Self {
        Self {
            platform,
            factories: BTreeMap::new(),
            controllers: BTreeSet::new(),
        }
    }

    /// A registry for `platform` with the crate's models:
    ///
    /// | type | model |
    /// | --- | --- |
    /// | `interrupt-controller` | aarch64: a [`VGic`](crate::VGic) (GICv3): GICD at the window, which must be 64 KiB; `cfg_list[0]` = the GICR base (one 128 KiB redistributor per vCPU of [`AxVmDeviceConfig::vcpu_num`]); optional `cfg_list[1]` = the SPI count (default: enough for the highest `irq_id` of the other devices, at least 32, rounded up to 32); every other device's `irq_id` must then be 0 (none) or an SPI's INTID the GIC has. riscv64: a [`VPlic`](crate::VPlic) over the window (usually 0x60_0000); optional `cfg_list[0]` = the source count N (default [`VPlicConfig::sources_for_lines`](crate::VPlicConfig::sources_for_lines) of the other devices' `irq_id`s), optional `cfg_list[1]` = the context count (the vCPU count, the default: S-mode contexts only; or twice it: M and S per hart, see [`PlicContexts`](crate::PlicContexts)); every other device's `irq_id` must then be 0 or a source 1 to N |
    /// | `pppt-global` | riscv64: the same [`VPlic`](crate::VPlic), from the ArceOS hypervisor's form `["plic", 0x0c00_0000, 0x60_0000, 0, 0x30, [context_num]]` (emulated whole, nothing passed through) |
    /// | `console` | aarch64: [`Pl011`](crate::Pl011) (MMIO); x86_64 and riscv64: [`Ns16550`](crate::Ns16550), a port device when [`Platform::window`] says the window is a port window, else MMIO; either with its interrupt wired to the controller when the VM has one and `irq_id` is not 0 |
    /// | `dummy` | [`DummyDevice`](crate::DummyDevice), port or MMIO by the same rule |
    /// | `ivc-channel` | the VM's [`IvcChannelAllocator`](crate::IvcChannelAllocator) pool over the window |
    ///
    /// The console model follows what each platform's reference machine has (QEMU
    /// `virt` on aarch64: PL011; a PC and riscv `virt`: 16550), so a guest's stock driver
    /// finds it. `consoles` gives each console its host end.
    #[must_use]
    pub fn with_builtin_models(
        platform: Platform,
        consoles: impl Fn(&EmulatedDeviceConfig) -> Arc<dyn SerialBackend> + Send + Sync + 'static,
    ) -> Self {
        let mut registry = Self::new(platform);
        builtin::register(&mut registry, Arc::new(consoles));
        registry
    }

    /// The platform the registry builds for.
    #[must_use]
    pub const fn platform(&self) -> Platform {
        self.platform
    }

    /// Makes `factory` build devices of type `emu_type`, replacing any factory it had.
    pub fn register(
        &mut self,
        emu_type: EmulatedDeviceType,
        factory: impl Fn(&EmulatedDeviceConfig, &mut AxVmDevices) -> Result<(), DeviceError>
        + Send
        + Sync
        + 'static,
    ) -> &mut Self {
        self.factories.insert(emu_type, Box::new(factory));
        self.controllers.remove(&emu_type);
        self
    }

    /// Makes `factory` build the VM's interrupt controller from lines of type
    /// `emu_type`, replacing any factory it had: [`build`](Self::build) runs it before
    /// the factories of other devices, so they find the controller to wire their lines to.
    pub fn register_interrupt_controller(
        &mut self,
        emu_type: EmulatedDeviceType,
        factory: impl Fn(&EmulatedDeviceConfig, &mut AxVmDevices) -> Result<(), DeviceError>
        + Send
        + Sync
        + 'static,
    ) -> &mut Self {
        self.register(emu_type, factory);
        self.controllers.insert(emu_type);
        self
    }

    /// Whether lines of type `emu_type` build an interrupt controller.
    #[must_use]
    pub fn builds_interrupt_controller(&self, emu_type: EmulatedDeviceType) -> bool {
        self.controllers.contains(&emu_type)
    }

    /// Whether the registry can build devices of type `emu_type`.
    #[must_use]
    pub fn supports(&self, emu_type: EmulatedDeviceType) -> bool {
        self.factories.contains_key(&emu_type)
    }

    /// The types the registry can build, in code order.
    pub fn supported_types(&self) -> impl Iterator<Item = EmulatedDeviceType> + '_ {
        self.factories.keys().copied()
    }

    /// Builds the device(s) of one config line into `devices`.
    ///
    /// # Errors
    ///
    /// [`DeviceError::NoModel`] listing the supported types if the registry has no factory
    /// for the line's type; otherwise whatever the factory reports.
    pub fn create(
        &self,
        config: &EmulatedDeviceConfig,
        devices: &mut AxVmDevices,
    ) -> Result<(), DeviceError> {
        let factory = self
            .factories
            .get(&config.emu_type)
            .ok_or_else(|| self.no_model(config))?;
        factory(config, devices)
    }

    fn no_model(&self, config: &EmulatedDeviceConfig) -> DeviceError {
        let supported = self
            .supported_types()
            .map(EmulatedDeviceType::name)
            .collect::<Vec<_>>()
            .join(", ");
        DeviceError::NoModel {
            name: config.name.clone(),
            emu_type: config.emu_type,
            platform: self.platform.name(),
            supported: if supported.is_empty() {
                String::from("none")
            } else {
                supported
            },
        }
    }

    /// Builds every device of `config`: the interrupt controllers first (the lines whose
    /// type was registered with
    /// [`register_interrupt_controller`](Self::register_interrupt_controller)), so that
    /// every device finds the controller it raises its lines at wherever the config
    /// lists it, then the others, each group in config order.
    ///
    /// # Errors
    ///
    /// The first line that fails, see [`create`](Self::create).
    pub fn build(&self, config: &AxVmDeviceConfig) -> Result<AxVmDevices, DeviceError> {
        let mut devices = AxVmDevices::for_config(config);
        let is_controller =
            |line: &&EmulatedDeviceConfig| self.builds_interrupt_controller(line.emu_type);
        let controllers = config.emu_configs.iter().filter(is_controller);
        let others = config
            .emu_configs
            .iter()
            .filter(|line| !is_controller(line));
        for line in controllers.chain(others) {
            self.create(line, &mut devices)?;
        }
        Ok(devices)
    }
}

impl Default for DeviceRegistry {
    /// The built-in models for the native platform; each console logs its output lines
    /// (prefixed with the device name) at info level and has no input.
    fn default() -> Self {
        Self::with_builtin_models(Platform::native(), |config| {
            Arc::new(LogBackend::new(&config.name))
        })
    }
}
