//! Measures exit round trips with the guest's counter: null hypercalls and MMIO
//! writes to a device register, each against the same loop without the trap. Under
//! QEMU `-icount shift=0` (one instruction per nanosecond) the figures are
//! instructions, exactly reproducible.

#![no_std]
#![no_main]

use core::hint::black_box;

use minivisor_guests::{bench_write, counter, counter_hz, hypercall, power, println};

/// Calls per measurement.
const CALLS: u64 = 10_000;

/// Counter ticks of `CALLS` runs of `step`.
fn ticks(mut step: impl FnMut(u64)) -> u64 {
    let start = counter();
    for i in 0..CALLS {
        step(i);
    }
    counter().wrapping_sub(start)
}

/// Prints the cost of one trap: (`with` − `without`) ticks over `CALLS` calls, in
/// instructions at one per nanosecond, with two decimals.
fn report(what: &str, with: u64, without: u64) {
    let hz = counter_hz().max(1);
    // Hundredths of an instruction per call: ticks * (1e9 / hz) * 100 / CALLS.
    let hundredths = with.saturating_sub(without) * (1_000_000_000 / hz) * 100 / CALLS;
    println!(
        "bench: {what}: {}.{:02} instructions per round trip ({CALLS} calls, {with} ticks vs {without} without the trap, {hz} Hz)",
        hundredths / 100,
        hundredths % 100
    );
}

#[unsafe(no_mangle)]
extern "C" fn guest_main(_dtb: u64) -> ! {
    let args = [0; 6];
    let without = ticks(|_| {
        black_box(hypercall::baseline(hypercall::SUM, black_box(args)));
    });
    let with = ticks(|_| {
        black_box(hypercall::call(hypercall::SUM, black_box(args)));
    });
    report("hypercall", with, without);
    let mut ram = 0u64;
    let without = ticks(|i| bench_write(Some(&mut ram), i as u8));
    let with = ticks(|i| bench_write(None, i as u8));
    report("MMIO write", with, without);
    power::system_off()
}
