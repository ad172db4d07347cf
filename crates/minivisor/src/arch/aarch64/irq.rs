//! The host's interrupts at the GIC: the vCPU backend acknowledges an IRQ that
//! ended a guest's run through `AxVCpuHal::irq_fetch`, minivisor ends it once
//! handled.

use super::gic;

/// Acknowledges the pending interrupt; its INTID (1023 when none was pending).
pub fn irq_fetch() -> usize {
    gic::acknowledge() as usize
}

/// Ends interrupt `vector` (an INTID from [`irq_fetch`]) at the GIC.
pub fn end_of_interrupt(vector: u64) {
    gic::end(vector);
}
