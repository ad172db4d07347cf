//! The secondary CPUs: started with PSCI CPU_ON through `smc` (QEMU virt with
//! `virtualization=on` answers PSCI at its emulated firmware and starts the CPU at
//! EL2, the caller's level, with the MMU off), each at
//! `minivisor_secondary_entry` with its start record as the context id.

use core::arch::{asm, global_asm};

use crate::cpus::{self, MAX_CPUS};

/// The affinity fields of MPIDR_EL1 (Aff3 in 39:32, Aff2 to Aff0 in 23:0).
pub const AFFINITY: u64 = 0xff_00ff_ffff;
/// PSCI CPU_ON (SMC64) and the results minivisor tells apart.
const CPU_ON: u64 = 0xc400_0003;
const PSCI_SUCCESS: i64 = 0;
const PSCI_INVALID_PARAMETERS: i64 = -2;
const PSCI_ALREADY_ON: i64 = -4;

// A secondary CPU starts here at EL2 with x0 = its start record (the context id),
// the MMU off and no stack: MMU on first (so the record and the stack are the
// normal memory the boot CPU wrote), then the stack, then Rust.
global_asm!(
    r#"
.section .text.minivisor_secondary, "ax"
.global minivisor_secondary_entry
minivisor_secondary_entry:
    mov x19, x0
    bl minivisor_mmu_on
    ldr x1, [x19]
    mov sp, x1
    ldr x0, [x19, #8]
    bl {main}
1:  wfi
    b 1b
"#,
    main = sym secondary_main,
);

unsafe extern "C" {
    fn minivisor_secondary_entry();
}

/// This CPU's MPIDR_EL1.
pub fn mpidr() -> u64 {
    let mpidr: u64;
    // SAFETY: reading MPIDR_EL1 has no side effect.
    unsafe { asm!("mrs {}, mpidr_el1", out(reg) mpidr, options(nomem, nostack)) };
    mpidr
}

/// The index of the calling CPU (0 = the boot CPU), from `TPIDR_EL2`, which each
/// CPU sets to its index during its set-up and nothing else writes.
pub fn this_cpu() -> usize {
    let index: usize;
    // SAFETY: reading TPIDR_EL2 has no side effect.
    unsafe { asm!("mrs {}, tpidr_el2", out(reg) index, options(nomem, nostack)) };
    index
}

fn psci_cpu_on(target: u64, entry: u64, context: u64) -> i64 {
    let result: u64;
    // SAFETY: PSCI CPU_ON through the emulated firmware writes x0 only; the
    // started CPU runs minivisor's entry code with its own stack.
    unsafe {
        asm!(
            "smc #0",
            inout("x0") CPU_ON => result,
            in("x1") target,
            in("x2") entry,
            in("x3") context,
            options(nostack),
        );
    }
    result as i64
}

/// Starts every other CPU of this CPU's cluster (QEMU virt numbers them Aff0 =
/// 0, 1, ...: up to [`MAX_CPUS`] are tried, a PSCI INVALID_PARAMETERS means none at
/// that affinity) one after the other; each runs `entry(index)` once its set-up is
/// done.
pub fn start_secondaries(entry: fn(usize) -> !) {
    cpus::set_entry(entry);
    let own = mpidr() & AFFINITY;
    let cluster = own & !0xff;
    let mut next = 1;
    for aff0 in 0..MAX_CPUS as u64 {
        let target = cluster | aff0;
        if target == own {
            continue;
        }
        let Some(record) = cpus::prepare(next, target) else {
            crate::println!("minivisor: cpu {next}: no stack (no memory, or past MAX_CPUS)");
            return;
        };
        let entry_point = minivisor_secondary_entry as *const () as u64;
        match psci_cpu_on(target, entry_point, core::ptr::from_ref(record) as u64) {
            PSCI_SUCCESS => {
                if cpus::wait_up(next) {
                    next += 1;
                }
            }
            PSCI_INVALID_PARAMETERS | PSCI_ALREADY_ON => {}
            error => crate::println!("minivisor: PSCI CPU_ON {target:#x} failed: {error}"),
        }
    }
}

/// A secondary CPU on its own stack with its MMU on: the rest of its set-up.
extern "C" fn secondary_main(index: usize) -> ! {
    match super::boot::init_this_cpu(index) {
        Ok(()) => cpus::entered(index),
        Err(why) => {
            crate::println!("minivisor: cpu {index}: {why}");
            idle()
        }
    }
}

/// Parks this CPU with nothing to do (interrupts stay masked at EL2, and none is
/// armed for it). WFI, not WFE: QEMU's TCG treats WFE as a mere yield, so a WFE loop
/// keeps a host thread busy, while WFI halts the CPU until an interrupt is pending.
pub fn idle() -> ! {
    loop {
        // SAFETY: waiting for an interrupt has no effect on memory.
        unsafe { asm!("wfi", options(nomem, nostack)) };
    }
}
