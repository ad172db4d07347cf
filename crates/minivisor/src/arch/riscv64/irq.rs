//! The host's interrupts: there is no interrupt controller to acknowledge for the
//! host timer or the kick; the cause of the interrupt that ended a guest's run is
//! still in `scause`. The timer's pending bit goes when it is re-armed, the kick's
//! (the supervisor software interrupt `kick` sends) when `sip.SSIP` is cleared.

use axvcpu::arch::riscv64::exit::cause::INTERRUPT;

use super::timer;

/// The interrupt cause of the supervisor software interrupt (the kick).
pub const SUPERVISOR_SOFTWARE: u64 = 1;
/// The interrupt cause of the supervisor timer.
const SUPERVISOR_TIMER: u64 = 5;

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

/// Ends interrupt `vector`: a kick is acknowledged; the timer re-armed for the
/// deadline still ahead (after `crate::timer` handled an ended time slice).
pub fn end_of_interrupt(vector: u64) {
    match vector {
        SUPERVISOR_SOFTWARE => acknowledge_kick(),
        SUPERVISOR_TIMER => timer::fired(),
        _ => {}
    }
}

/// Clears `sip.SSIP`: a kick that arrived is being served (the run loop looks at the
/// vCPU's interrupts before its next entry).
pub fn acknowledge_kick() {
    // SAFETY: clearing this hart's pending supervisor software interrupt changes no
    // memory; only kicks raise it.
    unsafe {
        core::arch::asm!("csrc sip, {}", in(reg) 1u64 << SUPERVISOR_SOFTWARE, options(nomem, nostack))
    };
}

/// With no vCPU to run on this CPU: spins once, so a vCPU another hart starts or
/// makes runnable is found at once (waiting in `wfi` for `kick_cpu`'s IPI, as aarch64
/// does, is not done here yet).
pub fn idle_wait() {
    core::hint::spin_loop();
}
