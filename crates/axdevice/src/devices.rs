//! `AxVmDevices`: the emulated devices of one VM, one bus per address kind.

use alloc::vec::Vec;

use axvm_types::{AccessWidth, EmulatedDeviceConfig, GuestPhysAddr, Port, SysRegAddr};

use crate::{
    addr::DeviceRange,
    bus::DeviceBus,
    error::DeviceError,
    ivc::IvcChannelAllocator,
    registry::DeviceRegistry,
    traits::{MmioDevice, PortDevice, SysRegDevice},
};

/// The emulated-device part of a VM config.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AxVmDeviceConfig {
    /// The emulated devices, in config order.
    pub emu_configs: Vec<EmulatedDeviceConfig>,
}

impl AxVmDeviceConfig {
    /// A config holding `emu_configs`.
    #[must_use]
    pub const fn new(emu_configs: Vec<EmulatedDeviceConfig>) -> Self {
        Self { emu_configs }
    }
}

/// The emulated devices of one VM: MMIO, port and system-register buses, and the pool IVC
/// channels are allocated from.
#[derive(Debug, Default)]
pub struct AxVmDevices {
    mmio: DeviceBus<GuestPhysAddr>,
    port: DeviceBus<Port>,
    sys_reg: DeviceBus<SysRegAddr>,
    ivc: Option<IvcChannelAllocator>,
}

impl AxVmDevices {
    /// The devices `config` describes, built by the default [`DeviceRegistry`] for the
    /// native platform (consoles log their output).
    ///
    /// # Errors
    ///
    /// The first device that cannot be built or registered, see [`DeviceRegistry::build`].
    pub fn new(config: AxVmDeviceConfig) -> Result<Self, DeviceError> {
        DeviceRegistry::default().build(&config)
    }

    /// A VM with no devices.
    #[must_use]
    pub const fn empty() -> Self {
        Self {
            mmio: DeviceBus::new(),
            port: DeviceBus::new(),
            sys_reg: DeviceBus::new(),
            ivc: None,
        }
    }

    /// Registers an MMIO device.
    ///
    /// # Errors
    ///
    /// [`DeviceError::Overlap`] if its window overlaps a registered MMIO device's.
    pub fn add_mmio_dev(&mut self, dev: MmioDevice) -> Result<(), DeviceError> {
        self.mmio.insert(dev)
    }

    /// Registers a port device.
    ///
    /// # Errors
    ///
    /// [`DeviceError::Overlap`] if its window overlaps a registered port device's.
    pub fn add_port_dev(&mut self, dev: PortDevice) -> Result<(), DeviceError> {
        self.port.insert(dev)
    }

    /// Registers a system-register device.
    ///
    /// # Errors
    ///
    /// [`DeviceError::Overlap`] if its window overlaps a registered one's.
    pub fn add_sys_reg_dev(&mut self, dev: SysRegDevice) -> Result<(), DeviceError> {
        self.sys_reg.insert(dev)
    }

    /// The MMIO device at `addr`, with its window.
    #[must_use]
    #[inline]
    pub fn find_mmio_dev(
        &self,
        addr: GuestPhysAddr,
    ) -> Option<(DeviceRange<GuestPhysAddr>, &MmioDevice)> {
        self.mmio.find(addr)
    }

    /// The port device at `port`, with its window.
    #[must_use]
    #[inline]
    pub fn find_port_dev(&self, port: Port) -> Option<(DeviceRange<Port>, &PortDevice)> {
        self.port.find(port)
    }

    /// The system-register device at `addr`, with its window.
    #[must_use]
    #[inline]
    pub fn find_sys_reg_dev(
        &self,
        addr: SysRegAddr,
    ) -> Option<(DeviceRange<SysRegAddr>, &SysRegDevice)> {
        self.sys_reg.find(addr)
    }

