//! The host timer of each CPU: a one-shot interrupt that takes the CPU back from a
//! running guest (the time slice), optionally re-armed with a period, and counted.

use crate::{arch, cpus};

/// Starts this CPU's host timer with a period of `ticks` (of `arch::timer_hz()`):
/// every period a running guest is interrupted and the run loop gets an
/// `ExternalInterrupt` exit.
pub fn start_periodic(ticks: u64) {
    cpus::this().set_timer_period(ticks);
    arch::arm_timeslice(ticks);
}

/// Stops this CPU's host timer.
pub fn stop() {
    cpus::this().set_timer_period(0);
    arch::disarm_timer();
}

/// Ticks of `arch::timer_hz()` in `millis` milliseconds.
pub fn ticks_from_millis(millis: u64) -> u64 {
    arch::timer_hz().saturating_mul(millis) / 1000
}

/// The host timer fired on this CPU: counts it and re-arms a periodic timer (or
/// leaves it disarmed).
pub fn expired() {
    arch::disarm_timer();
    let period = cpus::this().count_timer_interrupt();
    if period > 0 {
        arch::arm_timeslice(period);
    }
}
