//! An emulated 8254 programmable interval timer, as PCs have it: three counters on an
//! input clock of 1.193182 MHz at ports 0x40-0x42, their control word at 0x43, and
//! the channel-2 gate and output in port 0x61 (NMI status and control): bit 0 the
//! gate, bit 1 the speaker data (stored), bit 4 the refresh toggle (flips on every
//! read), bit 5 OUT2. Linux calibrates the TSC against channel 2 through that port,
//! and against channel 0's interrupts.
//!
//! Counter 0's OUT drives ISA IRQ 0 through the [`IrqSink`] given at construction: a
//! pulse at each of its rising edges. The counts follow the [`DeviceClock`], never how
//! often the host calls back; [`Pit::next_deadline`] says when the next edge is due,
//! and [`Pit::fire_due`] raises what is due (several periods missed make one pulse,
//! as an edge-triggered input would latch them).
//!
//! The device takes the window it is built with (the reference configs give
//! `0x40..0x62`), answers 0x40-0x43 and 0x61, and reads 0 and ignores writes at the
//! ports between.

mod counter;

use alloc::{string::String, sync::Arc};

use axvm_types::{AccessWidth, AxVmErrorKind, AxVmResult, EmulatedDeviceType, Port};
use spin::Mutex;

use self::counter::{Access, Counter};
use crate::{addr::PortRange, clock::DeviceClock, irq::IrqSink, traits::BaseDeviceOps};

/// The counters' input clock, in Hz.
pub const PIT_HZ: u64 = 1_193_182;
/// The first counter port.
const COUNTER0: u16 = 0x40;
/// The control word port.
const CONTROL: u16 = 0x43;
/// Port 0x61.
const PORT_61: u16 = 0x61;
const GATE2: u8 = 1 << 0;
const SPEAKER: u8 = 1 << 1;
const REFRESH: u8 = 1 << 4;
const OUT2: u8 = 1 << 5;

/// Nanoseconds to ticks of the input clock (rounded down).
fn ticks(ns: u64) -> u64 {
    // A u64 times a 21-bit constant fits a u128.
    let scaled = u128::from(ns).saturating_mul(u128::from(PIT_HZ)) / 1_000_000_000;
    u64::try_from(scaled).unwrap_or(u64::MAX)
}

/// The first nanosecond at or after which `tick` has begun.
fn nanos(tick: u64) -> u64 {
    let scaled = u128::from(tick)
        .saturating_mul(1_000_000_000)
        .div_ceil(u128::from(PIT_HZ));
    u64::try_from(scaled).unwrap_or(u64::MAX)
}

#[derive(Debug)]
struct State {
    counters: [Counter; 3],
    /// Port 0x61's stored bits (gate 2, speaker data) and the refresh toggle.
    port61: u8,
    /// The tick up to which counter 0's rising edges have reached IRQ 0.
    irq_checked: u64,
}

/// An 8254 with PC port 0x61; see the module docs.
pub struct Pit {
    name: String,
    range: PortRange,
    clock: Arc<dyn DeviceClock>,
    irq: Option<(Arc<dyn IrqSink>, u32)>,
    state: Mutex<State>,
}

impl core::fmt::Debug for Pit {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pit")
            .field("name", &self.name)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

impl Pit {
    /// A PIT in `range` (which should start at 0x40) timed by `clock`, counter 0 raising
    /// `line` of `irq` (ISA IRQ 0 normally) if given.
    #[must_use]
    pub fn new(
        name: &str,
        range: PortRange,
        clock: Arc<dyn DeviceClock>,
        irq: Option<(Arc<dyn IrqSink>, u32)>,
    ) -> Self {
        Self {
            name: String::from(name),
            range,
            clock,
            irq,
            state: Mutex::new(State {
                counters: [Counter::new(true), Counter::new(true), Counter::new(false)],
                port61: 0,
                irq_checked: 0,
            }),
        }
    }

    fn now(&self) -> u64 {
        ticks(self.clock.now_ns())
    }

