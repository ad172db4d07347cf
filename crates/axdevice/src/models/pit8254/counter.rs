//! One counter of an 8254 (Intel 82C54 datasheet), in input-clock ticks: its mode, its
//! count as it runs, its OUT line, and the byte-wise access to it.
//!
//! Time is the tick count since an arbitrary origin, given by the caller. A count
//! written is loaded at once (the chip loads it on the next clock edge: a tick that no
//! guest can tell apart). Counting is binary; BCD is stored in the control word and
//! reported by the read-back status, but counts as binary (logged by the device).

/// How the counter's 16 bits are read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// The low byte only.
    Low,
    /// The high byte only.
    High,
    /// The low byte, then the high byte.
    LowHigh,
}

/// A counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Counter {
    /// The mode, 0-5 (6 and 7 are 2 and 3).
    pub(super) mode: u8,
    pub(super) access: Access,
    pub(super) bcd: bool,
    /// The count written (0 means 65536).
    reload: u32,
    /// The low byte of a count being written low-then-high.
    low_written: Option<u8>,
    /// Ticks counted before the last gate fall, and when counting last (re)started;
    /// `None` while no count is loaded or the counter waits for a gate trigger.
    counted: u64,
    since: Option<u64>,
    /// The gate input (channels 0 and 1 have it tied high).
    gate: bool,
    /// A latched count and whether its high byte is next (low-then-high reads).
    latched: Option<u16>,
    read_high: bool,
    /// A latched read-back status byte, read before any count.
    status: Option<u8>,
    /// A count was written but has not been loaded into the counting element (read-back
    /// NULL COUNT); cleared when counting starts.
    null_count: bool,
}

impl Counter {
    /// A counter after power-up: mode 0, low-then-high access, no count, gate `gate`.
    pub(super) const fn new(gate: bool) -> Self {
        Self {
            mode: 0,
            access: Access::LowHigh,
            bcd: false,
            reload: 0x1_0000,
            low_written: None,
            counted: 0,
            since: None,
            gate,
            latched: None,
            read_high: false,
            status: None,
            null_count: true,
        }
    }

    /// Whether the mode counts only after a rising gate edge (1 and 5).
    const fn gate_triggered(&self) -> bool {
        matches!(self.mode, 1 | 5)
    }

    /// Ticks counted by `now`.
    fn elapsed(&self, now: u64) -> Option<u64> {
        let since = self.since?;
        let running = if self.gate || self.gate_triggered() {
            now.saturating_sub(since)
        } else {
            0
        };
        Some(self.counted.saturating_add(running))
    }

    /// A control word selecting this counter (not a latch or read-back command).
    pub(super) fn program(&mut self, access: Access, mode: u8, bcd: bool) {
        *self = Self {
            mode: if mode >= 6 { mode & 3 } else { mode },
            access,
            bcd,
            gate: self.gate,
            ..Self::new(self.gate)
        };
    }

    /// The counter latch command: the count at `now` is held for the next reads.
    pub(super) fn latch_count(&mut self, now: u64) {
        if self.latched.is_none() {
            self.latched = Some(self.count(now));
            self.read_high = false;
        }
    }

    /// A read-back command's status latch.
    pub(super) fn latch_status(&mut self, now: u64) {
        if self.status.is_none() {
            let access = match self.access {
                Access::Low => 1,
                Access::High => 2,
                Access::LowHigh => 3,
            };
            self.status = Some(
                u8::from(self.out(now)) << 7
                    | u8::from(self.null_count) << 6
                    | access << 4
                    | self.mode << 1
                    | u8::from(self.bcd),
            );
        }
    }

    /// Loads `reload` (a full count just written) at `now`.
    fn load(&mut self, reload: u16, now: u64) {
        self.reload = if reload == 0 {
            0x1_0000
        } else {
            u32::from(reload)
        };
        // Modes 2 and 3 running keep their period until it ends; the new count takes
        // effect then. Good enough: the new count starts now (Linux reprograms them
        // stopped or before relying on the phase).
        self.counted = 0;
        if self.gate_triggered() {
            self.since = None;
            self.null_count = true;
        } else {
            self.since = Some(now);
            self.null_count = false;
        }
    }

