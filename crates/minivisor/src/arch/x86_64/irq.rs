//! The host's interrupts at the local APIC: VMX acknowledges an interrupt that
//! ends a guest's run (acknowledge-interrupt-on-exit), so the exit already names
//! its vector; minivisor ends it with an EOI once handled.

use super::lapic;

/// The interrupt the CPU acknowledged last: the highest vector in service at the
/// local APIC (`usize::MAX` when none is). The VMX backend does not call this: its
/// exit carries the vector.
pub fn irq_fetch() -> usize {
    lapic::in_service().map_or(usize::MAX, |vector| vector as usize)
}

/// Ends interrupt `vector` at the local APIC (a spurious interrupt takes no EOI).
pub fn end_of_interrupt(vector: u64) {
    if vector != lapic::SPURIOUS_VECTOR {
        lapic::end_of_interrupt();
    }
}

/// With no vCPU to run on this CPU: spins once (minivisor runs with interrupts off, and `hlt` would not wake on them).
pub fn idle_wait() {
    core::hint::spin_loop();
}
