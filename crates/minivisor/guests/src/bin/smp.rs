//! vCPU 0 starts vCPU 1 (PSCI CPU_ON, SBI HSM hart_start); both print, then the VM
//! powers off.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};

use minivisor_guests::{power, println, wfi};

/// What vCPU 1 received as its context argument, once it ran.
static SECONDARY_ARG: AtomicU64 = AtomicU64::new(0);

const CONTEXT: u64 = 0x5eed_0001;

/// The FP patterns of vCPU 0 and 1: the backend must keep each vCPU's FP registers
/// while the other runs on the same physical hart.
#[cfg(target_arch = "riscv64")]
const FP_SEEDS: [u64; 2] = [0x0a0a_0000_0000_0000, 0x0b0b_0000_0000_0000];

extern "C" fn guest_secondary(context: u64) -> ! {
    #[cfg(target_arch = "riscv64")]
    minivisor_guests::fp_fill(FP_SEEDS[1]);
    println!(
        "smp: vCPU {} running, context {context:#x}",
        minivisor_guests::cpu_id()
    );
    #[cfg(target_arch = "riscv64")]
    if !minivisor_guests::fp_check(FP_SEEDS[1]) {
        println!("smp: vCPU 1 FP registers changed FAILED");
    }
    SECONDARY_ARG.store(context, Ordering::SeqCst);
    power::cpu_off()
}

#[unsafe(no_mangle)]
extern "C" fn guest_main(_dtb: u64) -> ! {
    println!("smp: vCPU {} starting vCPU 1", minivisor_guests::cpu_id());
    #[cfg(target_arch = "riscv64")]
    minivisor_guests::fp_fill(FP_SEEDS[0]);
    let status = power::cpu_on(1, guest_secondary, CONTEXT);
    if status != 0 {
        println!("smp: CPU_ON failed with {status} FAILED");
        power::system_off();
    }
    while SECONDARY_ARG.load(Ordering::SeqCst) == 0 {
        wfi();
    }
    #[cfg(target_arch = "riscv64")]
    if minivisor_guests::fp_check(FP_SEEDS[0]) {
        println!("smp: FP registers kept across vCPU switches");
    } else {
        println!("smp: vCPU 0 FP registers changed FAILED");
    }
    if SECONDARY_ARG.load(Ordering::SeqCst) == CONTEXT {
        println!("smp: both vCPUs ran");
    } else {
        println!("smp: vCPU 1 got the wrong context FAILED");
    }
    power::system_off()
}
