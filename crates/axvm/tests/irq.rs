//! The VM's interrupt controller glued to its vCPUs: lists loaded before entries and
//! synced after exits, SGIs with their sender, and the host kicked.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use axdevice::SgiRegister;
use axvcpu::{AxVCpuExitReason, scripted::ScriptedEvent};
use axvm::ExitAction;
use axvm_types::{AccessWidth, GuestPhysAddr, VirqState};
use common::{NOTIFIED, vm_with};

const CONFIG: &str = r#"
[base]
id = 7
name = "irq"
cpu_num = 2

[kernel]
entry_point = 0x4008_0000
kernel_path = "k.bin"
kernel_load_addr = 0x4008_0000
memory_regions = [[0x4000_0000, 0x40_0000, 0x7, 0]]

[devices]
interrupt_mode = "emu"
emu_devices = [
    ["gic", 0x0800_0000, 0x1_0000, 0, 0x1, [0x080a_0000]],
    ["uart", 0x0900_0000, 0x1000, 33, 0x2, []],
]
"#;

const GICD: usize = 0x0800_0000;
const GICR: usize = 0x080a_0000;

fn mmio_write(vm: &common::Vm, addr: usize, value: usize) {
    vm.devices()
        .handle_mmio_write(GuestPhysAddr::from(addr), AccessWidth::Dword, value)
        .unwrap();
}

#[test]
fn a_raised_spi_is_loaded_before_entry_and_cleared_once_the_guest_ends_it() {
    let (vm, _) = vm_with(
        CONFIG,
        vec![
            vec![Ok(AxVCpuExitReason::Halt), Ok(AxVCpuExitReason::Halt)],
            vec![],
        ],
    );
    // The guest's set-up: group 1 on, INTID 33 enabled (routed to vCPU 0 by default).
    mmio_write(&vm, GICD, 0x2);
    mmio_write(&vm, GICD + 0x104, 1 << 1);
    vm.vcpu(0).unwrap().arch_mut().irq_slot_count = 4;
    vm.boot().unwrap();
    let sink = vm.devices().irq_sink().unwrap();
    sink.set_level(33, true);
    assert!(vm.has_deliverable_irq(0));
    assert!(!vm.has_deliverable_irq(1));

    assert_eq!(vm.run_vcpu(0), Ok(AxVCpuExitReason::Halt));
    {
        let vcpu = vm.vcpu(0).unwrap();
        let irqs = &vcpu.arch().irqs;
        assert_eq!(irqs.len(), 1);
        assert_eq!(irqs[0].intid, 33);
        assert_eq!(irqs[0].state, VirqState::Pending);
        // Level-triggered and emulated: the backend must report the guest's EOI.
        assert!(irqs[0].notify_eoi && irqs[0].hw_intid.is_none());
        assert!(
            vcpu.arch()
                .events
                .contains(&ScriptedEvent::IrqList(1, false))
        );
    }

    // The guest takes it, the device drops its line, the guest ends it.
    sink.set_level(33, false);
    vm.vcpu(0).unwrap().arch_mut().irqs[0].state = VirqState::Inactive;
    assert_eq!(vm.run_vcpu(0), Ok(AxVCpuExitReason::Halt));
    let vcpu = vm.vcpu(0).unwrap();
    assert!(
        vcpu.arch().irqs.is_empty(),
        "the finished interrupt is unloaded"
    );
    assert_eq!(
        vcpu.arch().events.last(),
        Some(&ScriptedEvent::IrqList(0, false))
    );
    drop(vcpu);
    assert!(!vm.has_deliverable_irq(0));
}

#[test]
fn an_sgi_write_reaches_its_target_and_kicks_it() {
    // ICC_SGI1R_EL1: INTID 3 to TargetList {1} (Aff1..3 = 0).
    let sgi = AxVCpuExitReason::SysRegWrite {
        addr: SgiRegister::Sgi1r.addr(),
        value: (3 << 24) | 0b10,
    };
    let (vm, _) = vm_with(
        CONFIG,
        vec![vec![Ok(sgi), Ok(AxVCpuExitReason::Halt)], vec![]],
    );
    mmio_write(&vm, GICD, 0x2);
    // vCPU 1's redistributor, SGI frame: GICR_ISENABLER0 bit 3.
    mmio_write(&vm, GICR + 0x2_0000 + 0x1_0000 + 0x100, 1 << 3);
    vm.boot().unwrap();
    NOTIFIED.lock().unwrap().retain(|&(vm_id, _)| vm_id != 7);

    assert_eq!(vm.run_vcpu(0), Ok(AxVCpuExitReason::Halt));
    assert!(vm.has_deliverable_irq(1));
    assert!(!vm.has_deliverable_irq(0), "the sender is not a target");
    assert!(NOTIFIED.lock().unwrap().contains(&(7, 1)));
    // The write was emulated: the guest moved past the MSR.
    assert!(
        vm.vcpu(0)
            .unwrap()
            .arch()
            .events
            .contains(&ScriptedEvent::Skip)
    );
}

#[test]
fn an_exit_that_changed_nothing_keeps_the_loaded_list() {
    let halt = || Ok(AxVCpuExitReason::Halt);
    let (vm, _) = vm_with(CONFIG, vec![vec![halt(), halt(), halt()], vec![]]);
    mmio_write(&vm, GICD, 0x2);
    mmio_write(&vm, GICD + 0x104, 1 << 1);
    vm.vcpu(0).unwrap().arch_mut().irq_slot_count = 4;
    vm.boot().unwrap();
    vm.devices().irq_sink().unwrap().set_level(33, true);
    // Run 1 is entered with the interrupt loaded; in run 2 the guest takes it.
    vm.vcpu(0).unwrap().arch_mut().guest = Some(|irqs, run| {
        if run == 2 {
            irqs[0].state = VirqState::Active;
        }
    });
    let mut exits = 0;
    let result = vm.run_vcpu_with(0, |_, _| {
        exits += 1;
        if exits < 3 {
            ExitAction::Resume
        } else {
            ExitAction::Return
        }
    });
    assert_eq!(result, Ok(AxVCpuExitReason::Halt));
    let vcpu = vm.vcpu(0).unwrap();
    let lists = vcpu
        .arch()
        .events
        .iter()
        .filter(|event| matches!(event, ScriptedEvent::IrqList(..)))
        .count();
    assert_eq!((vcpu.arch().runs, lists), (3, 2));
    assert_eq!(vcpu.arch().irqs[0].state, VirqState::Active);
}
