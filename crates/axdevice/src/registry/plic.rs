//! The factory of the riscv64 interrupt controller: a vPLIC from a config line, in one
//! of two forms:
//!
//! - `[name, base, 0x60_0000, 0, 0x1, [sources?, contexts?]]` (`interrupt-controller`);
//! - `[name, base, 0x60_0000, 0, 0x30, [contexts?]]` (`pppt-global`, the ArceOS
//!   hypervisor's form, e.g. `["plic", 0x0c00_0000, 0x60_0000, 0, 0x30, [2]]`; the PLIC is
//!   emulated whole, nothing is passed through).
//!
//! `contexts` is the vCPU count (S-mode contexts, the default) or twice it (M and S per
//! hart, QEMU's layout); `sources` defaults to enough for every device's `irq_id`.

use alloc::sync::Arc;

use axvm_types::{EmulatedDeviceConfig, EmulatedDeviceType, GuestPhysAddr};

use super::controller::{invalid, other_lines};
use crate::{
    devices::AxVmDevices,
    error::DeviceError,
    models::{PlicContexts, VPlic, VPlicConfig},
};

/// Where each form keeps its parameters in `cfg_list`.
struct Fields {
    sources: Option<usize>,
    contexts: Option<usize>,
}

impl Fields {
    fn of(config: &EmulatedDeviceConfig) -> Result<Self, DeviceError> {
        let cfg = &config.cfg_list;
        let (sources, contexts, max) = if config.emu_type == EmulatedDeviceType::PPPTGlobal {
            (None, cfg.first(), 1)
        } else {
            (cfg.first(), cfg.get(1), 2)
        };
        if cfg.len() > max {
            return Err(invalid(
                config,
                "cfg_list has more entries than the form takes",
            ));
        }
        Ok(Self {
            sources: sources.copied(),
            contexts: contexts.copied(),
        })
    }
}

/// The PLIC's shape: its window, the sources the config names or the devices need, and
/// the context layout the context count implies.
pub(super) fn vplic_config(
    config: &EmulatedDeviceConfig,
    devices: &AxVmDevices,
) -> Result<VPlicConfig, DeviceError> {
    let fields = Fields::of(config)?;
    let vcpu_num = devices.config().vcpu_num;
    let contexts = match fields.contexts {
        None => PlicContexts::Supervisor,
        Some(count) => PlicContexts::for_count(count, vcpu_num).ok_or_else(|| {
            invalid(
                config,
                "the context count must be the vCPU count (S-mode) or twice it (M and S)",
            )
        })?,
    };
    let sources = match fields.sources {
        Some(count) => u32::try_from(count)
            .ok()
            .filter(|&count| count <= VPlicConfig::MAX_SOURCES)
            .ok_or_else(|| invalid(config, "a PLIC has 1 to 1023 sources"))?,
        None => VPlicConfig::sources_for_lines(other_lines(devices, config)),
    };
    let plic = VPlicConfig::new(GuestPhysAddr::from(config.base_gpa), vcpu_num, sources)
        .with_size(config.length)
        .with_contexts(contexts);
    plic.validate(&config.name)?;
    let highest = usize::try_from(sources).unwrap_or(usize::MAX);
    if other_lines(devices, config).any(|line| line > highest) {
        return Err(invalid(
            config,
            "a device's irq_id is past the PLIC's last source (raise cfg_list[0])",
        ));
    }
    Ok(plic)
}

/// Builds the vPLIC of `config` and attaches it to `devices`, notifying through the VM's
/// notifier link.
pub(super) fn build(
    config: &EmulatedDeviceConfig,
    devices: &mut AxVmDevices,
) -> Result<(), DeviceError> {
    let shape = vplic_config(config, devices)?;
    let plic = Arc::new(VPlic::new(
        &config.name,
        shape,
        Some(devices.vcpu_notifier()),
    )?);
    plic.attach(devices)
}

#[cfg(test)]
mod tests {
    use alloc::{sync::Arc, vec, vec::Vec};

    use axvm_types::{AccessWidth, EmulatedDeviceConfig, EmulatedDeviceType, VirqState};

    use crate::{
        AxVmDeviceConfig, AxVmDevices, DeviceError, DeviceRegistry, Platform, PlicContexts,
        SerialBackend, VPlicConfig,
        testing::{Kicks, Line, device_line as line},
    };

