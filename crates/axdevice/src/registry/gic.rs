//! The factory of the aarch64 interrupt controller: a vGICv3 from a config line
//! `[name, gicd_base, 0x10000, 0, 0x1, [gicr_base, spi_count?]]`.

use alloc::sync::Arc;

use axvm_types::{EmulatedDeviceConfig, GuestPhysAddr};

use super::controller::{invalid, other_lines};
use crate::{
    devices::AxVmDevices,
    error::DeviceError,
    models::{VGic, VGicConfig, spis_for_lines},
};

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
        None => spis_for_lines(other_lines(devices, config)),
    };
    let gic = VGicConfig::new(
        GuestPhysAddr::from(config.base_gpa),
        GuestPhysAddr::from(gicr_base),
        devices.config().vcpu_num,
        spi_count,
    );
    gic.validate(&config.name)?;
    if other_lines(devices, config).any(|line| (1..32).contains(&line)) {
        // Most likely a device-tree SPI number: SPI n is INTID n + 32.
        return Err(invalid(
            config,
            "a device's irq_id must be an SPI's INTID (32-1019; SPI n is INTID n + 32)",
        ));
    }
    let intids = gic.rounded_spis().saturating_add(32).min(1020);
    if other_lines(devices, config).any(|line| line >= intids) {
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

#[cfg(test)]
mod tests {
    use alloc::{sync::Arc, vec, vec::Vec};

    use axvm_types::{AccessWidth, EmulatedDeviceConfig, EmulatedDeviceType, VirqState};

    use crate::{
        AxVmDeviceConfig, DeviceError, DeviceRegistry, Platform, SerialBackend,
        testing::{Kicks, Line, device_line as line},
    };

    const GICD: usize = 0x0800_0000;
    const GICR: usize = 0x080a_0000;

    fn gic_line(cfg: Vec<usize>) -> EmulatedDeviceConfig {
        line(
            "gic",
            GICD,
            0x1_0000,
            0,
            EmulatedDeviceType::InterruptController,
            cfg,
        )
    }

    fn uart_line(irq: usize) -> EmulatedDeviceConfig {
        line(
            "uart",
            0x0900_0000,
            0x1000,
            irq,
            EmulatedDeviceType::Console,
            vec![],
        )
    }

    fn aarch64() -> DeviceRegistry {
        let console = Line::new();
        DeviceRegistry::with_builtin_models(Platform::Aarch64, move |_| -> Arc<dyn SerialBackend> {
            console.clone()
        })
    }

    fn read(devices: &crate::AxVmDevices, addr: usize, width: AccessWidth) -> usize {
        devices.handle_mmio_read(addr.into(), width).unwrap()
    }

    fn write(devices: &crate::AxVmDevices, addr: usize, val: usize) {
        devices
            .handle_mmio_write(addr.into(), AccessWidth::Dword, val)
            .unwrap();
    }

    #[test]
    fn builds_a_gicv3_and_wires_the_pl011_listed_before_it() {
        let config = AxVmDeviceConfig::new(vec![uart_line(33), gic_line(vec![GICR])]).with_vcpus(2);
        let devices = aarch64().build(&config).unwrap();
        assert_eq!(devices.iter_mmio_dev().len(), 3, "GICD, GICR, PL011");
        assert_eq!(devices.iter_sys_reg_dev().len(), 3, "the SGI registers");
        let vgic = devices.vgic().unwrap().clone();
        assert_eq!(vgic.vcpu_num(), 2);
        assert_eq!(read(&devices, GICD + 0xffe8, AccessWidth::Dword), 0x3b);
        assert_eq!(
            read(&devices, GICD + 0x4, AccessWidth::Dword) & 0x1f,
            1,
            "32 SPIs"
        );
        let typer1 = read(&devices, GICR + 0x2_0008, AccessWidth::Qword);
        assert_eq!(typer1 >> 32, 1);
        assert_ne!(typer1 & 0x10, 0, "vCPU 1 is the last");
        let kicks = Arc::new(Kicks::default());
        devices.set_vcpu_notifier(kicks.clone());
        // The guest enables group 1 and SPI 33, then unmasks the PL011's TX interrupt.
        write(&devices, GICD, 0x13);
        write(&devices, GICD + 0x104, 1 << 1);
        kicks.0.lock().clear();
        write(&devices, 0x0900_0038, 0x20);
        write(&devices, 0x0900_0000, usize::from(b'!'));
        assert_eq!(*kicks.0.lock(), [0], "SPI 33 routes to vCPU 0");
        let controller = devices.interrupt_controller().unwrap();
        let mut out = Vec::new();
        assert!(!controller.irqs_for_vcpu(0, 4, &mut out));
        assert_eq!(
            out.first().map(|irq| (irq.intid, irq.state)),
            Some((33, VirqState::Pending))
        );
        write(&devices, 0x0900_0044, 0x20);
        assert!(!controller.irqs_for_vcpu(0, 4, &mut out));
        assert!(out.is_empty(), "ICR lowered the line");
    }

    #[test]
    fn the_spi_count_covers_the_devices_or_follows_cfg_list() {
        let registry = aarch64();
        let far = line(
            "far",
            0x0a00_0000,
            0x1000,
            70,
            EmulatedDeviceType::Dummy,
            vec![],
        );
        let devices = registry
            .build(&AxVmDeviceConfig::new(vec![
                gic_line(vec![GICR]),
                far.clone(),
            ]))
            .unwrap();
        assert_eq!(
            read(&devices, GICD + 0x4, AccessWidth::Dword) & 0x1f,
            2,
            "64 SPIs"
        );
        let devices = registry
            .build(&AxVmDeviceConfig::new(vec![gic_line(vec![GICR, 100])]))
            .unwrap();
        assert_eq!(
            read(&devices, GICD + 0x4, AccessWidth::Dword) & 0x1f,
            4,
            "128 SPIs"
        );
        let too_few = AxVmDeviceConfig::new(vec![gic_line(vec![GICR, 32]), far]);
        assert!(matches!(
            registry.build(&too_few),
            Err(DeviceError::InvalidConfig { .. })
        ));
    }

    #[test]
    fn a_pl011_without_a_line_or_without_a_gic_is_not_wired() {
        let registry = aarch64();
        let devices = registry
            .build(&AxVmDeviceConfig::new(vec![
                gic_line(vec![GICR]),
                uart_line(0),
            ]))
            .unwrap();
        write(&devices, GICD, 0x2);
        write(&devices, GICD + 0x104, 0xffff_ffff);
        write(&devices, 0x0900_0038, 0x20);
        write(&devices, 0x0900_0000, 0x41);
        let mut out = Vec::new();
        devices
            .interrupt_controller()
            .unwrap()
            .irqs_for_vcpu(0, 4, &mut out);
        assert!(out.is_empty());
        let alone = registry
            .build(&AxVmDeviceConfig::new(vec![uart_line(33)]))
            .unwrap();
        assert!(alone.interrupt_controller().is_none() && alone.vgic().is_none());
    }

    #[test]
    fn bad_gic_lines_are_refused_with_the_reason() {
        let registry = aarch64();
        let refuse = |lines: Vec<EmulatedDeviceConfig>, vcpus: usize| {
            registry
                .build(&AxVmDeviceConfig::new(lines).with_vcpus(vcpus))
                .unwrap_err()
        };
        let mut short = gic_line(vec![GICR]);
        short.length = 0x1000;
        for error in [
            refuse(vec![short], 1),
            refuse(vec![gic_line(vec![])], 1),
            refuse(vec![gic_line(vec![GICR])], 0),
            refuse(vec![gic_line(vec![GICR])], 65),
            refuse(vec![gic_line(vec![GICR + 0x1000])], 1),
            refuse(vec![gic_line(vec![GICR, 989])], 1),
            refuse(vec![gic_line(vec![GICR]), uart_line(1)], 1),
            refuse(
                vec![
                    gic_line(vec![GICR]),
                    line(
                        "x",
                        0x0a00_0000,
                        0x1000,
                        1020,
                        EmulatedDeviceType::Dummy,
                        vec![],
                    ),
                ],
                1,
            ),
        ] {
            assert!(
                matches!(error, DeviceError::InvalidConfig { .. }),
                "{error}"
            );
        }
        let second = line(
            "gic2",
            0x0c00_0000,
            0x1_0000,
            0,
            EmulatedDeviceType::InterruptController,
            vec![0x0d00_0000],
        );
        assert!(
            registry
                .build(&AxVmDeviceConfig::new(vec![gic_line(vec![GICR]), second]))
                .is_err(),
            "one GIC per VM"
        );
        let x86 =
            DeviceRegistry::with_builtin_models(Platform::X86_64, |_| -> Arc<dyn SerialBackend> {
                Line::new()
            });
        assert!(matches!(
            x86.build(&AxVmDeviceConfig::new(vec![gic_line(vec![GICR])])),
            Err(DeviceError::NoModel { .. })
        ));
    }
}
