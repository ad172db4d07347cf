//! The host timer: the supervisor timer through SBI `set_timer`. Its interrupt (STI,
//! cause 5) is not delegated to guests (`hideleg` names only the VS-level ones),
//! so while a guest runs it traps to HS-mode. Guests' own timers are virtual
//! (the backend's `hvip.VSTIP`).

use core::arch::asm;

use axvcpu::arch::riscv64::sbi;

use super::ecall;

/// Ticks per second of `time` on QEMU virt (its device tree's
/// `timebase-frequency`).
const TIMEBASE_HZ: u64 = 10_000_000;
/// The interrupt cause of the supervisor timer.
const SUPERVISOR_TIMER: u64 = 5;
/// SBI TIME `set_timer`.
const SET_TIMER: u64 = 0;

/// Ticks per second of the host timer.
pub fn timer_hz() -> u64 {
    TIMEBASE_HZ
}

fn time() -> u64 {
    let time: u64;
    // SAFETY: reading the time CSR (allowed to S-mode by OpenSBI) has no side effect.
    unsafe { asm!("csrr {}, time", out(reg) time, options(nomem, nostack)) };
    time
}

fn set_timer(deadline: u64) {
    // The TIME extension has no failure a valid deadline can cause.
    let _ = ecall::call(sbi::TIME, SET_TIMER, [deadline, 0, 0]);
}

/// Arms this hart's host timer to fire once, `ticks` from now.
pub fn arm_timeslice(ticks: u64) {
    set_timer(time().saturating_add(ticks));
}

/// Disarms this hart's host timer: the deadline moves to the end of time, which
/// also withdraws a pending timer interrupt.
pub fn disarm_timer() {
    set_timer(u64::MAX);
}

/// Whether interrupt `vector` (an interrupt cause) is the host timer's.
pub fn is_timer_interrupt(vector: u64) -> bool {
    vector == SUPERVISOR_TIMER
}
