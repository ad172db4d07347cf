//! The host's interrupts: there is no interrupt controller to acknowledge for the
//! host timer; the cause of the interrupt that ended a guest's run is still in
//! `scause`, and disarming the timer withdraws it.

use axvcpu::arch::riscv64::exit::cause::INTERRUPT;

/// The cause of the interrupt that just trapped (`scause` without its interrupt
/// bit); `usize::MAX` when the last trap was no interrupt.
pub fn irq_fetch() -> usize {
    let scause: u64;
    // SAFETY: reading scause has no side effect.
    unsafe { core::arch::asm!("csrr {}, scause", out(reg) scause, options(nomem, nostack)) };
    if scause & INTERRUPT == 0 {
        return usize::MAX;
    }
    (scause & !INTERRUPT) as usize
}

/// Nothing to end: the timer's pending bit goes when it is disarmed or re-armed.
pub fn end_of_interrupt(_vector: u64) {}

/// With no vCPU to run on this CPU: spins once (nothing kicks an idle hart out of `wfi` yet (`kick_cpu` does nothing here), so a vCPU started by another hart would wait for the host tick).
pub fn idle_wait() {
    core::hint::spin_loop();
}
