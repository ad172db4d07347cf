//! The guests' timers and waits, on top of the backend (see the axvcpu README,
//! riscv64 "Timer"):
//!
//! - With Sstc the hart raises a running guest's timer interrupt by itself
//!   (`vstimecmp`); nothing to do.
//! - On the SBI TIME path the backend raises it at the first entry at or after the
//!   deadline, so the host timer must interrupt a running guest then: before each
//!   quantum and after each exit (`run` returns after every `set_timer`) the hart's
//!   guest deadline is the vCPU's ([`timer::set_guest_deadline`]).
//! - A vCPU that halts (WFI) with nothing to take, alone on its hart, sleeps on
//!   `wfi` in HS-mode with the host timer armed for its deadline too (either
//!   path): its timer, the time slice or a kick from another hart (an IPI for it)
//!   wakes the hart, and the guest is entered again at once. With another vCPU
//!   runnable on the hart, the halt ends the quantum instead, so that one runs.

use axvcpu::{AxVCpu, AxVCpuExitReason};

use super::{VCpu, Vm, irq, timer};
use crate::sched;

/// Before vCPU `vcpu` of `vm` runs a quantum on this hart: the host timer follows
/// its deadline (another vCPU's may be armed).
pub fn before_quantum(vm: &Vm, vcpu: usize) {
    if let Ok(vcpu) = vm.vcpu(vcpu) {
        follow_deadline(vcpu.arch());
    }
}

/// After an exit of `vcpu` of `vm`, once `irq::handle` ended any physical
/// interrupt; whether this handled the exit so the guest can run on (a halt slept
/// through, or one with an interrupt to take).
pub fn after_exit(vm: &Vm, vcpu: &mut AxVCpu<VCpu>, exit: &AxVCpuExitReason) -> bool {
    let id = vcpu.id();
    let arch = vcpu.arch();
    let resume = match exit {
        AxVCpuExitReason::Halt => {
            if vm.has_deliverable_irq(id) || arch.has_pending_interrupt() {
                true
            } else if sched::has_other_runnable(vm.id(), id) {
                false
            } else {
                sleep_until(arch.timer_deadline());
                true
            }
        }
        _ => false,
    };
    follow_deadline(arch);
    resume
}

/// The hart's guest deadline for a running `vcpu`: its SBI TIME deadline, none
/// with Sstc.
fn follow_deadline(vcpu: &VCpu) {
    let deadline = if vcpu.uses_sstc() {
        u64::MAX
    } else {
        vcpu.timer_deadline()
    };
    timer::set_guest_deadline(deadline);
}

/// Waits in HS-mode until `deadline` (a `time` value) or an interrupt (the
/// hypervisor runs with them masked: a pending one ends the wait without being
/// taken). A deadline already past is not waited for: the guest has its timer
/// interrupt disabled (or the caller would not sleep). A kick that ended the wait is
/// acknowledged here: the run loop now looks at the vCPU's interrupts anyway.
fn sleep_until(deadline: u64) {
    timer::set_guest_deadline(deadline);
    // SAFETY: waiting for an interrupt in HS-mode has no effect on memory; the time
    // slice bounds the wait.
    unsafe { core::arch::asm!("wfi", options(nomem, nostack)) };
    irq::acknowledge_kick();
}
