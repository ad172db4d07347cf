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
