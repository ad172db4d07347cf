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
//! aarch64 only; on the other architectures it only says so.

#![no_std]
#![no_main]

/// Timer interrupts per way of waiting.
#[cfg(target_arch = "aarch64")]
const ROUNDS: usize = 10;

#[cfg(target_arch = "aarch64")]
mod gicv3 {
    use core::{
        arch::{asm, global_asm},
        sync::atomic::{AtomicU64, AtomicUsize, Ordering},
    };

    use minivisor_guests::{counter_hz, power, println, wfi};

    use super::ROUNDS;

    /// The virtual timer's INTID (PPI 11).
    const VTIMER: u64 = 27;
    /// The INTID the CPU interface answers when nothing is pending.
    const SPURIOUS: u64 = 1023;
    /// How far ahead each deadline is, in counter ticks (100 µs at 62.5 MHz): far
    /// more than the guest needs to reach its WFI.
    const TICKS: u64 = 6250;

    /// Timer interrupts taken.
    static TAKEN: AtomicUsize = AtomicUsize::new(0);
    /// Interrupts acknowledged that were not the timer's (their last INTID in
    /// `OTHER_INTID`).
    static OTHER: AtomicUsize = AtomicUsize::new(0);
    static OTHER_INTID: AtomicU64 = AtomicU64::new(0);
    /// Per timer interrupt, counter ticks from its deadline to the handler.
    static LATENCY: [AtomicU64; 2 * ROUNDS] = [const { AtomicU64::new(0) }; 2 * ROUNDS];

