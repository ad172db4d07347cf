//! One local APIC's registers and interrupt state, as the Intel SDM (vol. 3A, chapter
//! 11) describes an xAPIC: pure logic, with time passed in as nanoseconds.
//!
//! - **Acceptance**: [`accept`](LocalApic::accept) sets a vector's IRR bit (and its TMR
//!   bit for a level-triggered one); vectors 0-15 are illegal and set the ESR's
//!   "received illegal vector" bit instead.
//! - **Priority**: PPR is TPR if TPR's class (bits 7:4) is at least the highest ISR
//!   vector's class, else that class (SDM 11.8.3.1); an IRR vector is deliverable when
//!   its class is above PPR's and the APIC is software-enabled.
//! - **Delivery**: [`acknowledge`](LocalApic::acknowledge) moves a vector IRR → ISR, as
//!   the CPU's interrupt acknowledge does; a write to EOI clears the highest ISR bit
//!   and reports it, with whether it was level-triggered (for the IOAPIC's EOI
//!   broadcast; suppressing it, SVR bit 12, is not offered).
//! - **Timer**: one-shot and periodic, counting the initial count down at the bus clock
//!   divided by the divide configuration (applied to the whole count); expiry sets the timer LVT's vector in IRR
//!   (unless masked); periodic re-arms on the grid of its start, without drift.
//!   TSC-deadline mode is not offered (CPUID does not advertise it): writes selecting
//!   it keep the timer stopped.

use super::{regs, vectors::Vectors};

/// What a register write asks of the caller beyond storing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApicWrite {
    /// Nothing more.
    Stored,
    /// The guest ended `vector`; `level`: it was level-triggered and the EOI is to be
    /// broadcast to the IOAPICs.
    Eoi {
        /// The vector that ended.
        vector: u8,
        /// Whether to broadcast the EOI.
        level: bool,
    },
    /// The guest wrote ICR low: an IPI to send, as `(ICR high << 32) | ICR low`.
    Ipi(u64),
    /// The timer was (re)programmed: its deadline may have moved.
    Timer,
}

/// One local APIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalApic {
    id: u32,
    tpr: u32,
    ldr: u32,
    dfr: u32,
    svr: u32,
    irr: Vectors,
    isr: Vectors,
    tmr: Vectors,
    /// Errors collected since the last ESR write, and what ESR reads.
    esr_pending: u32,
    esr: u32,
    icr_low: u32,
    icr_high: u32,
    /// LVT timer, thermal, performance, LINT0, LINT1, error.
    lvt: [u32; 6],
    timer_initial: u32,
    divide: u32,
    /// The bus clock in Hz (the timer counts it divided).
    bus_hz: u64,
    /// When the current count was loaded (ns), while the timer runs.
    timer_start: Option<u64>,
}

/// LVT index of the timer.
const LVT_TIMER: usize = 0;
/// The bits each LVT keeps (vector, delivery mode where it has one, mask, trigger and
/// polarity for LINT0/1, timer mode for the timer).
const LVT_WRITABLE: [u32; 6] = [
    0x0007_00ff,
    0x0001_07ff,
    0x0001_07ff,
    0x0001_a7ff,
    0x0001_a7ff,
    0x0001_00ff,
];

impl LocalApic {
    /// The APIC of the CPU whose APIC id is `id`, after reset (SDM 11.4.7.1: every LVT
    /// masked, SVR 0xFF so the APIC is software-disabled), its timer on a `bus_hz` clock.
    #[must_use]
    pub fn new(id: u8, bus_hz: u64) -> Self {
        Self {
            id: u32::from(id) << 24,
            tpr: 0,
            ldr: 0,
            dfr: u32::MAX,
            svr: 0xff,
            irr: Vectors::default(),
            isr: Vectors::default(),
            tmr: Vectors::default(),
            esr_pending: 0,
            esr: 0,
            icr_low: 0,
            icr_high: 0,
            lvt: [regs::LVT_MASKED; 6],
            timer_initial: 0,
            divide: 0,
            bus_hz: bus_hz.max(1),
            timer_start: None,
        }
    }

    /// Whether SVR's APIC software enable bit is set.
    #[must_use]
    pub const fn enabled(&self) -> bool {
        self.svr & regs::SVR_ENABLE != 0
    }

    /// The processor priority (SDM 11.8.3.1).
    #[must_use]
    pub fn ppr(&self) -> u32 {
        let isrv = self.isr.highest().map_or(0, u32::from);
        if self.tpr & 0xf0 >= isrv & 0xf0 {
            self.tpr & 0xff
        } else {
            isrv & 0xf0
        }
    }

