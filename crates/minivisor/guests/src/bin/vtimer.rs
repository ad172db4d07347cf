//! The guest's virtual timer through the GICv3 virtual CPU interface, without a
//! distributor or redistributor: the guest enables its CPU interface
//! (`ICC_PMR_EL1`, `ICC_IGRPEN1_EL1`, which the hypervisor does not trap: they are
//! the `ICV_*` registers), installs an IRQ vector, and times [`ROUNDS`] short
//! deadlines of `CNTV_TVAL_EL0` twice: waiting for each with WFI (the vCPU halts
//! and the hypervisor sleeps until the deadline), then spinning (the interrupt
//! arrives while the guest runs). Its handler acknowledges with `ICC_IAR1_EL1`
//! (which must say 27), disables the timer, ends the interrupt with
//! `ICC_EOIR1_EL1` and records how long after the deadline it ran: under QEMU
//! `-icount shift=0` one instruction is one nanosecond, so that is the delivery
//! latency in instructions (with the counter's 16 ns resolution at 62.5 MHz).
//!
//! In a VM with a second vCPU (PSCI CPU_ON of vCPU 1 succeeds; the config pins both
//! to one physical CPU) both vCPUs run the rounds, and vCPU 0 spends over two host
//! time slices in one of its handlers with its timer interrupt active: the
//! hypervisor must unbind it with the physical interrupt in a hardware-linked list
//! register, and vCPU 1's timer must still reach vCPU 1 meanwhile (and its running
//! priority must not be vCPU 0's). vCPU 0 prints both vCPUs' results, checking that
//! each took exactly its interrupts, no more.
//!
//! aarch64 only; on the other architectures it only says so.

#![no_std]
#![no_main]

/// Timer interrupts per way of waiting.
#[cfg(target_arch = "aarch64")]
const ROUNDS: usize = 10;

#[cfg(target_arch = "aarch64")]
mod gicv3 {
    use core::{
        arch::asm,
        sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    };

    use minivisor_guests::{
        counter, counter_hz, cpu_id, latency::Latency, mrs, msr, power, println, wfi,
    };

    use super::ROUNDS;

    /// The virtual timer's INTID (PPI 11).
    const VTIMER: u64 = 27;
    /// The INTID the CPU interface answers when nothing is pending.
    const SPURIOUS: u64 = 1023;
    /// How far ahead each deadline is, in counter ticks (100 µs at 62.5 MHz): far
    /// more than the guest needs to reach its WFI.
    const TICKS: u64 = 6250;

    /// The vCPUs that run the rounds (0, and 1 when the VM has it).
    const VCPUS: usize = 2;
    /// vCPU 0's round whose handler outlasts two host time slices in a VM with two
    /// vCPUs.
    const SLOW_ROUND: usize = 2;
    /// How long that handler takes, in milliseconds (minivisor's slice is 5 ms).
    const SLOW_MILLIS: u64 = 12;

    /// Per vCPU: timer interrupts taken.
    static TAKEN: [AtomicUsize; VCPUS] = [const { AtomicUsize::new(0) }; VCPUS];
    /// Per vCPU: interrupts acknowledged that were not the timer's, and the last
    /// such INTID.
    static OTHER: [AtomicUsize; VCPUS] = [const { AtomicUsize::new(0) }; VCPUS];
    static OTHER_INTID: [AtomicU64; VCPUS] = [const { AtomicU64::new(0) }; VCPUS];
    /// Per vCPU and timer interrupt, counter ticks from its deadline to the handler.
    static LATENCY: [[AtomicU64; 2 * ROUNDS]; VCPUS] =
        [const { [const { AtomicU64::new(0) }; 2 * ROUNDS] }; VCPUS];
    /// Whether vCPU 1 runs the rounds too, and has finished them.
    static SHARED: AtomicBool = AtomicBool::new(false);
    static VCPU1_DONE: AtomicBool = AtomicBool::new(false);
    /// Timer interrupts vCPU 1 took while vCPU 0 was in its slow handler.
    static WHILE_SLOW: AtomicUsize = AtomicUsize::new(0);
    /// vCPU 0 has entered its slow handler: vCPU 1 starts its rounds only then.
    static SLOW_STARTED: AtomicBool = AtomicBool::new(false);

