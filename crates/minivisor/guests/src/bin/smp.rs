//! vCPU 0 starts vCPU 1 (PSCI CPU_ON, SBI HSM hart_start); both print, then the VM
//! powers off.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};

use minivisor_guests::{power, println, wfi};

/// What vCPU 1 received as its context argument, once it ran.
static SECONDARY_ARG: AtomicU64 = AtomicU64::new(0);

const CONTEXT: u64 = 0x5eed_0001;

extern "C" fn guest_secondary(context: u64) -> ! {
    println!(
        "smp: vCPU {} running, context {context:#x}",
        minivisor_guests::cpu_id()
    );
    SECONDARY_ARG.store(context, Ordering::SeqCst);
    power::cpu_off()
}

#[unsafe(no_mangle)]
extern "C" fn guest_main(_dtb: u64) -> ! {
    println!("smp: vCPU {} starting vCPU 1", minivisor_guests::cpu_id());
    let status = power::cpu_on(1, guest_secondary, CONTEXT);
    if status != 0 {
        println!("smp: CPU_ON failed with {status} FAILED");
        power::system_off();
    }
    while SECONDARY_ARG.load(Ordering::SeqCst) == 0 {
        wfi();
    }
    if SECONDARY_ARG.load(Ordering::SeqCst) == CONTEXT {
        println!("smp: both vCPUs ran");
    } else {
        println!("smp: vCPU 1 got the wrong context FAILED");
    }
    power::system_off()
}
