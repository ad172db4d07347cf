//! IPIs between the vCPUs of a VM (`SendIPI` exits, riscv64 SBI IPI): marked on
//! their targets, injected before each target's next entry, the targets kicked,
//! invalid targets refused with the SBI error.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use axvcpu::{AxVCpuExitReason, arch::riscv64::sbi, scripted::ScriptedEvent};
use axvm_types::Arch;
use common::{NOTIFIED, Vm, vm_for};

const CONFIG: &str = r#"
[base]
id = 41
name = "ipi"
cpu_num = 3

[kernel]
entry_point = 0x9000_0000
kernel_path = "k.bin"
kernel_load_addr = 0x9000_0000
memory_regions = [[0x9000_0000, 0x40_0000, 0x7, 0]]
"#;

fn ipi(base: u64, mask: u64, all: bool) -> AxVCpuExitReason {
    AxVCpuExitReason::SendIPI {
        target_cpu: base,
        target_cpu_aux: mask,
        send_to_all: all,
        send_to_self: all,
        vector: 1,
    }
}

/// Runs vCPU `vcpu` on the one CPU the scripted vCPUs share, and unbinds it.
fn run(vm: &Vm, vcpu: usize) -> AxVCpuExitReason {
    let exit = vm.run_vcpu(vcpu).unwrap();
    vm.vcpu(vcpu).unwrap().unbind().unwrap();
    exit
}

fn interrupts(vm: &Vm, vcpu: usize) -> usize {
    vm.vcpu(vcpu)
        .unwrap()
        .arch()
        .events
        .iter()
        .filter(|event| **event == ScriptedEvent::Interrupt(1))
        .count()
}

fn kicked(vm_id: usize) -> Vec<usize> {
    let mut notified = NOTIFIED.lock().unwrap();
    let kicked = notified
        .iter()
        .filter(|&&(id, _)| id == vm_id)
        .map(|&(_, vcpu)| vcpu)
        .collect();
    notified.retain(|&(id, _)| id != vm_id);
    kicked
}

#[test]
fn an_ipi_reaches_the_harts_it_names_at_their_next_entry() {
    let halt = || Ok(AxVCpuExitReason::Halt);
    let (vm, _) = vm_for(
        &CONFIG.replace("id = 41", "id = 42"),
        Arch::Riscv64,
        vec![
            vec![Ok(ipi(1, 0b11, false)), halt()],
            vec![halt()],
            vec![halt()],
        ],
    );
    vm.boot().unwrap();
    kicked(42);
    // The IPI is handled in the run loop: the guest goes on to its halt.
    assert_eq!(run(&vm, 0), AxVCpuExitReason::Halt);
    assert_eq!(kicked(42), [1, 2]);
    assert!(vm.has_deliverable_irq(1) && vm.has_deliverable_irq(2));
    assert!(!vm.has_deliverable_irq(0));
    assert_eq!(interrupts(&vm, 0), 0);
    // vCPU 1 gets the software interrupt before it runs, once.
    assert_eq!(run(&vm, 1), AxVCpuExitReason::Halt);
    assert_eq!(interrupts(&vm, 1), 1);
    assert!(!vm.has_deliverable_irq(1) && vm.has_deliverable_irq(2));
    assert_eq!(run(&vm, 1), AxVCpuExitReason::SystemDown);
    assert_eq!(interrupts(&vm, 1), 1);
}

#[test]
fn a_broadcast_includes_the_sender_which_is_not_kicked() {
    let halt = || Ok(AxVCpuExitReason::Halt);
    let (vm, _) = vm_for(
        &CONFIG.replace("id = 41", "id = 43"),
        Arch::Riscv64,
        vec![vec![Ok(ipi(0, 0, true)), halt()], vec![], vec![]],
    );
    vm.boot().unwrap();
    kicked(43);
    assert_eq!(run(&vm, 0), AxVCpuExitReason::Halt);
    // Injected into the sender at its entry after the IPI.
    assert_eq!(interrupts(&vm, 0), 1);
    assert_eq!(kicked(43), [1, 2]);
    assert!(vm.has_deliverable_irq(1) && vm.has_deliverable_irq(2));
}

#[test]
fn a_hart_that_does_not_exist_is_refused_and_nothing_is_sent() {
    let halt = || Ok(AxVCpuExitReason::Halt);
    let (vm, _) = vm_for(
        &CONFIG.replace("id = 41", "id = 44"),
        Arch::Riscv64,
        vec![vec![Ok(ipi(1, 0b101, false)), halt()], vec![], vec![]],
    );
    vm.boot().unwrap();
    kicked(44);
    assert_eq!(run(&vm, 0), AxVCpuExitReason::Halt);
    assert!(
        vm.vcpu(0)
            .unwrap()
            .arch()
            .events
            .contains(&ScriptedEvent::ReturnValue(sbi::ERR_INVALID_PARAM))
    );
    assert!(kicked(44).is_empty());
    assert!((0..3).all(|vcpu| !vm.has_deliverable_irq(vcpu)));
    assert_eq!(vm.exit_count(axvcpu::ExitKind::SendIpi), 1);
}

#[test]
fn an_ipi_to_a_halted_vcpu_is_injected_when_the_hypervisor_resumes_it() {
    let halt = || Ok(AxVCpuExitReason::Halt);
    let hypercall = AxVCpuExitReason::Hypercall {
        nr: 0x4d56_0001,
        args: [0; 6],
    };
    let (vm, _) = vm_for(
        &CONFIG.replace("id = 41", "id = 45"),
        Arch::Riscv64,
        vec![
            vec![halt(), Ok(hypercall), halt()],
            vec![Ok(ipi(0, 1, false)), halt()],
            vec![],
        ],
    );
    vm.boot().unwrap();
    kicked(45);
    // vCPU 0 halts; while the hypervisor waits on it, vCPU 1 (elsewhere) sends it an
    // IPI, and the wait ends.
    let other = std::sync::Arc::clone(&vm);
    let mut exits = 0;
    let result = vm.run_vcpu_with(0, |_, exit| {
        exits += 1;
        if *exit == AxVCpuExitReason::Halt && exits == 1 {
            assert_eq!(other.run_vcpu(1), Ok(AxVCpuExitReason::Halt));
            assert!(other.has_deliverable_irq(0));
            return axvm::ExitAction::Resume;
        }
        // The hypercall: its exit does not look for IPIs, the halt's did.
        axvm::ExitAction::Return
    });
    assert_eq!(result, Ok(hypercall));
    assert_eq!(kicked(45), [0]);
    assert_eq!(interrupts(&vm, 0), 1);
    let vcpu = vm.vcpu(0).unwrap();
    // Injected after the halt, before the entry that ended with the hypercall.
    assert_eq!(
        vcpu.arch().events.last(),
        Some(&ScriptedEvent::Interrupt(1))
    );
    assert_eq!(vcpu.arch().runs, 2);
}