    // The vector table: an IRQ calls `vtimer_irq` with the counter it read first.
    minivisor_guests::irq_vector_table!(vtimer_irq, vtimer_unexpected);

    /// This vCPU's index into the per-vCPU statics.
    fn me() -> usize {
        usize::try_from(cpu_id()).unwrap_or(0).min(VCPUS - 1)
    }

    /// The IRQ handler: acknowledge, record, disable the timer (so its line is low
    /// before the end of the interrupt), end.
    extern "C" fn vtimer_irq(now: u64) {
        let me = me();
        let intid = mrs!("S3_0_C12_C12_0") & 0xff_ffff; // ICC_IAR1_EL1
        let (Some(taken), Some(other), Some(latency)) =
            (TAKEN.get(me), OTHER.get(me), LATENCY.get(me))
        else {
            return;
        };
        if intid == VTIMER {
            let late = now.wrapping_sub(mrs!("cntv_cval_el0"));
            let round = taken.load(Ordering::Relaxed);
            if me == 0 && round == SLOW_ROUND && SHARED.load(Ordering::Acquire) {
                slow_handler();
            }
            msr!("cntv_ctl_el0", 0);
            if let Some(slot) = latency.get(round) {
                slot.store(late, Ordering::Relaxed);
            }
            taken.store(round.wrapping_add(1), Ordering::Release);
        } else {
            other.store(
                other.load(Ordering::Relaxed).wrapping_add(1),
                Ordering::Relaxed,
            );
            if let Some(last) = OTHER_INTID.get(me) {
                last.store(intid, Ordering::Relaxed);
            }
        }
        if intid != SPURIOUS {
            msr!("S3_0_C12_C12_1", intid); // ICC_EOIR1_EL1
        }
    }

    /// Stays in the handler, the timer interrupt active, for [`SLOW_MILLIS`]: the host
    /// timer takes the CPU away meanwhile and vCPU 1 runs. Counts its interrupts.
    fn slow_handler() {
        SLOW_STARTED.store(true, Ordering::Release);
        let other = TAKEN
            .get(1)
            .map_or(0, |taken| taken.load(Ordering::Acquire));
        let end = counter().wrapping_add(counter_hz() / 1000 * SLOW_MILLIS);
        while (end.wrapping_sub(counter()) as i64) > 0 {
            core::hint::spin_loop();
        }
        let after = TAKEN
            .get(1)
            .map_or(0, |taken| taken.load(Ordering::Acquire));
        WHILE_SLOW.store(after.wrapping_sub(other), Ordering::Release);
    }

    #[unsafe(no_mangle)]
    extern "C" fn vtimer_unexpected(esr: u64) -> ! {
        println!("vtimer: unexpected exception, ESR_EL1 {esr:#x} FAILED");
        power::system_off()
    }

    /// Arms the timer `TICKS` ahead and waits (with WFI or spinning) until the
    /// handler counted interrupt `round`.
    fn one_round(taken: &AtomicUsize, round: usize, halt: bool) {
        msr!("cntv_tval_el0", TICKS);
        msr!("cntv_ctl_el0", 1); // ENABLE, interrupt not masked
        while taken.load(Ordering::Acquire) <= round {
            if halt {
                wfi();
            } else {
                core::hint::spin_loop();
            }
        }
    }

    /// This vCPU's CPU interface and vectors, then its rounds.
    fn run_rounds() {
        let Some(taken) = TAKEN.get(me()) else {
            return;
        };
        msr!("vbar_el1", irq_vector_base());
        msr!("S3_0_C4_C6_0", 0xff); // ICC_PMR_EL1: admit every priority
        msr!("S3_0_C12_C12_7", 1); // ICC_IGRPEN1_EL1: Group 1 on
        // SAFETY: unmasks IRQs at EL1; the vector table above handles them.
        unsafe { asm!("msr daifclr, #2", options(nomem, nostack)) };
        for round in 0..2 * ROUNDS {
            one_round(taken, round, round < ROUNDS);
        }
    }

