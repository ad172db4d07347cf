//! Hostile guest: see [`minivisor_guests::hostile::Action::StringIo`].

#![no_std]
#![no_main]

use minivisor_guests::hostile::{Action, run};

#[unsafe(no_mangle)]
extern "C" fn guest_main(_dtb: u64) -> ! {
    run(Action::StringIo)
}
