//! The emulated PLIC's claim/complete round trip, as an OS's external-interrupt
//! handler makes it (riscv64): the guest gives the UART's source 10 priority 1,
//! enables it in its context (hart 0's S-mode, context 0) at threshold 0, and turns
//! on the UART's transmitter-empty interrupt (`IER.ETBEI`), whose line stays high
//! while it never reads `IIR`. With its own interrupts off (`sstatus.SIE` clear) it
//! checks that its `sip.SEIP` (the hypervisor's `hvip.VSEIP`) follows the PLIC: set
//! while source 10 is pending, clear once claimed, set again at the completion
//! (the line is still high). Then it times [`ROUNDS`] claims (each must return 10)
//! each followed by its completion, minus the same loop on RAM, in instructions
//! under QEMU `-icount shift=0` (see `minivisor_guests::timing`).
//!
//! On the other architectures it only says there is no PLIC there.

#![no_std]
#![no_main]

use minivisor_guests::power;
#[cfg(not(target_arch = "riscv64"))]
use minivisor_guests::println;

#[cfg(target_arch = "riscv64")]
mod plic {
    use minivisor_guests::{
        UART_IER_ETBEI,
        plic::{UART_SOURCE as SOURCE, claim, complete, enable, set_priority, set_threshold},
        println, timing, uart_enable_interrupts,
    };

    /// Claim/complete round trips timed.
    const ROUNDS: u64 = 1000;
    /// Hart 0's S-mode context.
    const CONTEXT: usize = 0;
    /// `sip.SEIP`: a supervisor external interrupt is pending.
    const SIP_SEIP: u64 = 1 << 9;

    fn external_pending() -> bool {
        let sip: u64;
        // SAFETY: reading sip has no side effect.
        unsafe { core::arch::asm!("csrr {}, sip", out(reg) sip, options(nomem, nostack)) };
        sip & SIP_SEIP != 0
    }

    /// Runs the checks and the timing; prints FAILED when one fails.
    pub fn run() {
        set_priority(SOURCE, 1);
        enable(CONTEXT, SOURCE);
        set_threshold(CONTEXT, 0);
        uart_enable_interrupts(UART_IER_ETBEI);
        let raised = external_pending();
        let claimed = claim(CONTEXT);
        let lowered = !external_pending();
        complete(CONTEXT, claimed);
        let raised_again = external_pending();
        if !(raised && claimed == SOURCE && lowered && raised_again) {
            println!(
                "plic: FAILED: pending before the claim {raised}, claimed {claimed}, \
                 clear after it {lowered}, pending after the completion {raised_again}"
            );
            return;
        }
        println!("plic: VSEIP followed the claim and the completion");
        let mut wrong = 0u64;
        // The same loop with the value passing through opaque moves instead.
        let baseline = timing::per_round(ROUNDS, |_| {
            let id = core::hint::black_box(SOURCE);
            if id != SOURCE {
                wrong = wrong.saturating_add(1);
            }
            core::hint::black_box(id);
        });
        let round_trip = timing::per_round(ROUNDS, |_| {
            let id = claim(CONTEXT);
            if id != SOURCE {
                wrong = wrong.saturating_add(1);
            }
            complete(CONTEXT, id);
        });
        uart_enable_interrupts(0);
        if wrong != 0 {
            println!("plic: FAILED: {wrong} of {ROUNDS} claims did not return source {SOURCE}");
            return;
        }
        println!(
            "plic: claim/complete round trip {} instructions ({ROUNDS} rounds, loop overhead {baseline} subtracted)",
            round_trip.saturating_sub(baseline)
        );
    }
}

#[unsafe(no_mangle)]
extern "C" fn guest_main(_dtb: u64) -> ! {
    #[cfg(target_arch = "riscv64")]
    plic::run();
    #[cfg(not(target_arch = "riscv64"))]
    println!("plic: there is no PLIC on this architecture");
    power::system_off()
}
