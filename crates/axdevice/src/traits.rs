//! The device trait: one for all three address kinds.

use alloc::sync::Arc;

use axvm_types::{AccessWidth, AxVmResult, EmulatedDeviceType, GuestPhysAddr, Port, SysRegAddr};

use crate::addr::{DeviceAddr, DeviceRange};

/// An emulated device mapped in address kind `A`.
///
/// Devices are shared between vCPUs, so the handlers take `&self`; a model keeps its
/// registers behind a lock. The bus only calls a handler for an access that lies entirely
/// inside [`address_range`](Self::address_range), with `val` already cut to `width`; a handler
/// should still treat `addr` as untrusted (it is the guest's) and fail rather than panic.
pub trait BaseDeviceOps<A: DeviceAddr>: Send + Sync {
    /// The model of this device.
    fn emu_type(&self) -> EmulatedDeviceType;

    /// The window the device answers in. It must not change after registration.
    fn address_range(&self) -> DeviceRange<A>;

    /// A name for logs and error messages; defaults to the type's name.
    fn name(&self) -> &str {
        self.emu_type().name()
    }

    /// Reads `width` bytes at `addr`; the value is zero-extended.
    ///
    /// # Errors
    ///
    /// Whatever the model cannot serve, e.g. an access width its registers do not support.
    fn handle_read(&self, addr: A, width: AccessWidth) -> AxVmResult<usize>;

    /// Writes the low `width` bytes of `val` at `addr`.
    ///
    /// # Errors
    ///
    /// Whatever the model cannot serve.
    fn handle_write(&self, addr: A, width: AccessWidth, val: usize) -> AxVmResult;

    /// Takes what the host side has for the device now (a UART's received bytes) and
    /// updates its interrupt output, without a guest access. The host calls it when
    /// input arrives, through [`AxVmDevices::poll_input`](crate::AxVmDevices::poll_input).
    /// The default does nothing: most devices have no host input.
    fn poll_input(&self) {}
}

/// A shared device of address kind `A`.
pub type SharedDevice<A> = Arc<dyn BaseDeviceOps<A>>;
/// A shared MMIO device.
pub type MmioDevice = SharedDevice<GuestPhysAddr>;
/// A shared port device.
pub type PortDevice = SharedDevice<Port>;
/// A shared system-register device.
pub type SysRegDevice = SharedDevice<SysRegAddr>;
