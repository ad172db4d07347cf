//! Measures the hypervisor's cost of an exit in guest instructions: under QEMU with
//! `-icount shift=0` one instruction takes one nanosecond of virtual time, so the
//! timer's counter (aarch64 `CNTVCT_EL0`, riscv64 `time`) measures instructions;
//! under Bochs the TSC counts instructions (x86_64).
//! Each exit kind is timed over many round trips, minus the same loop without the
//! trapping instruction.

#![no_std]
#![no_main]

use minivisor_guests::{counter, counter_hz, hypercall, power, println, sink};

/// Round trips per measurement.
const ROUNDS: u64 = 4096;

/// Nanoseconds (= instructions under `-icount shift=0`) per round of `body`.
fn per_round(mut body: impl FnMut(u64)) -> u64 {
    let start = counter();
    for round in 0..ROUNDS {
        body(round);
    }
    let ticks = counter().wrapping_sub(start);
    ticks.saturating_mul(1_000_000_000) / counter_hz().max(1) / ROUNDS
}

#[unsafe(no_mangle)]
extern "C" fn guest_main(_dtb: u64) -> ! {
    let mut sum = 0u64;
    let baseline = per_round(|round| sum = sum.wrapping_add(core::hint::black_box(round)));
    let hypercall = per_round(|round| {
        sum = sum.wrapping_add(hypercall::call(hypercall::SUM, [round, 0, 0, 0, 0, 0]))
    });
    let device = per_round(|round| sink::write(round as u32));
    println!(
        "exitcost: hypercall round trip {} instructions, {} round trip {} instructions ({ROUNDS} rounds each, loop overhead {baseline} subtracted; checksum {sum:#x})",
        hypercall.saturating_sub(baseline),
        sink::KIND,
        device.saturating_sub(baseline)
    );
    power::system_off()
}
