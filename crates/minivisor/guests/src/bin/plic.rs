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
    use minivisor_guests::{println, timing};

    /// Claim/complete round trips timed.
    const ROUNDS: u64 = 1000;
    /// The UART's PLIC source.
    const SOURCE: u32 = 10;
    /// The PLIC's registers for source 10 and context 0 (the config's window).
    const PLIC: usize = 0x0c00_0000;
    const PRIORITY: usize = PLIC + 4 * SOURCE as usize;
    const ENABLE: usize = PLIC + 0x2000;
    const THRESHOLD: usize = PLIC + 0x20_0000;
    const CLAIM: usize = PLIC + 0x20_0004;
    /// The UART's interrupt enable register and its transmitter-empty bit.
    const UART_IER: usize = 0x1000_0001;
    const IER_ETBEI: u8 = 1 << 1;
    /// `sip.SEIP`: a supervisor external interrupt is pending.
    const SIP_SEIP: u64 = 1 << 9;

    fn write32(addr: usize, value: u32) {
        // SAFETY: a register of the emulated PLIC the config maps at PLIC; the
        // write is emulated.
        unsafe { core::ptr::write_volatile(addr as *mut u32, value) };
    }

    fn read32(addr: usize) -> u32 {
        // SAFETY: as `write32`; a read of the claim register claims, which is meant.
        unsafe { core::ptr::read_volatile(addr as *const u32) }
    }

    fn external_pending() -> bool {
        let sip: u64;
        // SAFETY: reading sip has no side effect.
        unsafe { core::arch::asm!("csrr {}, sip", out(reg) sip, options(nomem, nostack)) };
        sip & SIP_SEIP != 0
    }

    /// Runs the checks and the timing; prints FAILED when one fails.
    pub fn run() {
        write32(PRIORITY, 1);
        write32(ENABLE, 1 << SOURCE);
        write32(THRESHOLD, 0);
        // SAFETY: the UART's IER, emulated like the PLIC's registers.
        unsafe { core::ptr::write_volatile(UART_IER as *mut u8, IER_ETBEI) };
        let raised = external_pending();
        let claimed = read32(CLAIM);
        let lowered = !external_pending();
        write32(CLAIM, claimed);
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
            let id = read32(CLAIM);
            if id != SOURCE {
                wrong = wrong.saturating_add(1);
            }
            write32(CLAIM, id);
        });
        // SAFETY: as above.
        unsafe { core::ptr::write_volatile(UART_IER as *mut u8, 0) };
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
