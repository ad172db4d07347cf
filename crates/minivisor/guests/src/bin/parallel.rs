//! Two vCPUs that each keep a pattern of their own in their FP/SIMD registers and
//! check it after every exit, for the parallel scenario (four such VMs, whose vCPUs
//! the hypervisor spreads over its CPUs): vCPU 0 starts vCPU 1; each loads its
//! pattern, then, round after round, makes a hypercall, compares every FP/SIMD
//! register with the pattern, writes and reads back a word of lazily mapped RAM
//! (a page further each round), and now and then prints. A hypervisor that lets
//! one vCPU's FP state leak into another's, in this VM or another, on this CPU or
//! after a move, fails the comparison.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, Ordering};

use minivisor_guests::{
    LAZY_REGION, counter, cpu_id,
    fp::{self, FpRegs},
    hypercall, let_host_interrupts_in, power, println, wfi,
};

/// Rounds per vCPU: about a second under QEMU, fewer under Bochs, which takes
/// far longer per exit.
const ROUNDS: u64 = if cfg!(target_arch = "x86_64") {
    300
} else {
    2000
};
/// Rounds between two progress lines (console writes).
const PROGRESS_EVERY: u64 = ROUNDS / 4;
/// The lazily mapped RAM the configs give at LAZY_REGION: 8 MiB, with 2 MiB
/// boundaries inside.
const LAZY_SIZE: u64 = 0x80_0000;
const PAGE: u64 = 0x1000;

/// Set by vCPU 1 once it checked all its rounds.
static VCPU1_DONE: AtomicBool = AtomicBool::new(false);

/// Stops the VM after a failed check.
fn fail(vcpu: u64, what: core::fmt::Arguments<'_>) -> ! {
    println!("parallel: vCPU {vcpu} {what} FAILED");
    power::system_off()
}

/// Writes and reads back one word of lazy RAM: page `2 * round + vcpu` (mod the
/// region), so the two vCPUs never share a page and each first touch of a page is a
/// nested page fault, at an offset that moves too.
fn touch_lazy_memory(vcpu: u64, round: u64, value: u64) {
    let page = (2 * round + vcpu) % (LAZY_SIZE / PAGE);
    let addr = LAZY_REGION + page * PAGE + (round * 8) % PAGE;
    // SAFETY: [LAZY_REGION, + LAZY_SIZE) is RAM of the VM that nothing else uses;
    // `addr` is inside and 8-byte aligned, in a page only this vCPU touches.
    let read = unsafe {
        core::ptr::write_volatile(addr as *mut u64, value);
        core::ptr::read_volatile(addr as *const u64)
    };
    if read != value {
        fail(
            vcpu,
            format_args!("read {read:#x} back from lazy RAM at {addr:#x}, wrote {value:#x}"),
        );
    }
}

/// What each vCPU does: `seed` is the VM's.
fn exercise(seed: u64) {
    // For Bochs: see `let_host_interrupts_in` (each vCPU has its own RFLAGS.IF).
    let_host_interrupts_in();
    let vcpu = cpu_id();
    fp::enable();
    let pattern = FpRegs::pattern(seed, vcpu);
    pattern.load();
    for round in 1..=ROUNDS {
        let sum = hypercall::call(hypercall::SUM, [round, vcpu, seed, 0, 0, 0]);
        if sum != round.wrapping_add(vcpu).wrapping_add(seed) {
            fail(vcpu, format_args!("hypercall {round} returned {sum:#x}"));
        }
        if let Some(reg) = pattern.first_difference(&FpRegs::save()) {
            fail(
                vcpu,
                format_args!("FP register corrupted ({reg} after {round} exits)"),
            );
        }
        touch_lazy_memory(vcpu, round, seed ^ sum);
        if round % PROGRESS_EVERY == 0 {
            println!("parallel: vCPU {vcpu} at round {round}");
        }
    }
    println!("parallel: vCPU {vcpu} checked its FP registers after {ROUNDS} exits");
}

extern "C" fn guest_secondary(seed: u64) -> ! {
    exercise(seed);
    VCPU1_DONE.store(true, Ordering::Release);
    power::cpu_off()
}

#[unsafe(no_mangle)]
extern "C" fn guest_main(_boot_info: u64) -> ! {
    // The VMs are identical but for their configs; the counter at their start
    // differs, so each VM's patterns differ from the others'.
    let seed = counter();
    let status = power::cpu_on(1, guest_secondary, seed);
    if status != 0 {
        fail(0, format_args!("could not start vCPU 1 ({status})"));
    }
    exercise(seed);
    while !VCPU1_DONE.load(Ordering::Acquire) {
        wfi();
    }
    power::system_off()
}