    // The vector table: an IRQ from EL1 on SP_EL1 (offset 0x280) reads the counter
    // first, then calls `vtimer_irq(counter)` with the caller-saved registers saved;
    // every other vector is unexpected.
    global_asm!(
        r#"
.macro VTIMER_UNEXPECTED
    .balign 0x80
    mrs x0, esr_el1
    b vtimer_unexpected
.endm

.section .text.vtimer_vectors, "ax"
.balign 2048
.global vtimer_vectors
vtimer_vectors:
    VTIMER_UNEXPECTED
    VTIMER_UNEXPECTED
    VTIMER_UNEXPECTED
    VTIMER_UNEXPECTED
    VTIMER_UNEXPECTED
    .balign 0x80
    sub sp, sp, #176
    stp x0, x1, [sp]
    mrs x0, cntvct_el0
    b vtimer_irq_entry
    VTIMER_UNEXPECTED
    VTIMER_UNEXPECTED
    .rept 8
    VTIMER_UNEXPECTED
    .endr

vtimer_irq_entry:
    stp x2, x3, [sp, #16]
    stp x4, x5, [sp, #32]
    stp x6, x7, [sp, #48]
    stp x8, x9, [sp, #64]
    stp x10, x11, [sp, #80]
    stp x12, x13, [sp, #96]
    stp x14, x15, [sp, #112]
    stp x16, x17, [sp, #128]
    stp x18, x29, [sp, #144]
    str x30, [sp, #160]
    bl {handler}
    ldp x2, x3, [sp, #16]
    ldp x4, x5, [sp, #32]
    ldp x6, x7, [sp, #48]
    ldp x8, x9, [sp, #64]
    ldp x10, x11, [sp, #80]
    ldp x12, x13, [sp, #96]
    ldp x14, x15, [sp, #112]
    ldp x16, x17, [sp, #128]
    ldp x18, x29, [sp, #144]
    ldr x30, [sp, #160]
    ldp x0, x1, [sp]
    add sp, sp, #176
    eret
.purgem VTIMER_UNEXPECTED
.text
"#,
        handler = sym vtimer_irq,
    );

    unsafe extern "C" {
        static vtimer_vectors: u8;
    }

    /// Reads a system register by name.
    macro_rules! mrs {
        ($reg:literal) => {{
            let value: u64;
            // SAFETY: reading these registers at EL1 has no effect on memory;
            // none of them traps to the hypervisor.
            unsafe { asm!(concat!("mrs {}, ", $reg), out(reg) value, options(nomem, nostack)) };
            value
        }};
    }

    /// Writes a system register by name.
    macro_rules! msr {
        ($reg:literal, $value:expr) => {{
            let value: u64 = $value;
            // SAFETY: the guest's own CPU interface, timer and vector base; no memory
            // is touched.
            unsafe {
                asm!(concat!("msr ", $reg, ", {}"), "isb", in(reg) value, options(nomem, nostack))
            };
        }};
    }

    /// The IRQ handler: acknowledge, record, disable the timer (so its line is low
    /// before the end of the interrupt), end.
    extern "C" fn vtimer_irq(now: u64) {
        let intid = mrs!("S3_0_C12_C12_0") & 0xff_ffff; // ICC_IAR1_EL1
        if intid == VTIMER {
            let late = now.wrapping_sub(mrs!("cntv_cval_el0"));
            msr!("cntv_ctl_el0", 0);
            let taken = TAKEN.load(Ordering::Relaxed);
            if let Some(slot) = LATENCY.get(taken) {
                slot.store(late, Ordering::Relaxed);
            }
            TAKEN.store(taken.wrapping_add(1), Ordering::Release);
        } else {
            OTHER.store(
                OTHER.load(Ordering::Relaxed).wrapping_add(1),
                Ordering::Relaxed,
            );
            OTHER_INTID.store(intid, Ordering::Relaxed);
        }
        if intid != SPURIOUS {
            msr!("S3_0_C12_C12_1", intid); // ICC_EOIR1_EL1
        }
    }

    #[unsafe(no_mangle)]
    extern "C" fn vtimer_unexpected(esr: u64) -> ! {
        println!("vtimer: unexpected exception, ESR_EL1 {esr:#x} FAILED");
        power::system_off()
    }

    /// Arms the timer `TICKS` ahead and waits (with WFI or spinning) until the
    /// handler counted interrupt `round`.
    fn one_round(round: usize, halt: bool) {
        msr!("cntv_tval_el0", TICKS);
        msr!("cntv_ctl_el0", 1); // ENABLE, interrupt not masked
        while TAKEN.load(Ordering::Acquire) <= round {
            if halt {
                wfi();
            } else {
                core::hint::spin_loop();
            }
        }
    }

    /// Prints the latencies of interrupts `from..from + ROUNDS`.
    fn report(from: usize, how: &str) {
        let ns = |ticks: u64| ticks.saturating_mul(1_000_000_000) / counter_hz().max(1);
        let samples = LATENCY
            .get(from..from.saturating_add(ROUNDS))
            .unwrap_or(&[]);
        let ticks = samples.iter().map(|slot| slot.load(Ordering::Relaxed));
        let min = ticks.clone().min().unwrap_or(0);
        let max = ticks.clone().max().unwrap_or(0);
        let sum = ticks.fold(0u64, u64::saturating_add);
        let avg = sum / (samples.len().max(1) as u64);
        println!(
            "vtimer: {ROUNDS} interrupts {how}, deadline to handler min/avg/max {}/{}/{} ns (instructions under icount)",
            ns(min),
            ns(avg),
            ns(max)
        );
    }

    pub fn main() -> ! {
        let gic = (mrs!("s3_0_c0_c4_0") >> 24) & 0xf; // ID_AA64PFR0_EL1.GIC
        let sre = mrs!("S3_0_C12_C12_5"); // ICC_SRE_EL1
        if gic == 0 || sre & 1 == 0 {
            println!("vtimer: no GIC system registers (GIC {gic}, ICC_SRE_EL1 {sre:#x}) FAILED");
            power::system_off();
        }
        msr!("vbar_el1", core::ptr::addr_of!(vtimer_vectors) as u64);
        msr!("S3_0_C4_C6_0", 0xff); // ICC_PMR_EL1: admit every priority
        msr!("S3_0_C12_C12_7", 1); // ICC_IGRPEN1_EL1: Group 1 on
        // SAFETY: unmasks IRQs at EL1; the vector table above handles them.
        unsafe { asm!("msr daifclr, #2", options(nomem, nostack)) };
        println!(
            "vtimer: GIC system registers advertised (ID_AA64PFR0_EL1.GIC {gic}), CPU interface on"
        );
        for round in 0..ROUNDS {
            one_round(round, true);
        }
        report(0, "while waiting (WFI)");
        for round in ROUNDS..2 * ROUNDS {
            one_round(round, false);
        }
        report(ROUNDS, "while running");
        let other = OTHER.load(Ordering::Relaxed);
        if other != 0 {
            println!(
                "vtimer: {other} other interrupts acknowledged (last INTID {}) FAILED",
                OTHER_INTID.load(Ordering::Relaxed)
            );
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
