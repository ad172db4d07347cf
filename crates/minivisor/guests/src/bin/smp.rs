//! vCPU 0 starts vCPU 1 with PSCI CPU_ON; both print, then the VM powers off.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};

use minivisor_guests::{println, psci, wfi};

/// What vCPU 1 received as its context argument, once it ran.
static SECONDARY_ARG: AtomicU64 = AtomicU64::new(0);

const CONTEXT: u64 = 0x5eed_0001;

core::arch::global_asm!(
    r#"
.global secondary_entry
secondary_entry:
    mov x19, x0
    mrs x1, mpidr_el1
    and x1, x1, #0xff
    bl guest_set_stack
    mov x0, x19
    bl guest_secondary
1:  b 1b
"#
);

unsafe extern "C" {
    fn secondary_entry();
}

#[unsafe(no_mangle)]
extern "C" fn guest_secondary(context: u64) -> ! {
    println!(
        "smp: vCPU {} running, context {context:#x}",
        minivisor_guests::cpu_id()
    );
    SECONDARY_ARG.store(context, Ordering::SeqCst);
    psci::cpu_off()
}

#[unsafe(no_mangle)]
extern "C" fn guest_main(_dtb: u64) -> ! {
    println!("smp: vCPU {} starting vCPU 1", minivisor_guests::cpu_id());
    let status = psci::cpu_on(1, secondary_entry as *const () as u64, CONTEXT);
    if status != 0 {
        println!("smp: CPU_ON failed with {status} FAILED");
        psci::system_off();
    }
    while SECONDARY_ARG.load(Ordering::SeqCst) == 0 {
        wfi();
    }
    if SECONDARY_ARG.load(Ordering::SeqCst) == CONTEXT {
        println!("smp: both vCPUs ran");
    } else {
        println!("smp: vCPU 1 got the wrong context FAILED");
    }
    psci::system_off()
}