    const PLIC: usize = 0x0c00_0000;
    const UART: usize = 0x1000_0000;

    fn plic_line(emu_type: EmulatedDeviceType, cfg: Vec<usize>) -> EmulatedDeviceConfig {
        line("plic", PLIC, 0x60_0000, 0, emu_type, cfg)
    }

    fn uart_line(irq: usize) -> EmulatedDeviceConfig {
        line(
            "uart",
            UART,
            0x100,
            irq,
            EmulatedDeviceType::Console,
            vec![],
        )
    }

    fn riscv(console: Arc<Line>) -> DeviceRegistry {
        DeviceRegistry::with_builtin_models(Platform::Riscv64, move |_| -> Arc<dyn SerialBackend> {
            console.clone()
        })
    }

    fn build(lines: Vec<EmulatedDeviceConfig>, vcpus: usize) -> Result<AxVmDevices, DeviceError> {
        riscv(Line::new()).build(&AxVmDeviceConfig::new(lines).with_vcpus(vcpus))
    }

    fn shape(devices: &AxVmDevices) -> VPlicConfig {
        *devices.vplic().unwrap().config()
    }

    fn write(devices: &AxVmDevices, addr: usize, width: AccessWidth, val: usize) {
        devices.handle_mmio_write(addr.into(), width, val).unwrap();
    }

    fn read(devices: &AxVmDevices, addr: usize, width: AccessWidth) -> usize {
        devices.handle_mmio_read(addr.into(), width).unwrap()
    }