    /// Accepts `vector` for this CPU (an IPI, an IOAPIC message, a local interrupt);
    /// whether it is now pending. Illegal vectors (0-15) set ESR bit 6 instead.
    pub fn accept(&mut self, vector: u8, level: bool) -> bool {
        if vector < 16 {
            self.esr_pending |= regs::ESR_RECEIVE_ILLEGAL;
            return false;
        }
        self.irr.set(vector, true);
        self.tmr.set(vector, level);
        true
    }

    /// The vector the CPU would take now, if any: the highest IRR vector whose class
    /// is above PPR's, with the APIC enabled.
    #[must_use]
    pub fn deliverable(&self) -> Option<u8> {
        let vector = self.irr.highest()?;
        (self.enabled() && u32::from(vector) & 0xf0 > self.ppr() & 0xf0).then_some(vector)
    }

    /// The CPU takes `vector` (IRR → ISR); false if it was not pending.
    pub fn acknowledge(&mut self, vector: u8) -> bool {
        if !self.irr.contains(vector) {
            return false;
        }
        self.irr.set(vector, false);
        self.isr.set(vector, true);
        true
    }

    fn eoi(&mut self) -> ApicWrite {
        let Some(vector) = self.isr.highest() else {
            return ApicWrite::Stored;
        };
        self.isr.set(vector, false);
        // The version register does not offer EOI-broadcast suppression (SVR bit 12).
        ApicWrite::Eoi {
            vector,
            level: self.tmr.contains(vector),
        }
    }

    /// The timer's divisor (the divide configuration register, SDM figure 11-10).
    fn divisor(&self) -> u64 {
        let code = (self.divide & 0b11) | ((self.divide & 0b1000) >> 1);
        if code == 0b111 { 1 } else { 2u64 << code }
    }

    /// Nanoseconds per timer tick as a fraction: ticks = ns * bus_hz / (1e9 * divisor).
    fn ticks_since(&self, start: u64, now: u64) -> u64 {
        let elapsed = u128::from(now.saturating_sub(start));
        let per_second = 1_000_000_000u128.saturating_mul(u128::from(self.divisor()));
        let ticks = elapsed
            .saturating_mul(u128::from(self.bus_hz))
            .checked_div(per_second)
            .unwrap_or(0);
        u64::try_from(ticks).unwrap_or(u64::MAX)
    }

