//! The host's interrupts at the GIC: the vCPU backend acknowledges an IRQ that
//! ended a guest's run through `AxVCpuHal::irq_fetch`, minivisor ends it once
//! handled.

use super::{gic, timer};

/// Acknowledges the pending interrupt; its INTID (1023 when none was pending).
pub fn irq_fetch() -> usize {
    gic::acknowledge() as usize
}

/// Ends interrupt `vector` (an INTID from [`irq_fetch`]) at the GIC: priority drop
/// and deactivation, except for the virtual timer's, which only has its priority
/// dropped: it goes to the guest through a hardware-linked list register
/// (`vtimer`), and the guest's deactivation of the virtual interrupt deactivates
/// it. The maintenance interrupt is ended like the host's own; the exit it caused
/// lets `vtimer` look at the list again.
pub fn end_of_interrupt(vector: u64) {
    if vector == u64::from(timer::VIRTUAL_TIMER_INTID) {
        gic::priority_drop(vector);
    } else {
        gic::end(vector);
    }
}

/// With no vCPU to run on this CPU: sleeps until an interrupt is pending (the host
/// tick, a kick from a CPU that made one of this CPU's vCPUs runnable), then handles
/// each pending one, since one left pending would end every later wait at once. An
/// idle CPU that spun instead would take emulation time from the busy ones (and
/// under `-icount` its instructions count in every guest's time).
pub fn idle_wait() {
    // SAFETY: waiting for an interrupt has no effect on memory; interrupts stay
    // masked at EL2, a pending one ends the wait.
    unsafe { core::arch::asm!("wfi", options(nomem, nostack)) };
    loop {
        let intid = gic::acknowledge();
        if intid == gic::SPURIOUS {
            break;
        }
        crate::irq::handle(intid);
    }
}
