//! The host timer: the local APIC timer, one-shot. While a guest runs, its
//! interrupt is an external-interrupt VM exit (the backend sets external-interrupt
//! exiting and acknowledge-interrupt-on-exit), whose vector the exit reports.

use super::lapic;

/// The host timer's vector.
const TIMER_VECTOR: u8 = 0xf0;
/// Local APIC timer ticks per second (divide by 1) under Bochs, whose timer counts
/// its emulated clock: `ips` (100,000,000 in the bochsrc the xtask writes) per
/// emulated second. On other hardware this would be calibrated against the TSC.
const TIMER_HZ: u64 = 100_000_000;

/// Ticks per second of the host timer.
pub fn timer_hz() -> u64 {
    TIMER_HZ
}

/// Arms this CPU's host timer to fire once, `ticks` from now (at most 2^32 - 1).
pub fn arm_timeslice(ticks: u64) {
    lapic::arm_timer(
        TIMER_VECTOR,
        u32::try_from(ticks).unwrap_or(u32::MAX).max(1),
    );
}

/// Disarms this CPU's host timer.
pub fn disarm_timer() {
    lapic::disarm_timer();
}

/// Whether interrupt `vector` (an IDT vector) is the host timer's.
pub fn is_timer_interrupt(vector: u64) -> bool {
    vector == u64::from(TIMER_VECTOR)
}
