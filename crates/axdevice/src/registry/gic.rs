//! The factory of the aarch64 interrupt controller: a vGICv3 from a config line
//! `[name, gicd_base, 0x10000, 0, 0x1, [gicr_base, spi_count?]]`.

use alloc::sync::Arc;

use axvm_types::{EmulatedDeviceConfig, EmulatedDeviceType, GuestPhysAddr};

use crate::{
    devices::AxVmDevices,
    error::DeviceError,
    models::{VGic, VGicConfig, spis_for_lines},
};

fn invalid(config: &EmulatedDeviceConfig, reason: &'static str) -> DeviceError {
    DeviceError::InvalidConfig {
        name: config.name.clone(),
        reason,
    }
}

/// The lines the other devices of the VM raise.
fn device_lines(devices: &AxVmDevices) -> impl Iterator<Item = usize> + '_ {
    devices
        .config()
        .emu_configs
        .iter()
        .filter(|line| line.emu_type != EmulatedDeviceType::InterruptController)
        .map(|line| line.irq_id)
}

/// The GIC's shape: GICD at the window (exactly 64 KiB), GICR at `cfg_list[0]`, one
/// redistributor per vCPU of the VM, and `cfg_list[1]` SPIs or, without it, enough for
/// every device's `irq_id`.
pub(super) fn vgic_config(
    config: &EmulatedDeviceConfig,
    devices: &AxVmDevices,
) -> Result<VGicConfig, DeviceError> {
    if config.length != VGicConfig::GICD_SIZE {
        return Err(invalid(config, "the GICD window must be 0x10000 bytes"));
    }
    let gicr_base = *config
        .cfg_list
        .first()
        .ok_or_else(|| invalid(config, "cfg_list[0] must hold the GICR base"))?;
    let spi_count = match config.cfg_list.get(1) {
        Some(&count) => count,
        None => spis_for_lines(device_lines(devices)),
    };
    let gic = VGicConfig::new(
        GuestPhysAddr::from(config.base_gpa),
        GuestPhysAddr::from(gicr_base),
        devices.config().vcpu_num,
        spi_count,
    );
    gic.validate(&config.name)?;
    let intids = gic.rounded_spis().saturating_add(32).min(1020);
    if device_lines(devices).any(|line| line >= intids) {
        return Err(invalid(
            config,
            "a device's irq_id is past the GIC's last SPI (raise cfg_list[1])",
        ));
    }
    Ok(gic)
}

/// Builds the vGIC of `config` and attaches it to `devices`, notifying through the VM's
/// notifier link.
pub(super) fn build(
    config: &EmulatedDeviceConfig,
    devices: &mut AxVmDevices,
) -> Result<(), DeviceError> {
    let shape = vgic_config(config, devices)?;
    let vgic = Arc::new(VGic::new(
        &config.name,
        shape,
        Some(devices.vcpu_notifier()),
    )?);
    vgic.attach(devices)
}
