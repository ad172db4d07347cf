//! Uses the firmware services the hypervisor provides to its guests (riscv64: SBI
//! consoles and HSM status; aarch64: PSCI queries) and reports whether they worked.

#![no_std]
#![no_main]

use minivisor_guests::{firmware_services, power, println};

#[unsafe(no_mangle)]
extern "C" fn guest_main(_dtb: u64) -> ! {
    if firmware_services() {
        println!("firmware: all services answered");
    } else {
        println!("firmware: a service FAILED");
    }
    power::system_off()
}