    /// Nanoseconds `ticks` timer ticks take (rounded up).
    fn ns_for(&self, ticks: u64) -> u64 {
        let ns = u128::from(ticks)
            .saturating_mul(1_000_000_000)
            .saturating_mul(u128::from(self.divisor()))
            .div_ceil(u128::from(self.bus_hz));
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    fn timer_mode(&self) -> u32 {
        (self.lvt[LVT_TIMER] >> 17) & 0b11
    }

    /// The current count register at `now`.
    #[must_use]
    pub fn current_count(&self, now: u64) -> u32 {
        let Some(start) = self.timer_start else {
            return 0;
        };
        let initial = u64::from(self.timer_initial);
        let ticks = self.ticks_since(start, now);
        let left = match self.timer_mode() {
            regs::TIMER_PERIODIC => initial.saturating_sub(ticks.checked_rem(initial).unwrap_or(0)),
            _ => initial.saturating_sub(ticks),
        };
        u32::try_from(left).unwrap_or(u32::MAX)
    }

    /// When (ns) the timer next expires, if it runs.
    #[must_use]
    pub fn next_deadline(&self, now: u64) -> Option<u64> {
        let start = self.timer_start?;
        let initial = u64::from(self.timer_initial);
        let ticks = self.ticks_since(start, now);
        let next = match self.timer_mode() {
            regs::TIMER_PERIODIC => ticks
                .checked_div(initial)
                .unwrap_or(0)
                .saturating_add(1)
                .saturating_mul(initial),
            _ => initial,
        };
        Some(start.saturating_add(self.ns_for(next)))
    }

    /// Fires the timer if it has expired by `now`: its vector pending unless the LVT
    /// is masked; a one-shot stops, a periodic one carries on. Whether it expired.
    pub fn fire_timer(&mut self, now: u64) -> bool {
        let Some(deadline) = self.next_deadline(now) else {
            return false;
        };
        // A periodic timer's next deadline from `now` lies ahead; see whether the one
        // before it has passed since the last firing.
        let expired = match self.timer_mode() {
            regs::TIMER_PERIODIC => {
                let period = self.ns_for(u64::from(self.timer_initial));
                let previous = deadline.saturating_sub(period);
                let start = self.timer_start.unwrap_or(0);
                let fired = previous > start;
                if fired {
                    // Later expiries are measured from this one: nothing fires twice.
                    self.timer_start = Some(previous);
                }
                fired
            }
            _ => {
                let due = now >= deadline;
                if due {
                    self.timer_start = None;
                }
                due
            }
        };
        if expired && self.lvt[LVT_TIMER] & regs::LVT_MASKED == 0 {
            let vector = (self.lvt[LVT_TIMER] & 0xff) as u8;
            self.accept(vector, false);
        }
        expired
    }

    /// Reads the 32-bit register at `offset` (16-byte aligned) at `now`; reserved and
    /// write-only registers read 0.
    #[must_use]
    pub fn read(&self, offset: u32, now: u64) -> u32 {
        let index = (offset >> 4) as usize;
        match offset {
            regs::ID => self.id,
            regs::VERSION => regs::VERSION_VALUE,
            regs::TPR => self.tpr,
            regs::APR => 0,
            regs::PPR => self.ppr(),
            regs::LDR => self.ldr,
            regs::DFR => self.dfr,
            regs::SVR => self.svr,
            regs::ISR..regs::TMR => self.isr.word(index.saturating_sub(0x10)),
            regs::TMR..regs::IRR => self.tmr.word(index.saturating_sub(0x18)),
            regs::IRR..regs::ESR => self.irr.word(index.saturating_sub(0x20)),
            regs::ESR => self.esr,
            regs::ICR_LOW => self.icr_low & !regs::ICR_PENDING,
            regs::ICR_HIGH => self.icr_high,
            regs::LVT_TIMER..=regs::LVT_ERROR => self
                .lvt
                .get(index.saturating_sub(0x32))
                .copied()
                .unwrap_or(0),
            regs::TIMER_INITIAL => self.timer_initial,
            regs::TIMER_CURRENT => self.current_count(now),
            regs::TIMER_DIVIDE => self.divide,
            _ => 0,
        }
    }

    /// Writes `value` to the 32-bit register at `offset` at `now`; read-only and
    /// reserved registers ignore it.
    pub fn write(&mut self, offset: u32, value: u32, now: u64) -> ApicWrite {
        let index = (offset >> 4) as usize;
        match offset {
            regs::ID => self.id = value & 0xff00_0000,
            regs::TPR => self.tpr = value & 0xff,
            regs::EOI => return self.eoi(),
            regs::LDR => self.ldr = value & 0xff00_0000,
            regs::DFR => self.dfr = value | 0x0fff_ffff,
            regs::SVR => {
                self.svr = value & regs::SVR_WRITABLE;
                if !self.enabled() {
                    // SDM 11.4.7.2: software-disabled, every LVT is masked.
                    for lvt in &mut self.lvt {
                        *lvt |= regs::LVT_MASKED;
                    }
                }
            }
            regs::ESR => {
                self.esr = self.esr_pending;
                self.esr_pending = 0;
            }
            regs::ICR_LOW => {
                self.icr_low = value & regs::ICR_WRITABLE;
                return ApicWrite::Ipi(u64::from(self.icr_high) << 32 | u64::from(self.icr_low));
            }
            regs::ICR_HIGH => self.icr_high = value & 0xff00_0000,
            regs::LVT_TIMER..=regs::LVT_ERROR => {
                let lvt_index = index.saturating_sub(0x32);
                let masked = if self.enabled() { 0 } else { regs::LVT_MASKED };
                if let (Some(lvt), Some(writable)) =
                    (self.lvt.get_mut(lvt_index), LVT_WRITABLE.get(lvt_index))
                {
                    *lvt = (value & writable) | masked;
                }
                if lvt_index == LVT_TIMER {
                    if self.timer_mode() == regs::TIMER_TSC_DEADLINE {
                        self.timer_start = None;
                    }
                    return ApicWrite::Timer;
                }
            }
            regs::TIMER_INITIAL => {
                self.timer_initial = value;
                self.timer_start =
                    (value != 0 && self.timer_mode() != regs::TIMER_TSC_DEADLINE).then_some(now);
                return ApicWrite::Timer;
            }
            // Applies to the whole count (an OS sets it before the initial count).
            regs::TIMER_DIVIDE => {
                self.divide = value & 0b1011;
                return ApicWrite::Timer;
            }
            _ => {}
        }
        ApicWrite::Stored
    }
}