    /// A byte written to the counter's port at `now`.
    pub(super) fn write(&mut self, byte: u8, now: u64) {
        match self.access {
            Access::Low => self.load(u16::from(byte), now),
            Access::High => self.load(u16::from(byte) << 8, now),
            Access::LowHigh => match self.low_written.take() {
                None => {
                    self.low_written = Some(byte);
                    // Mode 0 stops counting (OUT low) when the first byte is written.
                    if self.mode == 0 {
                        self.since = None;
                        self.null_count = true;
                    }
                }
                Some(low) => self.load(u16::from_le_bytes([low, byte]), now),
            },
        }
    }

    /// A byte read from the counter's port at `now`: a latched status, then a latched
    /// count, else the running count.
    pub(super) fn read(&mut self, now: u64) -> u8 {
        if let Some(status) = self.status.take() {
            return status;
        }
        let value = self.latched.unwrap_or_else(|| self.count(now));
        let [low, high] = value.to_le_bytes();
        let (byte, done) = match self.access {
            Access::Low => (low, true),
            Access::High => (high, true),
            Access::LowHigh if self.read_high => {
                self.read_high = false;
                (high, true)
            }
            Access::LowHigh => {
                self.read_high = true;
                (low, false)
            }
        };
        if done {
            self.latched = None;
        }
        byte
    }

    /// The count at `now`.
    pub(super) fn count(&self, now: u64) -> u16 {
        let reload = u64::from(self.reload);
        let Some(elapsed) = self.elapsed(now) else {
            return (self.reload & 0xffff) as u16;
        };
        let value = match self.mode {
            // Periodic: N down to 1, then N again.
            2 => reload.saturating_sub(elapsed.checked_rem(reload).unwrap_or(0)),
            // Square wave: down by 2 through each half period.
            3 => {
                let half = reload.div_ceil(2).max(1);
                let phase = elapsed.checked_rem(reload).unwrap_or(0);
                let in_half = if phase < half {
                    phase
                } else {
                    phase.saturating_sub(half)
                };
                (reload & !1).saturating_sub(in_half.saturating_mul(2))
            }
            // One-shots: down from N through 0, then on from 0xFFFF.
            _ => reload.wrapping_sub(elapsed),
        };
        (value & 0xffff) as u16
    }

    /// The OUT line at `now`.
    pub(super) fn out(&self, now: u64) -> bool {
        let reload = u64::from(self.reload);
        let Some(elapsed) = self.elapsed(now) else {
            // Mode 0 holds OUT low from its control word until the count ends; the
            // others idle high.
            return self.mode != 0;
        };
        match self.mode {
            0 | 1 => elapsed >= reload,
            // Low for the tick in which the count is 1.
            2 => {
                if !self.gate {
                    return true;
                }
                elapsed.checked_rem(reload).unwrap_or(0) != reload.saturating_sub(1)
            }
            3 => !self.gate || elapsed.checked_rem(reload).unwrap_or(0) < reload.div_ceil(2),
            // Strobes: low for one tick at the terminal count.
            _ => elapsed != reload,
        }
    }

    /// The first tick after `now` at which OUT rises, if it ever does without a new
    /// command.
    pub(super) fn next_rise(&self, now: u64) -> Option<u64> {
        let elapsed = self.elapsed(now)?;
        let start = now.saturating_sub(elapsed);
        let reload = u64::from(self.reload);
        let rise = match self.mode {
            0 | 1 => (elapsed < reload).then_some(reload)?,
            2 | 3 if !self.gate => return None,
            2 | 3 => {
                // Rises at the start of each period after the first.
                let periods = elapsed.checked_div(reload).unwrap_or(0);
                periods.saturating_add(1).saturating_mul(reload)
            }
            _ => (elapsed <= reload).then_some(reload.saturating_add(1))?,
        };
        Some(start.saturating_add(rise))
    }

