//! Measures the hypervisor's cost of an exit in guest instructions (see
//! `minivisor_guests::timing`). Each exit kind is timed over many round trips, minus
//! the same loop without the trapping instruction.

#![no_std]
#![no_main]

use minivisor_guests::{hypercall, power, println, sink, timing};

/// Round trips per measurement.
const ROUNDS: u64 = 4096;

/// Instructions per round of `body`.
fn per_round(body: impl FnMut(u64)) -> u64 {
    timing::per_round(ROUNDS, body)
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
