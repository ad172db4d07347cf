//! Prints a greeting through the emulated PL011 and powers off.

#![no_std]
#![no_main]

use minivisor_guests::{println, psci};

#[unsafe(no_mangle)]
extern "C" fn guest_main(_dtb: u64) -> ! {
    println!(
        "Hello from an aarch64 guest at EL1 (vCPU {})",
        minivisor_guests::cpu_id()
    );
    psci::system_off()
}
