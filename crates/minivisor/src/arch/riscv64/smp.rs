//! The secondary harts: found with SBI HSM `hart_get_status` (hart ids need not be
//! dense, and the boot hart is whichever OpenSBI chose) and started with
//! `hart_start` at `minivisor_secondary_entry`, in HS-mode with the MMU off (as
//! minivisor always runs), a0 = the hart id and a1 = its start record.

use core::arch::{asm, global_asm};

use axvcpu::arch::riscv64::sbi;

use super::ecall;
use crate::cpus::{self, MAX_CPUS};

/// HSM functions and the hart state minivisor starts.
const HART_START: u64 = 0;
const HART_GET_STATUS: u64 = 2;
const HART_STOPPED: u64 = 1;
/// The highest hart id looked for (QEMU virt numbers its harts from 0).
const MAX_HART_ID: u64 = 63;

// A secondary hart starts here with a1 = its start record and no stack.
global_asm!(
    r#"
.section .text.minivisor_secondary, "ax"
.global minivisor_secondary_entry
minivisor_secondary_entry:
    ld sp, 0(a1)
    ld a0, 8(a1)
    call {main}
1:  wfi
    j 1b
"#,
    main = sym secondary_main,
);

unsafe extern "C" {
    fn minivisor_secondary_entry();
}

/// The index of the calling hart (0 = the boot hart), from `tp`, which each hart
/// sets to its index during its set-up and nothing else changes.
pub fn this_cpu() -> usize {
    let index: usize;
    // SAFETY: reading tp has no side effect.
    unsafe { asm!("mv {}, tp", out(reg) index, options(nomem, nostack)) };
    index
}

/// Starts every other hart OpenSBI reports stopped (hart ids 0 to
/// [`MAX_HART_ID`], at most [`MAX_CPUS`] in all) one after the other; each runs
/// `entry(index)` once its set-up is done.
pub fn start_secondaries(entry: fn(usize) -> !) {
    cpus::set_entry(entry);
    let mut next = 1;
    for hart in 0..=MAX_HART_ID {
        if next >= MAX_CPUS {
            break;
        }
        let (error, state) = ecall::call(sbi::HSM, HART_GET_STATUS, [hart, 0, 0]);
        if error != 0 || state != HART_STOPPED {
            continue;
        }
        let Some(record) = cpus::prepare(next, hart) else {
            crate::println!("minivisor: cpu {next}: no memory for its stack");
            return;
        };
        let entry_point = minivisor_secondary_entry as *const () as u64;
        let record = core::ptr::from_ref(record) as u64;
        match ecall::call(sbi::HSM, HART_START, [hart, entry_point, record]) {
            (0, _) => {
                if cpus::wait_up(next) {
                    next += 1;
                }
            }
            (error, _) => crate::println!("minivisor: SBI hart_start {hart} failed: {error}"),
        }
    }
}

/// A secondary hart on its own stack: the rest of its set-up.
extern "C" fn secondary_main(index: usize) -> ! {
    super::boot::init_this_cpu(index);
    cpus::entered(index)
}

/// Parks this hart with nothing to do (`sstatus.SIE` stays clear).
pub fn idle() -> ! {
    loop {
        // SAFETY: waiting for an interrupt has no effect on memory.
        unsafe { asm!("wfi", options(nomem, nostack)) };
    }
}
