//! Rate limiting of log lines a guest can trigger at will (a refused SBI call, an
//! unknown system register, an unhandled trap...): without it a guest looping on
//! such an access floods the hypervisor's console, which is a denial of service
//! on every other VM that shares it.
//!
//! Each call site of [`log_limited!`](crate::ratelimit::log_limited) owns a
//! `static` [`RateLimit`]: the first [`RateLimit::BURST`] lines pass, then one line
//! per [`RateLimit::PERIOD`] occurrences, which says how many were suppressed since
//! the last one that passed.

use core::sync::atomic::{AtomicU64, Ordering};

/// The counter of one call site.
#[derive(Debug)]
pub(crate) struct RateLimit {
    seen: AtomicU64,
}

impl RateLimit {
    /// Lines that always pass: the start of a problem is the useful part.
    pub(crate) const BURST: u64 = 8;
    /// After the burst, one line in this many occurrences (a power of two).
    pub(crate) const PERIOD: u64 = 1 << 10;

    /// A call site that has logged nothing yet.
    pub(crate) const fn new() -> Self {
        Self {
            seen: AtomicU64::new(0),
        }
    }

    /// Counts one occurrence; `Some(suppressed)` when its line should be logged,
    /// with the number of occurrences suppressed since the last logged one.
    pub(crate) fn allow(&self) -> Option<u64> {
        // Relaxed: the count need not order anything else; wrapping after 2^64
        // occurrences only restarts the burst.
        let n = self.seen.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        Self::decide(n)
    }

    /// The decision for the `n`-th occurrence (from 1).
    const fn decide(n: u64) -> Option<u64> {
        if n <= Self::BURST {
            return Some(0);
        }
        if n % Self::PERIOD != 0 {
            return None;
        }
        // The previous line was the last of the burst or the previous multiple.
        let previous = if n.saturating_sub(Self::PERIOD) > Self::BURST {
            n.saturating_sub(Self::PERIOD)
        } else {
            Self::BURST
        };
        Some(n.saturating_sub(previous).saturating_sub(1))
    }
}

/// `log::$level!` through a rate limiter private to the call site:
/// `log_limited!(warn, "riscv64 vCPU: unsupported SBI call {eid:#x}")`.
macro_rules! log_limited {
    ($level:ident, $($arg:tt)+) => {{
        static LIMIT: $crate::ratelimit::RateLimit = $crate::ratelimit::RateLimit::new();
        if let Some(suppressed) = LIMIT.allow() {
            if suppressed == 0 {
                log::$level!($($arg)+);
            } else {
                log::$level!("{} ({} similar lines suppressed)", format_args!($($arg)+), suppressed);
            }
        }
    }};
}

pub(crate) use log_limited;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_one_line_per_period_with_the_suppressed_count() {
        let limit = RateLimit::new();
        let passed: alloc::vec::Vec<(u64, u64)> = (1..=3 * RateLimit::PERIOD)
            .filter_map(|n| limit.allow().map(|suppressed| (n, suppressed)))
            .collect();
        let burst = RateLimit::BURST;
        let period = RateLimit::PERIOD;
        assert_eq!(passed.len() as u64, burst + 3);
        assert!(passed[..burst as usize].iter().all(|&(_, s)| s == 0));
        assert_eq!(passed[burst as usize], (period, period - burst - 1));
        assert_eq!(passed[burst as usize + 1], (2 * period, period - 1));
        // Every occurrence is either logged or counted as suppressed.
        let counted: u64 = passed.iter().map(|&(_, s)| s + 1).sum();
        assert_eq!(counted, 3 * period);
    }

    #[test]
    fn the_count_never_overflows_and_call_sites_compile() {
        assert_eq!(RateLimit::decide(0), Some(0));
        assert_eq!(RateLimit::decide(u64::MAX), None);
        let last_multiple = u64::MAX - (u64::MAX % RateLimit::PERIOD);
        assert_eq!(
            RateLimit::decide(last_multiple),
            Some(RateLimit::PERIOD - 1)
        );
        for _ in 0..2 * RateLimit::BURST {
            log_limited!(trace, "guest did {}", "something");
        }
    }
}
