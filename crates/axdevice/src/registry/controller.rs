//! What the interrupt-controller factories share: the lines the VM's other devices
//! raise, and the error for a bad controller line.

use axvm_types::EmulatedDeviceConfig;

use crate::{
    devices::AxVmDevices,
    error::{DeviceError, invalid_config},
};

pub(super) fn invalid(config: &EmulatedDeviceConfig, reason: &'static str) -> DeviceError {
    invalid_config(&config.name, reason)
}

/// The `irq_id`s of every config line but the controller's own, `own` (0 means none). A
/// second controller line adds its own `irq_id`, normally 0; it is refused anyway when
/// it is built.
pub(super) fn other_lines<'a>(
    devices: &'a AxVmDevices,
    own: &'a EmulatedDeviceConfig,
) -> impl Iterator<Item = usize> + 'a {
    devices
        .config()
        .emu_configs
        .iter()
        .filter(move |line| *line != own)
        .map(|line| line.irq_id)
}
