//! The guest's virtual timer (`CNTV_*_EL0`), which the guest programs without
//! exits: when it fires, and the control bits that say whether it will.

/// `CNTV_CTL_EL0.ENABLE`: the timer runs.
pub const CNTV_CTL_ENABLE: u64 = 1 << 0;
/// `CNTV_CTL_EL0.IMASK`: its interrupt is masked.
pub const CNTV_CTL_IMASK: u64 = 1 << 1;
/// `CNTV_CTL_EL0.ISTATUS` (read-only): the timer condition is met.
pub const CNTV_CTL_ISTATUS: u64 = 1 << 2;

/// When a virtual timer with control `ctl` and compare value `cval` raises its
/// interrupt, in physical counter ticks (`CNTPCT_EL0`): `cval + cntvoff` (the
/// virtual count is the physical one minus `CNTVOFF_EL2`), modulo 2^64 as the
/// hardware compares. `None` when it is disabled or its interrupt masked.
///
/// ```
/// use axvcpu::arch::aarch64::vtimer::timer_deadline;
/// assert_eq!(timer_deadline(1, 5_000, 100), Some(5_100));
/// assert_eq!(timer_deadline(0b11, 5_000, 100), None); // masked
/// ```
#[must_use]
pub const fn timer_deadline(ctl: u64, cval: u64, cntvoff: u64) -> Option<u64> {
    if ctl & (CNTV_CTL_ENABLE | CNTV_CTL_IMASK) == CNTV_CTL_ENABLE {
        Some(cval.wrapping_add(cntvoff))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_enabled_unmasked_timer_has_a_deadline() {
        assert_eq!(timer_deadline(0, 10, 0), None);
        assert_eq!(
            timer_deadline(CNTV_CTL_ENABLE | CNTV_CTL_IMASK, 10, 0),
            None
        );
        assert_eq!(timer_deadline(CNTV_CTL_IMASK, 10, 0), None);
        assert_eq!(timer_deadline(CNTV_CTL_ENABLE, 10, 0), Some(10));
        // ISTATUS (already fired) does not change the deadline.
        assert_eq!(
            timer_deadline(CNTV_CTL_ENABLE | CNTV_CTL_ISTATUS, 10, 5),
            Some(15)
        );
        assert_eq!(timer_deadline(CNTV_CTL_ENABLE, u64::MAX, 2), Some(1));
    }
}
