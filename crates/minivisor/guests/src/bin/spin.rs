//! Computes for a while without a single exit of its own (no MMIO, hypercall or
//! trapped instruction): only the host's timer can take the CPU back meanwhile,
//! which minivisor's summary shows. Then prints and powers off. (On x86_64 it
//! sets RFLAGS.IF first, for Bochs: see `let_host_interrupts_in`.)

#![no_std]
#![no_main]

use minivisor_guests::{counter, counter_hz, let_host_interrupts_in, power, println};

/// How long the guest spins: a twentieth of a second of its counter.
const SPIN_FRACTION: u64 = 20;

#[unsafe(no_mangle)]
extern "C" fn guest_main(_boot_info: u64) -> ! {
    let_host_interrupts_in();
    let start = counter();
    let ticks = counter_hz() / SPIN_FRACTION;
    let mut rounds = 0u64;
    while counter().wrapping_sub(start) < ticks {
        rounds = rounds.wrapping_add(1);
    }
    println!("spin: done after {rounds} rounds without an exit of its own");
    power::system_off()
}
