//! `AxVmDevices`: the emulated devices of one VM, one bus per address kind.

use alloc::{string::String, sync::Arc, vec::Vec};

use axvm_types::{AccessWidth, EmulatedDeviceConfig, GuestPhysAddr, Port, SysRegAddr};

use crate::{
    addr::DeviceRange,
    bus::DeviceBus,
    error::DeviceError,
    irq::{IrqSink, VcpuNotifier, VirtualInterruptController},
    ivc::IvcChannelAllocator,
    links::{CurrentVcpu, HostLinks},
    models::{VGic, VPlic},
    registry::DeviceRegistry,
    traits::{MmioDevice, PortDevice, SysRegDevice},
};

/// The emulated-device part of a VM config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AxVmDeviceConfig {
    /// The emulated devices, in config order.
    pub emu_configs: Vec<EmulatedDeviceConfig>,
    /// The number of vCPUs the devices serve (an interrupt controller has per-vCPU
    /// parts); 1 unless set with [`with_vcpus`](Self::with_vcpus).
    pub vcpu_num: usize,
}

impl AxVmDeviceConfig {
    /// A config holding `emu_configs`, for one vCPU.
    #[must_use]
    pub const fn new(emu_configs: Vec<EmulatedDeviceConfig>) -> Self {
        Self {
            emu_configs,
            vcpu_num: 1,
        }
    }

    /// The same config for `vcpu_num` vCPUs.
    #[must_use]
    pub fn with_vcpus(mut self, vcpu_num: usize) -> Self {
        self.vcpu_num = vcpu_num;
        self
    }
}

impl Default for AxVmDeviceConfig {
    /// No devices, one vCPU.
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

/// The VM's interrupt controller as the run loop and the devices see it.
struct InterruptController {
    name: String,
    controller: Arc<dyn VirtualInterruptController>,
    sink: Arc<dyn IrqSink>,
    model: ControllerModel,
}

/// The concrete controller, kept for the architecture glue that needs more than the
/// traits (the aarch64 SGI registers and virtual timer).
#[derive(Debug)]
enum ControllerModel {
    VGic(Arc<VGic>),
    VPlic(Arc<VPlic>),
    Other,
}

impl core::fmt::Debug for InterruptController {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("InterruptController")
            .field("name", &self.name)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

/// The emulated devices of one VM: MMIO, port and system-register buses, the pool IVC
/// channels are allocated from, the interrupt controller, and the links through which
/// the models reach the host once it is known.
#[derive(Debug, Default)]
pub struct AxVmDevices {
    config: AxVmDeviceConfig,
    mmio: DeviceBus<GuestPhysAddr>,
    port: DeviceBus<Port>,
    sys_reg: DeviceBus<SysRegAddr>,
    ivc: Option<IvcChannelAllocator>,
    irq: Option<InterruptController>,
    links: Arc<HostLinks>,
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

    /// A VM with no devices, for one vCPU.
    #[must_use]
    pub fn empty() -> Self {
        Self::default()
    }

    /// A VM with no devices yet that remembers `config`, which factories consult (the
    /// vCPU count, the other devices' lines) while [`DeviceRegistry::build`] fills it.
    #[must_use]
    pub fn for_config(config: &AxVmDeviceConfig) -> Self {
        Self {
            config: config.clone(),
            ..Self::default()
        }
    }

