//! The host timer: the supervisor timer, `stimecmp` itself when the hart has Sstc,
//! else SBI `set_timer`. Its interrupt (STI, cause 5) is not delegated to guests
//! (`hideleg` names only the VS-level ones), so while a guest runs it traps to
//! HS-mode.
//!
//! Each hart's timer serves two deadlines: the host's own (the time slice, armed by
//! `crate::timer`) and, while one of its vCPUs needs it, that guest's (a guest on the
//! SBI TIME path whose deadline must interrupt it while it runs, or a halted vCPU
//! the hart sleeps for, see `vtimer`). The timer is armed for the earlier one. A
//! guest deadline that has come is dropped: the backend raises the guest's interrupt
//! at its next entry, and the timer must not keep the hart trapping until then.

use core::{
    arch::asm,
    sync::atomic::{AtomicU64, Ordering},
};

use axvcpu::arch::riscv64::{self, sbi};

use super::{ecall, this_cpu};
use crate::cpus::MAX_CPUS;

/// Ticks per second of `time` on QEMU virt (its device tree's
/// `timebase-frequency`).
const TIMEBASE_HZ: u64 = 10_000_000;
/// The interrupt cause of the supervisor timer.
const SUPERVISOR_TIMER: u64 = 5;
/// SBI TIME `set_timer`.
const SET_TIMER: u64 = 0;

/// One hart's deadlines (`time` values; `u64::MAX`: none). Only the hart itself
/// touches its own: atomics only to be a safe static.
struct Deadlines {
    /// The time slice.
    slice: AtomicU64,
    /// The guest's, see the module documentation.
    guest: AtomicU64,
    /// What the timer is armed for.
    armed: AtomicU64,
}

static DEADLINES: [Deadlines; MAX_CPUS] = [const {
    Deadlines {
        slice: AtomicU64::new(u64::MAX),
        guest: AtomicU64::new(u64::MAX),
        armed: AtomicU64::new(u64::MAX),
    }
}; MAX_CPUS];

/// The calling hart's deadlines (an index is only ever handed out below
/// MAX_CPUS).
fn this() -> Option<&'static Deadlines> {
    DEADLINES.get(this_cpu())
}

/// Ticks per second of the host timer.
pub fn timer_hz() -> u64 {
    TIMEBASE_HZ
}

/// The `time` CSR.
pub fn time() -> u64 {
    let time: u64;
    // SAFETY: reading the time CSR (allowed to S-mode by OpenSBI) has no side effect.
    unsafe { asm!("csrr {}, time", out(reg) time, options(nomem, nostack)) };
    time
}

/// Arms the hart's timer for `deadline`, which also withdraws a pending timer
/// interrupt when it lies ahead.
fn set_timer(deadline: u64) {
    if riscv64::has_sstc() {
        // SAFETY: with Sstc, OpenSBI gives HS-mode its stimecmp (CSR 0x14d,
        // menvcfg.STCE); writing it only moves this hart's timer.
        unsafe { asm!("csrw 0x14d, {}", in(reg) deadline, options(nomem, nostack)) };
    } else {
        // The TIME extension has no failure a valid deadline can cause.
        let _ = ecall::call(sbi::TIME, SET_TIMER, [deadline, 0, 0]);
    }
}

/// Arms the timer for the earlier of the hart's deadlines, if that changes it.
fn program(deadlines: &Deadlines) {
    let guest = deadlines.guest.load(Ordering::Relaxed);
    let guest = if guest > time() { guest } else { u64::MAX };
    let want = deadlines.slice.load(Ordering::Relaxed).min(guest);
    if deadlines.armed.swap(want, Ordering::Relaxed) != want {
        set_timer(want);
    }
}

/// Arms this hart's time slice to end `ticks` from now.
pub fn arm_timeslice(ticks: u64) {
    if let Some(deadlines) = this() {
        let deadline = time().saturating_add(ticks);
        deadlines.slice.store(deadline, Ordering::Relaxed);
        program(deadlines);
    }
}

/// Disarms this hart's timer, both deadlines (the timer moves to the end of time,
/// which also withdraws a pending timer interrupt).
pub fn disarm_timer() {
    if let Some(deadlines) = this() {
        deadlines.slice.store(u64::MAX, Ordering::Relaxed);
        deadlines.guest.store(u64::MAX, Ordering::Relaxed);
        deadlines.armed.store(u64::MAX, Ordering::Relaxed);
    }
    set_timer(u64::MAX);
}

/// Sets the guest deadline of this hart (`u64::MAX`: none) and re-arms the timer.
pub fn set_guest_deadline(deadline: u64) {
    if let Some(deadlines) = this() {
        deadlines.guest.store(deadline, Ordering::Relaxed);
        program(deadlines);
    }
}

/// The timer interrupt was taken: re-arms for what is still ahead (the guest
/// deadline that fired is dropped).
pub fn fired() {
    if let Some(deadlines) = this() {
        program(deadlines);
    }
}

/// Whether interrupt `vector` (an interrupt cause) ends the host's time slice: the
/// timer's, with the slice over (not only a guest's deadline).
pub fn is_timer_interrupt(vector: u64) -> bool {
    vector == SUPERVISOR_TIMER
        && this().is_some_and(|deadlines| time() >= deadlines.slice.load(Ordering::Relaxed))
}
