//! Prints a greeting through the emulated UART (on x86_64 after what the Multiboot
//! hand-off said) and powers off.

#![no_std]
#![no_main]

use minivisor_guests::{GUEST, cpu_id, power, println, report_boot};

#[unsafe(no_mangle)]
extern "C" fn guest_main(boot_info: u64) -> ! {
    report_boot(boot_info);
    println!("Hello from {GUEST} (vCPU {})", cpu_id());
    power::system_off()
}