    #[test]
    fn the_uart_interrupt_reaches_the_vcpu_through_the_plic() {
        let console = Line::new();
        let config = AxVmDeviceConfig::new(vec![
            uart_line(10),
            plic_line(EmulatedDeviceType::InterruptController, vec![]),
        ]);
        let devices = riscv(console.clone()).build(&config).unwrap();
        assert_eq!(devices.iter_mmio_dev().len(), 2);
        assert!(devices.vgic().is_none());
        assert_eq!(shape(&devices).sources, 31, "enough for source 10");
        let kicks = Arc::new(Kicks::default());
        devices.set_vcpu_notifier(kicks.clone());
        // Linux: priority 1 for source 10, enabled in context 0, threshold 0.
        write(&devices, PLIC + 40, AccessWidth::Dword, 1);
        write(&devices, PLIC + 0x2000, AccessWidth::Dword, 1 << 10);
        // The 8250 enables the receive interrupt; a key arrives.
        write(&devices, UART + 1, AccessWidth::Byte, 0x1);
        console.type_in(b"k");
        devices.poll_input();
        assert_eq!(*kicks.0.lock(), [0]);
        let controller = devices.interrupt_controller().unwrap();
        let mut out = Vec::new();
        controller.irqs_for_vcpu(0, 1, &mut out);
        assert_eq!(
            out.first().map(|irq| (irq.intid, irq.state)),
            Some((10, VirqState::Pending))
        );
        // The handler: claim, read the byte, complete.
        assert_eq!(read(&devices, PLIC + 0x20_0004, AccessWidth::Dword), 10);
        assert_eq!(read(&devices, UART, AccessWidth::Byte), usize::from(b'k'));
        write(&devices, PLIC + 0x20_0004, AccessWidth::Dword, 10);
        assert!(
            !controller.has_deliverable(0),
            "the line fell with the read"
        );
        controller.irqs_for_vcpu(0, 1, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn the_arceos_form_sets_the_context_layout() {
        let reference = plic_line(EmulatedDeviceType::PPPTGlobal, vec![2]);
        let devices = build(vec![reference.clone(), uart_line(10)], 1).unwrap();
        let plic = shape(&devices);
        assert_eq!(plic.contexts, PlicContexts::MachineAndSupervisor);
        assert_eq!(plic.context_of(0), Some(1));
        assert_eq!(plic.sources, 31);
        let devices = build(vec![reference.clone()], 2).unwrap();
        assert_eq!(shape(&devices).contexts, PlicContexts::Supervisor);
        let bare = plic_line(EmulatedDeviceType::PPPTGlobal, vec![]);
        assert_eq!(
            shape(&build(vec![bare], 2).unwrap()).contexts,
            PlicContexts::Supervisor
        );
        let mut big = plic_line(EmulatedDeviceType::InterruptController, vec![95, 4]);
        big.length = 0x400_0000;
        let plic = shape(&build(vec![big], 2).unwrap());
        assert_eq!(
            (plic.sources, plic.contexts, plic.size),
            (95, PlicContexts::MachineAndSupervisor, 0x400_0000)
        );
    }

    #[test]
    fn sources_default_to_the_devices_lines() {
        let far = line(
            "far",
            0x1000_1000,
            0x1000,
            95,
            EmulatedDeviceType::Dummy,
            vec![],
        );
        let devices = build(
            vec![
                plic_line(EmulatedDeviceType::InterruptController, vec![]),
                far.clone(),
            ],
            1,
        )
        .unwrap();
        assert_eq!(shape(&devices).sources, 95, "QEMU virt's riscv,ndev");
        let too_few = build(
            vec![
                plic_line(EmulatedDeviceType::InterruptController, vec![63]),
                far,
            ],
            1,
        );
        assert!(matches!(too_few, Err(DeviceError::InvalidConfig { .. })));
    }

    #[test]
    fn bad_plic_lines_are_refused_with_the_reason() {
        let ic = EmulatedDeviceType::InterruptController;
        let mut short = plic_line(ic, vec![]);
        short.length = 0x20_0fff;
        let mut unaligned = plic_line(ic, vec![]);
        unaligned.base_gpa = PLIC + 0x800;
        let mut huge = plic_line(ic, vec![]);
        huge.length = 0x400_1000;
        for (lines, vcpus) in [
            (vec![short], 1),
            (vec![unaligned], 1),
            (vec![huge], 1),
            (vec![plic_line(ic, vec![0])], 1),
            (vec![plic_line(ic, vec![1024])], 1),
            (vec![plic_line(ic, vec![usize::MAX])], 1),
            (vec![plic_line(ic, vec![31, 3])], 2),
            (vec![plic_line(ic, vec![31, 2, 0])], 1),
            (vec![plic_line(EmulatedDeviceType::PPPTGlobal, vec![3])], 1),
            (
                vec![plic_line(EmulatedDeviceType::PPPTGlobal, vec![2, 31])],
                1,
            ),
            (vec![plic_line(ic, vec![])], 0),
            (vec![plic_line(ic, vec![])], 65),
            (vec![plic_line(ic, vec![31]), uart_line(32)], 1),
        ] {
            let error = build(lines, vcpus).unwrap_err();
            assert!(
                matches!(error, DeviceError::InvalidConfig { .. }),
                "{error}"
            );
        }
        let second = line("plic2", 0x0d00_0000, 0x60_0000, 0, ic, vec![]);
        assert!(matches!(
            build(vec![plic_line(ic, vec![]), second], 1),
            Err(DeviceError::DuplicateInterruptController { .. })
        ));
        let over_uart = line("plic", UART, 0x60_0000, 0, ic, vec![]);
        assert!(matches!(
            build(vec![uart_line(0), over_uart], 1),
            Err(DeviceError::Overlap { .. })
        ));
    }

    #[test]
    fn a_uart_without_a_line_or_without_a_plic_is_not_wired() {
        let devices = build(
            vec![
                plic_line(EmulatedDeviceType::InterruptController, vec![]),
                uart_line(0),
            ],
            1,
        )
        .unwrap();
        write(&devices, PLIC, AccessWidth::Dword, 1);
        write(&devices, PLIC + 0x2000, AccessWidth::Dword, !1);
        for id in 1..32 {
            write(&devices, PLIC + 4 * id, AccessWidth::Dword, 1);
        }
        write(&devices, UART + 1, AccessWidth::Byte, 0x2);
        let controller = devices.interrupt_controller().unwrap();
        assert!(!controller.has_deliverable(0), "the UART raised no line");
        let alone = build(vec![uart_line(10)], 1).unwrap();
        assert!(alone.interrupt_controller().is_none() && alone.vplic().is_none());
        let x86 =
            DeviceRegistry::with_builtin_models(Platform::X86_64, |_| -> Arc<dyn SerialBackend> {
                Line::new()
            });
        assert!(matches!(
            x86.build(&AxVmDeviceConfig::new(vec![plic_line(
                EmulatedDeviceType::PPPTGlobal,
                vec![]
            )])),
            Err(DeviceError::NoModel { .. })
        ));
    }
}
