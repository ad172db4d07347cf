//! The host timer: the EL2 physical timer (`CNTHP_*_EL2`), whose PPI (INTID 26 on
//! QEMU virt) reaches EL2 as an IRQ while a guest runs. Guests keep the EL1 timers.

use core::arch::asm;

/// The INTID of the EL2 physical timer's PPI on QEMU virt.
pub const TIMER_INTID: u32 = 26;
/// The INTID of the EL1 virtual timer's PPI on QEMU virt: the guests' timer, whose
/// interrupt reaches EL2 while a guest runs and is handed to it (`vtimer`).
pub const VIRTUAL_TIMER_INTID: u32 = 27;
/// CNTHP_CTL_EL2: ENABLE, interrupt not masked.
const CTL_ENABLE: u64 = 1;

/// Ticks per second of the host timer (`CNTFRQ_EL0`).
pub fn timer_hz() -> u64 {
    let hz: u64;
    // SAFETY: reading CNTFRQ_EL0 has no side effect.
    unsafe { asm!("mrs {}, cntfrq_el0", out(reg) hz, options(nomem, nostack)) };
    hz
}

/// Arms this CPU's host timer to fire once, `ticks` from now (at most 2^31 - 1:
/// the countdown register is a signed 32-bit value).
pub fn arm_timeslice(ticks: u64) {
    // SAFETY: at EL2, the EL2 physical timer of this CPU, which only the hypervisor
    // uses: the countdown, then enable with the interrupt unmasked.
    unsafe {
        asm!(
            "msr S3_4_C14_C2_0, {ticks}", // CNTHP_TVAL_EL2
            "msr S3_4_C14_C2_1, {ctl}",   // CNTHP_CTL_EL2
            "isb",
            ticks = in(reg) ticks.min(i32::MAX as u64),
            ctl = in(reg) CTL_ENABLE,
            options(nomem, nostack),
        );
    }
}

/// The physical counter (`CNTPCT_EL0`), in [`timer_hz`] ticks.
pub fn counter() -> u64 {
    let count: u64;
    // SAFETY: reading the physical counter at EL2 has no side effect.
    unsafe { asm!("isb", "mrs {}, cntpct_el0", out(reg) count, options(nomem, nostack)) };
    count
}

/// Disarms this CPU's host timer; its interrupt (level-triggered) goes away.
pub fn disarm_timer() {
    // SAFETY: at EL2, disabling this CPU's EL2 physical timer.
    unsafe { asm!("msr S3_4_C14_C2_1, xzr", "isb", options(nomem, nostack)) };
}

/// Whether interrupt `vector` (an INTID) is the host timer's.
pub fn is_timer_interrupt(vector: u64) -> bool {
    vector == u64::from(TIMER_INTID)
}
