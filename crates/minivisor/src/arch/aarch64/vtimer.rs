//! Temporary glue, until axvm's virtual GIC path replaces it: the guest's virtual
//! timer interrupt delivered through the vCPU's list registers, with no virtual
//! GIC model (the guest programs its CPU interface, `ICC_*` → `ICV_*`, but no
//! distributor or redistributor).
//!
//! - When the guest's timer fires while it runs, PPI 27 reaches EL2 and the run
//!   returns `ExternalInterrupt { vector: 27 }`; `irq::end_of_interrupt` has only
//!   dropped its priority, so it stays active. [`after_exit`] loads vINTID 27 into
//!   a list register **linked** to it (HW = 1, pINTID 27): the guest's EOI
//!   deactivates the physical interrupt, and a timer still expired then fires
//!   again. A copy of 27 already loaded (the backend unlinks one that is still in
//!   flight when its vCPU is unbound, after deactivating the physical one) is
//!   linked again in the state it is in, so the guest sees one interrupt.
//! - Once the guest has finished it (the list reports it `Inactive`) the list is
//!   emptied.
//! - A vCPU that halts (WFI) with its timer armed in the future sleeps on `wfi` at
//!   EL2 with its timer still loaded: the timer's interrupt (or the host's 5 ms
//!   tick) wakes the CPU, and the guest is entered again at once.

use axvcpu::{AxArchVCpu, AxVCpu, AxVCpuExitReason};
use axvm_types::{VirqState, VirtualIrq};

use super::{VCpu, gic, timer};

/// The virtual timer's priority in the guest (a mid-range value; with no virtual
/// GIC there is nothing else to order it against).
const PRIORITY: u8 = 0xa0;

/// After an exit of `vcpu`, once `irq::handle` ended any physical interrupt;
/// whether this handled the exit so the guest can run on (a halt slept through).
pub fn after_exit(vcpu: &mut AxVCpu<VCpu>, exit: &AxVCpuExitReason) -> bool {
    let vcpu = vcpu.arch_mut();
    match *exit {
        AxVCpuExitReason::ExternalInterrupt { vector }
            if vector == u64::from(timer::VIRTUAL_TIMER_INTID) =>
        {
            inject(vcpu);
            false
        }
        AxVCpuExitReason::Halt => {
            forget_finished(vcpu);
            sleep_until_deadline(vcpu)
        }
        _ => {
            forget_finished(vcpu);
            false
        }
    }
}

/// Hands the active physical timer interrupt to the guest, linked.
fn inject(vcpu: &mut VCpu) {
    let intid = timer::VIRTUAL_TIMER_INTID;
    let loaded = vcpu
        .irq_list()
        .iter()
        .find(|irq| irq.intid == intid)
        .map_or(VirqState::Inactive, |irq| irq.state);
    let state = if loaded.is_active() {
        VirqState::Active
    } else {
        VirqState::Pending
    };
    let irq = VirtualIrq {
        intid,
        priority: PRIORITY,
        state,
        hw_intid: Some(intid),
        notify_eoi: false,
    };
    if let Err(error) = vcpu.set_irq_list(&[irq], false) {
        crate::println!("minivisor: virtual timer interrupt not delivered: {error:?}");
        // Nobody else would deactivate it, and it would block the timer for good.
        gic::deactivate(u64::from(intid));
    }
}

/// Empties the list once the guest has finished everything in it.
fn forget_finished(vcpu: &mut VCpu) {
    let list = vcpu.irq_list();
    if !list.is_empty() && list.iter().all(|irq| irq.state == VirqState::Inactive) {
        // An empty list is always accepted where the vCPU has list registers.
        let _ = vcpu.set_irq_list(&[], false);
    }
}

/// Sleeps until the halted vCPU's timer is due, if it is armed; whether the guest
/// can be entered again (its timer is due or was, or something else woke the CPU).
fn sleep_until_deadline(vcpu: &VCpu) -> bool {
    let Some(deadline) = vcpu.timer_deadline() else {
        return false;
    };
    // Modulo 2^64, as the timer compares.
    if deadline.wrapping_sub(timer::counter()) as i64 > 0 {
        // SAFETY: waiting for an interrupt at EL2 has no effect on memory; the
        // vCPU's timer (or the host's) is armed, so a pending interrupt ends it.
        unsafe { core::arch::asm!("wfi", options(nomem, nostack)) };
    }
    true
}
