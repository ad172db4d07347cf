//! Latencies the guests measure with the counter (under QEMU `-icount shift=0`, one
//! nanosecond is one instruction), summarised for their reports.

use core::sync::atomic::{AtomicU64, Ordering};

/// The smallest, average and largest of some counter tick counts, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    /// The smallest.
    pub min: u64,
    /// The average (rounded down).
    pub avg: u64,
    /// The largest.
    pub max: u64,
}

impl Latency {
    /// The summary of `samples` (counter ticks; all 0 for none).
    pub fn of(samples: &[AtomicU64]) -> Self {
        let ns = |ticks: u64| ticks.saturating_mul(1_000_000_000) / crate::counter_hz().max(1);
        let ticks = samples.iter().map(|slot| slot.load(Ordering::Relaxed));
        let min = ticks.clone().min().unwrap_or(0);
        let max = ticks.clone().max().unwrap_or(0);
        let sum = ticks.fold(0u64, u64::saturating_add);
        let avg = sum / (samples.len().max(1) as u64);
        Self {
            min: ns(min),
            avg: ns(avg),
            max: ns(max),
        }
    }
}

impl core::fmt::Display for Latency {
    /// `min/avg/max A/B/C ns`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "min/avg/max {}/{}/{} ns", self.min, self.avg, self.max)
    }
}