    /// When counter 0's OUT next rises (clock nanoseconds; a time already past when an
    /// edge has not reached IRQ 0 yet), if it will.
    #[must_use]
    pub fn next_deadline(&self) -> Option<u64> {
        let state = self.state.lock();
        state.counters[0].next_rise(state.irq_checked).map(nanos)
    }

    /// Pulses IRQ 0 if counter 0's OUT rose since the last call (or since it was
    /// programmed); the host calls it at or after [`next_deadline`](Self::next_deadline).
    pub fn fire_due(&self) {
        let now = self.now();
        let fire = {
            let mut state = self.state.lock();
            let due = state.counters[0]
                .next_rise(state.irq_checked)
                .is_some_and(|rise| rise <= now);
            if due {
                state.irq_checked = now;
            }
            due
        };
        if fire && let Some((sink, line)) = &self.irq {
            sink.pulse(*line);
        }
    }

    fn control(&self, state: &mut State, word: u8, now: u64) {
        let select = word >> 6;
        if select == 3 {
            // Read-back: bit 5 clear latches counts, bit 4 clear latches status.
            for (index, counter) in state.counters.iter_mut().enumerate() {
                if word & (2 << index) == 0 {
                    continue;
                }
                if word & (1 << 5) == 0 {
                    counter.latch_count(now);
                }
                if word & (1 << 4) == 0 {
                    counter.latch_status(now);
                }
            }
            return;
        }
        let Some(counter) = state.counters.get_mut(usize::from(select)) else {
            return;
        };
        let access = match (word >> 4) & 3 {
            0 => {
                counter.latch_count(now);
                return;
            }
            1 => Access::Low,
            2 => Access::High,
            _ => Access::LowHigh,
        };
        let bcd = word & 1 != 0;
        if bcd {
            log::warn!("{}: BCD counting asked for; counting in binary", self.name);
        }
        counter.program(access, (word >> 1) & 7, bcd);
        if select == 0 {
            state.irq_checked = now;
        }
    }
}

impl BaseDeviceOps<Port> for Pit {
    fn emu_type(&self) -> EmulatedDeviceType {
        EmulatedDeviceType::X86Pit
    }

    fn address_range(&self) -> PortRange {
        self.range
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn handle_read(&self, port: Port, width: AccessWidth) -> AxVmResult<usize> {
        if width != AccessWidth::Byte {
            return Err(AxVmErrorKind::InvalidInput.into());
        }
        let now = self.now();
        let mut state = self.state.lock();
        let value = match port.0 {
            COUNTER0..CONTROL => state
                .counters
                .get_mut(usize::from(port.0.wrapping_sub(COUNTER0)))
                .map_or(0, |counter| counter.read(now)),
            PORT_61 => {
                state.port61 ^= REFRESH;
                let out2 = if state.counters[2].out(now) { OUT2 } else { 0 };
                state.port61 & (GATE2 | SPEAKER | REFRESH) | out2
            }
            _ => 0,
        };
        Ok(usize::from(value))
    }

    fn handle_write(&self, port: Port, width: AccessWidth, val: usize) -> AxVmResult {
        if width != AccessWidth::Byte {
            return Err(AxVmErrorKind::InvalidInput.into());
        }
        let byte = (val & 0xff) as u8;
        let now = self.now();
        let mut state = self.state.lock();
        match port.0 {
            COUNTER0..CONTROL => {
                if port.0 == COUNTER0 {
                    state.irq_checked = now;
                }
                if let Some(counter) = state
                    .counters
                    .get_mut(usize::from(port.0.wrapping_sub(COUNTER0)))
                {
                    counter.write(byte, now);
                }
            }
            CONTROL => self.control(&mut state, byte, now),
            PORT_61 => {
                state.port61 = (state.port61 & REFRESH) | (byte & (GATE2 | SPEAKER));
                state.counters[2].set_gate(byte & GATE2 != 0, now);
            }
            _ => log::debug!(
                "{}: write {byte:#x} to port {:#x} ignored",
                self.name,
                port.0
            ),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