    /// The config the devices are built from (empty, one vCPU, for [`empty`](Self::empty)).
    #[must_use]
    pub const fn config(&self) -> &AxVmDeviceConfig {
        &self.config
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

    /// Lets every device take the input its host side holds now (see
    /// [`BaseDeviceOps::poll_input`]): a host calls it when input for the VM arrives, so
    /// a UART raises its receive interrupt without waiting for the guest to look.
    ///
    /// [`BaseDeviceOps::poll_input`]: crate::BaseDeviceOps::poll_input
    pub fn poll_input(&self) {
        for device in self.mmio.iter() {
            device.poll_input();
        }
        for device in self.port.iter() {
            device.poll_input();
        }
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
    #[inline]
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
    #[inline]
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

    /// Makes `controller` the VM's interrupt controller and `sink` where devices built
    /// after it send their lines.
    ///
    /// # Errors
    ///
    /// [`DeviceError::DuplicateInterruptController`] if the VM has one already.
    pub fn set_interrupt_controller(
        &mut self,
        name: &str,
        controller: Arc<dyn VirtualInterruptController>,
        sink: Arc<dyn IrqSink>,
    ) -> Result<(), DeviceError> {
        self.install_controller(InterruptController {
            name: name.into(),
            controller,
            sink,
            model: ControllerModel::Other,
        })
    }

    /// Makes `vgic` the VM's interrupt controller and line sink, keeping the concrete
    /// type for the aarch64 glue ([`vgic`](Self::vgic)).
    ///
    /// # Errors
    ///
    /// [`DeviceError::DuplicateInterruptController`] if the VM has one already.
    pub fn set_vgic(&mut self, vgic: Arc<VGic>) -> Result<(), DeviceError> {
        self.install_controller(InterruptController {
            name: vgic.name().into(),
            controller: vgic.clone(),
            sink: vgic.clone(),
            model: ControllerModel::VGic(vgic),
        })
    }

    /// Makes `vplic` the VM's interrupt controller and line sink, keeping the concrete
    /// type for the riscv glue ([`vplic`](Self::vplic)).
    ///
    /// # Errors
    ///
    /// [`DeviceError::DuplicateInterruptController`] if the VM has one already.
    pub fn set_vplic(&mut self, vplic: Arc<VPlic>) -> Result<(), DeviceError> {
        self.install_controller(InterruptController {
            name: vplic.name().into(),
            controller: vplic.clone(),
            sink: vplic.clone(),
            model: ControllerModel::VPlic(vplic),
        })
    }

    fn install_controller(&mut self, controller: InterruptController) -> Result<(), DeviceError> {
        if let Some(existing) = &self.irq {
            return Err(DeviceError::DuplicateInterruptController {
                name: controller.name,
                existing: existing.name.clone(),
            });
        }
        self.irq = Some(controller);
        Ok(())
    }

    /// The VM's interrupt controller, for the run loop.
    #[must_use]
    pub fn interrupt_controller(&self) -> Option<Arc<dyn VirtualInterruptController>> {
        self.irq.as_ref().map(|irq| irq.controller.clone())
    }

    /// Where devices send their interrupt lines, if the VM has a controller.
    #[must_use]
    pub fn irq_sink(&self) -> Option<Arc<dyn IrqSink>> {
        self.irq.as_ref().map(|irq| irq.sink.clone())
    }

    /// The VM's vGICv3, if its controller is one.
    #[must_use]
    pub fn vgic(&self) -> Option<&Arc<VGic>> {
        match &self.irq.as_ref()?.model {
            ControllerModel::VGic(vgic) => Some(vgic),
            _ => None,
        }
    }

    /// The VM's vPLIC, if its controller is one (its shape gives the guest device
    /// tree's PLIC node).
    #[must_use]
    pub fn vplic(&self) -> Option<&Arc<VPlic>> {
        match &self.irq.as_ref()?.model {
            ControllerModel::VPlic(vplic) => Some(vplic),
            _ => None,
        }
    }

    /// The notifier to give a model at construction: it forwards to what the host sets
    /// with [`set_vcpu_notifier`](Self::set_vcpu_notifier) and does nothing before.
    #[must_use]
    pub fn vcpu_notifier(&self) -> Arc<dyn VcpuNotifier> {
        self.links.clone()
    }

    /// Sets (or replaces) where the VM's models report vCPUs with new interrupts: the
    /// host kicks or wakes them.
    pub fn set_vcpu_notifier(&self, notifier: Arc<dyn VcpuNotifier>) {
        self.links.set_notifier(notifier);
    }

    /// The source to give a model that must know the accessing vCPU: it asks what the
    /// host sets with [`set_current_vcpu`](Self::set_current_vcpu), `None` before.
    #[must_use]
    pub fn current_vcpu(&self) -> Arc<dyn CurrentVcpu> {
        self.links.clone()
    }

    /// Sets (or replaces) how models learn which vCPU made the access being emulated.
    pub fn set_current_vcpu(&self, current: Arc<dyn CurrentVcpu>) {
        self.links.set_current_vcpu(current);
    }
}
