//! A sequence of hypercalls whose results the guest checks.

#![no_std]
#![no_main]

use minivisor_guests::{hvc, hypercall, println, psci};

#[unsafe(no_mangle)]
extern "C" fn guest_main(_dtb: u64) -> ! {
    let mut failures = 0u32;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..16u64 {
        let mut args = [0u64; 6];
        for arg in &mut args {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *arg = seed;
        }
        let sum = args.iter().fold(0u64, |acc, a| acc.wrapping_add(*a));
        let xor = args.iter().fold(0u64, |acc, a| acc ^ *a);
        let got_sum = hvc(hypercall::SUM, args);
        let got_xor = hvc(hypercall::XOR, args);
        if got_sum != sum || got_xor != xor {
            failures += 1;
            println!(
                "hypercall round {round}: sum {got_sum:#x} (want {sum:#x}), xor {got_xor:#x} (want {xor:#x})"
            );
        }
    }
    if failures == 0 {
        println!("hypercall: 32 calls returned the expected values");
    } else {
        println!("hypercall: {failures} rounds FAILED");
    }
    psci::system_off()
}