    /// Drives the gate at `now`.
    pub(super) fn set_gate(&mut self, gate: bool, now: u64) {
        if gate == self.gate {
            return;
        }
        let rising = gate && !self.gate;
        if !rising && !self.gate_triggered() {
            // Counting pauses: keep what was counted.
            if let Some(elapsed) = self.elapsed(now) {
                self.counted = elapsed;
                self.since = Some(now);
            }
        }
        self.gate = gate;
        if rising {
            match self.mode {
                // Triggered (or re-triggered), and modes 2 and 3 reload.
                1 | 2 | 3 | 5 => {
                    self.counted = 0;
                    self.since = Some(now);
                    self.null_count = false;
                }
                _ => {
                    if self.since.is_some() {
                        self.since = Some(now);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(mode: u8, count: u16, now: u64) -> Counter {
        let mut counter = Counter::new(true);
        counter.program(Access::LowHigh, mode, false);
        let [low, high] = count.to_le_bytes();
        counter.write(low, now);
        counter.write(high, now);
        counter
    }

    #[test]
    fn mode_0_counts_down_and_raises_out_at_terminal_count() {
        let counter = loaded(0, 100, 1000);
        assert!(!counter.out(1000));
        assert_eq!(counter.count(1040), 60);
        assert!(!counter.out(1099));
        assert!(counter.out(1100));
        assert_eq!(counter.count(1101), 0xffff, "wraps and keeps counting");
        assert_eq!(counter.next_rise(1050), Some(1100));
        assert_eq!(counter.next_rise(1100), None);
    }

    #[test]
    fn mode_0_stops_while_the_second_byte_is_awaited() {
        let mut counter = loaded(0, 100, 0);
        counter.write(0x10, 50);
        assert!(!counter.out(500), "OUT low, not counting");
        counter.write(0, 500);
        assert_eq!(counter.count(505), 11);
    }

    #[test]
    fn mode_2_is_periodic_with_a_one_tick_low_pulse() {
        let counter = loaded(2, 10, 0);
        assert_eq!(counter.count(0), 10);
        assert_eq!(counter.count(9), 1);
        assert!(!counter.out(9) && counter.out(8) && counter.out(10));
        assert_eq!(counter.count(10), 10);
        assert_eq!(counter.next_rise(3), Some(10));
        assert_eq!(counter.next_rise(10), Some(20));
        assert_eq!(counter.next_rise(10_005), Some(10_010), "no drift");
    }

    #[test]
    fn mode_3_is_a_square_wave() {
        let counter = loaded(3, 10, 0);
        assert!(counter.out(0) && counter.out(4) && !counter.out(5) && !counter.out(9));
        assert!(counter.out(10));
        assert_eq!(counter.count(0), 10);
        assert_eq!(counter.count(2), 6);
        assert_eq!(counter.count(5), 10);
        let odd = loaded(3, 5, 0);
        assert!(odd.out(2) && !odd.out(3) && !odd.out(4) && odd.out(5));
    }

    #[test]
    fn strobes_pulse_once_at_terminal_count() {
        let counter = loaded(4, 5, 0);
        assert!(counter.out(4) && !counter.out(5) && counter.out(6));
        assert_eq!(counter.next_rise(2), Some(6));
        assert_eq!(counter.next_rise(6), None);
    }

    #[test]
    fn gate_triggered_modes_wait_for_a_rising_gate() {
        let mut counter = Counter::new(false);
        counter.program(Access::Low, 1, false);
        counter.write(20, 0);
        assert!(counter.out(100), "idle high until triggered");
        counter.set_gate(true, 100);
        assert!(!counter.out(110) && counter.out(120));
        counter.set_gate(false, 130);
        counter.set_gate(true, 140);
        assert!(!counter.out(150), "retriggered");
    }

    #[test]
    fn a_low_gate_pauses_modes_0_and_4() {
        let mut counter = loaded(0, 100, 0);
        counter.set_gate(false, 30);
        assert_eq!(counter.count(80), 70);
        counter.set_gate(true, 80);
        assert_eq!(counter.count(90), 60);
    }

    #[test]
    fn latches_and_status_come_before_the_running_count() {
        let mut counter = loaded(2, 0x1234, 0);
        counter.latch_count(0x34);
        counter.latch_count(0x100);
        assert_eq!((counter.read(0x200), counter.read(0x200)), (0x00, 0x12));
        counter.latch_status(0x200);
        assert_eq!(counter.read(0x300), 0b1011_0100);
        // Unlatched low-then-high reads follow the running count.
        assert_eq!(counter.read(0x1234), 0x34);
        assert_eq!(counter.read(0x1234), 0x12);
        let fresh = Counter::new(true);
        assert_eq!(fresh.count(5), 0);
        let mut fresh = fresh;
        fresh.latch_status(0);
        assert_eq!(fresh.read(0), 0b0111_0000, "mode 0, OUT low, null count");
    }

    #[test]
    fn single_byte_access_modes() {
        let mut counter = Counter::new(true);
        counter.program(Access::High, 0, false);
        counter.write(0x12, 0);
        assert_eq!(counter.count(0), 0x1200);
        assert_eq!(counter.read(0x100), 0x11);
        counter.program(Access::Low, 0, false);
        counter.write(0x80, 0);
        assert_eq!(counter.read(0x10), 0x70);
    }
}