    /// The MMIO devices in address order.
    pub fn iter_mmio_dev(&self) -> impl ExactSizeIterator<Item = &MmioDevice> + '_ {
        self.mmio.iter()
    }

    /// The port devices in port order.
    pub fn iter_port_dev(&self) -> impl ExactSizeIterator<Item = &PortDevice> + '_ {
        self.port.iter()
    }

    /// The system-register devices in encoding order.
    pub fn iter_sys_reg_dev(&self) -> impl ExactSizeIterator<Item = &SysRegDevice> + '_ {
        self.sys_reg.iter()
    }

    /// The MMIO bus.
    #[must_use]
    pub const fn mmio_bus(&self) -> &DeviceBus<GuestPhysAddr> {
        &self.mmio
    }

    /// The port bus.
    #[must_use]
    pub const fn port_bus(&self) -> &DeviceBus<Port> {
        &self.port
    }

    /// The system-register bus.
    #[must_use]
    pub const fn sys_reg_bus(&self) -> &DeviceBus<SysRegAddr> {
        &self.sys_reg
    }

    /// Emulates a guest MMIO read.
    ///
    /// # Errors
    ///
    /// See [`DeviceBus::read`]; the caller turns them into a fault for the guest.
    pub fn handle_mmio_read(
        &self,
        addr: GuestPhysAddr,
        width: AccessWidth,
    ) -> Result<usize, DeviceError> {
        self.mmio.read(addr, width)
    }

    /// Emulates a guest MMIO write.
    ///
    /// # Errors
    ///
    /// See [`DeviceBus::write`].
    pub fn handle_mmio_write(
        &self,
        addr: GuestPhysAddr,
        width: AccessWidth,
        val: usize,
    ) -> Result<(), DeviceError> {
        self.mmio.write(addr, width, val)
    }

    /// Emulates a guest port read (`in`).
    ///
    /// # Errors
    ///
    /// See [`DeviceBus::read`].
    pub fn handle_port_read(&self, port: Port, width: AccessWidth) -> Result<usize, DeviceError> {
        self.port.read(port, width)
    }

    /// Emulates a guest port write (`out`).
    ///
    /// # Errors
    ///
    /// See [`DeviceBus::write`].
    pub fn handle_port_write(
        &self,
        port: Port,
        width: AccessWidth,
        val: usize,
    ) -> Result<(), DeviceError> {
        self.port.write(port, width, val)
    }

    /// Emulates a trapped system-register read.
    ///
    /// # Errors
    ///
    /// See [`DeviceBus::read`].
    pub fn handle_sys_reg_read(
        &self,
        addr: SysRegAddr,
        width: AccessWidth,
    ) -> Result<usize, DeviceError> {
        self.sys_reg.read(addr, width)
    }

    /// Emulates a trapped system-register write.
    ///
    /// # Errors
    ///
    /// See [`DeviceBus::write`].
    pub fn handle_sys_reg_write(
        &self,
        addr: SysRegAddr,
        width: AccessWidth,
        val: usize,
    ) -> Result<(), DeviceError> {
        self.sys_reg.write(addr, width, val)
    }

    /// Installs the pool IVC channels are allocated from.
    ///
    /// # Errors
    ///
    /// [`DeviceError::DuplicateIvcPool`] if the VM has one already.
    pub fn set_ivc_pool(
        &mut self,
        name: &str,
        pool: IvcChannelAllocator,
    ) -> Result<(), DeviceError> {
        if self.ivc.is_some() {
            return Err(DeviceError::DuplicateIvcPool { name: name.into() });
        }
        self.ivc = Some(pool);
        Ok(())
    }

    /// The IVC pool, if the VM has one.
    #[must_use]
    pub const fn ivc_pool(&self) -> Option<&IvcChannelAllocator> {
        self.ivc.as_ref()
    }

    /// Allocates an IVC channel of `size` bytes and returns its base address.
    ///
    /// # Errors
    ///
    /// [`DeviceError::NoIvcPool`], or see [`IvcChannelAllocator::alloc`].
    pub fn alloc_ivc_channel(&self, size: usize) -> Result<GuestPhysAddr, DeviceError> {
        self.ivc.as_ref().ok_or(DeviceError::NoIvcPool)?.alloc(size)
    }

    /// Releases the IVC channel `[addr, addr + size)`.
    ///
    /// # Errors
    ///
    /// [`DeviceError::NoIvcPool`], or see [`IvcChannelAllocator::release`].
    pub fn release_ivc_channel(&self, addr: GuestPhysAddr, size: usize) -> Result<(), DeviceError> {
        self.ivc
            .as_ref()
            .ok_or(DeviceError::NoIvcPool)?
            .release(addr, size)
    }
}
