//! Three vCPUs the config pins to one physical CPU, one of which spins forever
//! without an exit: vCPU 0 starts vCPUs 1 and 2; vCPU 2 spins; vCPU 1 makes
//! hypercalls and prints, then sets a flag; vCPU 0 spins (without exits too) until
//! it sees the flag, prints and powers the VM off. Only a host timer that slices
//! the CPU between its vCPUs lets vCPU 1 run, and then vCPU 0.

#![no_std]
#![no_main]

use core::{
    hint,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
};

use minivisor_guests::{hypercall, let_host_interrupts_in, power, println, wfi};

/// The hypercalls vCPU 1 makes.
const HYPERCALLS: u64 = 64;

/// Bit n: vCPU n has started.
static STARTED: AtomicU64 = AtomicU64::new(0);
/// Set by vCPU 1 when it is done.
static VCPU1_DONE: AtomicBool = AtomicBool::new(false);
/// vCPU 2's rounds so far.
static SPINS: AtomicU64 = AtomicU64::new(0);

/// vCPU 1 and 2 (`which`).
extern "C" fn guest_secondary(which: u64) -> ! {
    // For Bochs: the host timer can take the CPU back only while IF is set.
    let_host_interrupts_in();
    STARTED.fetch_or(1 << which, Ordering::AcqRel);
    if which == 2 {
        loop {
            SPINS.fetch_add(1, Ordering::Relaxed);
        }
    }
    println!("timeslice: vCPU 1 running beside a spinning vCPU 2");
    for round in 0..HYPERCALLS {
        let sum = hypercall::call(hypercall::SUM, [round, 1, 0, 0, 0, 0]);
        if sum != round + 1 {
            println!("timeslice: hypercall {round} returned {sum:#x} FAILED");
            power::system_off();
        }
    }
    println!("timeslice: vCPU 1 finished beside a spinning vCPU 2");
    VCPU1_DONE.store(true, Ordering::Release);
    power::cpu_off()
}

#[unsafe(no_mangle)]
extern "C" fn guest_main(_boot_info: u64) -> ! {
    let_host_interrupts_in();
    for target in [1, 2] {
        let status = power::cpu_on(target, guest_secondary, target);
        if status != 0 {
            println!("timeslice: starting vCPU {target} failed with {status} FAILED");
            power::system_off();
        }
        // One start at a time: on x86_64 all starts share one trampoline.
        while STARTED.load(Ordering::Acquire) & 1 << target == 0 {
            wfi();
        }
    }
    while !VCPU1_DONE.load(Ordering::Acquire) {
        hint::spin_loop();
    }
    println!(
        "timeslice: done, vCPU 2 spun {} rounds meanwhile",
        SPINS.load(Ordering::Relaxed)
    );
    power::system_off()
}