    /// Prints vCPU `vcpu`'s latencies of interrupts `from..from + ROUNDS` (`who`
    /// names it when two vCPUs ran).
    fn report(vcpu: usize, who: &str, from: usize, how: &str) {
        let samples = LATENCY
            .get(vcpu)
            .and_then(|latency| latency.get(from..from.saturating_add(ROUNDS)))
            .unwrap_or(&[]);
        println!(
            "vtimer: {who}{ROUNDS} interrupts {how}, deadline to handler {} (instructions under icount)",
            Latency::of(samples)
        );
    }

    /// Whether vCPU `vcpu` took exactly its timer interrupts and nothing else.
    fn exact(vcpu: usize) -> bool {
        let taken = TAKEN.get(vcpu).map_or(0, |n| n.load(Ordering::Acquire));
        let other = OTHER.get(vcpu).map_or(0, |n| n.load(Ordering::Acquire));
        if taken == 2 * ROUNDS && other == 0 {
            return true;
        }
        let last = OTHER_INTID
            .get(vcpu)
            .map_or(0, |n| n.load(Ordering::Acquire));
        println!(
            "vtimer: vCPU {vcpu} took {taken} timer interrupts (expected {}) and {other} others (last INTID {last}) FAILED",
            2 * ROUNDS
        );
        false
    }

    extern "C" fn secondary(_context: u64) -> ! {
        // A round lasts microseconds (a 1 GHz counter with `-cpu max`): started at
        // once, vCPU 1 could finish all of them while vCPU 0 waits for its first
        // interrupts, and take none during the slow handler. Spinning keeps it
        // runnable, so the host's slices alternate between the two meanwhile.
        while !SLOW_STARTED.load(Ordering::Acquire) {
            core::hint::spin_loop();
        }
        run_rounds();
        VCPU1_DONE.store(true, Ordering::Release);
        power::cpu_off()
    }

    pub fn main() -> ! {
        let gic = (mrs!("s3_0_c0_c4_0") >> 24) & 0xf; // ID_AA64PFR0_EL1.GIC
        let sre = mrs!("S3_0_C12_C12_5"); // ICC_SRE_EL1
        if gic == 0 || sre & 1 == 0 {
            println!("vtimer: no GIC system registers (GIC {gic}, ICC_SRE_EL1 {sre:#x}) FAILED");
            power::system_off();
        }
        println!("vtimer: GIC system registers advertised (ID_AA64PFR0_EL1.GIC {gic})");
        // Refused (INVALID_PARAMETERS) in a VM with one vCPU.
        let shared = power::cpu_on(1, secondary, 0) == 0;
        SHARED.store(shared, Ordering::Release);
        run_rounds();
        if shared {
            while !VCPU1_DONE.load(Ordering::Acquire) {
                wfi();
            }
            for vcpu in 0..VCPUS {
                let who = if vcpu == 0 { "vCPU 0: " } else { "vCPU 1: " };
                report(vcpu, who, 0, "while waiting (WFI)");
                report(vcpu, who, ROUNDS, "while running");
                exact(vcpu);
            }
            let during = WHILE_SLOW.load(Ordering::Acquire);
            if during > 0 {
                println!(
                    "vtimer: vCPU 1 took {during} timer interrupts while vCPU 0 was in its timer handler"
                );
            } else {
                println!(
                    "vtimer: vCPU 1 took no timer interrupt while vCPU 0 was in its handler FAILED"
                );
            }
        } else {
            report(0, "", 0, "while waiting (WFI)");
            report(0, "", ROUNDS, "while running");
            exact(0);
        }
        power::system_off()
    }
}

#[cfg(target_arch = "aarch64")]
#[unsafe(no_mangle)]
extern "C" fn guest_main(_dtb: u64) -> ! {
    gicv3::main()
}

#[cfg(not(target_arch = "aarch64"))]
#[unsafe(no_mangle)]
extern "C" fn guest_main(_dtb: u64) -> ! {
    minivisor_guests::println!("vtimer: the GICv3 virtual timer guest is aarch64-only");
    minivisor_guests::power::system_off()
}
