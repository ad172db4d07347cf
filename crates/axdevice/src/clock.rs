//! Time as device models see it.
//!
//! Models with timers (the x86 local APIC timer, the 8254 PIT, the CMOS RTC) read the
//! time through a [`DeviceClock`] they are given at construction, so a register read
//! (a PIT counter latch, say) sees the current count without the caller passing it.
//! A model that can fire says when through a `next_deadline` method (nanoseconds of the
//! same clock), and fires what is due when the host calls it back at or after that
//! time; the host arms whatever timer it has (a VMX preemption timer, its own local
//! APIC timer, a riscv `stimecmp`) for the earliest deadline.

use core::sync::atomic::{AtomicU64, Ordering};

/// A monotonic clock in nanoseconds.
pub trait DeviceClock: Send + Sync {
    /// Nanoseconds since an arbitrary origin; never decreases.
    fn now_ns(&self) -> u64;
}

/// A clock that moves only when told: for tests of timed models, and for hosts that
/// derive time from something they count themselves.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock at `start_ns`.
    #[must_use]
    pub const fn new(start_ns: u64) -> Self {
        Self(AtomicU64::new(start_ns))
    }

    /// Moves the clock `delta_ns` forward (saturating at `u64::MAX`).
    pub fn advance(&self, delta_ns: u64) {
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                Some(now.saturating_add(delta_ns))
            });
    }

    /// Sets the clock to `now_ns` if that is later than its time (it never goes back).
    pub fn set(&self, now_ns: u64) {
        self.0.fetch_max(now_ns, Ordering::AcqRel);
    }
}

impl DeviceClock for ManualClock {
    fn now_ns(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_forward_only() {
        let clock = ManualClock::new(10);
        clock.advance(5);
        assert_eq!(clock.now_ns(), 15);
        clock.set(12);
        assert_eq!(clock.now_ns(), 15);
        clock.set(40);
        assert_eq!(clock.now_ns(), 40);
        clock.advance(u64::MAX);
        assert_eq!(clock.now_ns(), u64::MAX);
    }
}
