//! The guest's virtual timer interrupt, PPI 27. When the guest's timer fires while
//! it runs, PPI 27 reaches EL2 and the run returns `ExternalInterrupt { vector: 27 }`;
//! `irq::end_of_interrupt` has only dropped its priority, so it stays active until
//! the guest deactivates it through a **hardware-linked** list register (HW = 1,
//! pINTID 27), after which a timer still expired fires again.
//!
//! - In a VM with a vGICv3, the timer's PPI is linked in the model
//!   ([`attach_interrupts`]) and each firing asserts it there: the VM's run loop hands
//!   it to the backend with the guest's own enable, priority and group, like every
//!   other interrupt.
//! - In a VM without one (a guest that only programs its CPU interface, `ICC_*` →
//!   `ICV_*`), the interrupt is loaded here directly, at a fixed priority, and the
//!   list is emptied once the guest has finished it. A copy of 27 already loaded (the
//!   backend unlinks one still in flight when its vCPU is unbound, after deactivating
//!   the physical one) is linked again in the state it is in.
//! - A vCPU that halts (WFI) with nothing to take sleeps on `wfi` at EL2 with its
//!   timer still loaded: its timer, the host's 5 ms tick or a kick from another CPU
//!   wakes the CPU, and the guest is entered again at once. When its own timer woke
//!   it, the interrupt is taken there and handed over before that entry, rather
//!   than entering the guest only to exit again for it.

use axvcpu::{AxArchVCpu, AxVCpu, AxVCpuExitReason};
use axvm_types::{VirqState, VirtualIrq};

use super::{VCpu, Vm, gic, timer};

/// The virtual timer's priority in the guest (a mid-range value; with no virtual
/// GIC there is nothing else to order it against).
const PRIORITY: u8 = 0xa0;

/// Links every vCPU's virtual timer PPI to the physical one in the VM's vGIC, if
/// it has one.
pub fn attach_interrupts(vm: &Vm) {
    let Some(vgic) = vm.devices().vgic() else {
        return;
    };
    for vcpu in 0..vm.vcpu_num() {
        if let Err(error) = vgic.set_hw_linked(vcpu, timer::VIRTUAL_TIMER_INTID, true) {
            crate::println!("minivisor: virtual timer of vCPU {vcpu} not linked: {error}");
        }
    }
}

/// After an exit of `vcpu` of `vm`, once `irq::handle` ended any physical
/// interrupt; whether this handled the exit so the guest can run on (a halt slept
/// through).
pub fn after_exit(vm: &Vm, vcpu: &mut AxVCpu<VCpu>, exit: &AxVCpuExitReason) -> bool {
    let id = vcpu.id();
    let timer_fired = matches!(*exit, AxVCpuExitReason::ExternalInterrupt { vector }
        if vector == u64::from(timer::VIRTUAL_TIMER_INTID));
    if let Some(vgic) = vm.devices().vgic() {
        return match *exit {
            _ if timer_fired => {
                vgic.set_own_ppi_level(id, timer::VIRTUAL_TIMER_INTID, true);
                false
            }
            AxVCpuExitReason::Halt => {
                if !vm.has_deliverable_irq(id) {
                    wait_for_interrupt();
                    if took_timer_wakeup() {
                        vgic.set_own_ppi_level(id, timer::VIRTUAL_TIMER_INTID, true);
                    }
                }
                true
            }
            _ => false,
        };
    }
    let vcpu = vcpu.arch_mut();
    match *exit {
        _ if timer_fired => {
            inject(vcpu);
            false
        }
        AxVCpuExitReason::Halt => {
            forget_finished(vcpu);
            let resume = sleep_until_deadline(vcpu);
            if resume && took_timer_wakeup() {
                inject(vcpu);
            }
            resume
        }
        _ => {
            forget_finished(vcpu);
            false
        }
    }
}

/// Waits at EL2 for any interrupt (the host runs with them masked: a pending one
/// ends the wait without being taken; the next guest entry takes it).
fn wait_for_interrupt() {
    // SAFETY: waiting for an interrupt at EL2 has no effect on memory; the host's
    // periodic tick bounds the wait.
    unsafe { core::arch::asm!("wfi", options(nomem, nostack)) };
}

/// After a halted vCPU's wait: whether its virtual timer's interrupt is what is
/// pending now. If so it is acknowledged and handled here (as the `ExternalInterrupt`
/// exit it would cause one guest entry later is), and the caller hands it to the
/// guest at once. Should another interrupt overtake it between the look and the
/// acknowledge, that one is handled as the host's (a host tick taken this way does
/// not end the time slice: the next one does).
fn took_timer_wakeup() -> bool {
    let timer = u64::from(timer::VIRTUAL_TIMER_INTID);
    if gic::highest_pending() != timer {
        return false;
    }
    let intid = gic::acknowledge();
    crate::irq::handle(intid);
    intid == timer
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
        wait_for_interrupt();
    }
    true
}
