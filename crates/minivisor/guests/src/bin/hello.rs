//! Prints a greeting through the emulated UART and powers off.

#![no_std]
#![no_main]

use minivisor_guests::{GUEST, cpu_id, power, println};

#[unsafe(no_mangle)]
extern "C" fn guest_main(_dtb: u64) -> ! {
    println!("Hello from {GUEST} (vCPU {})", cpu_id());
    power::system_off()
}
