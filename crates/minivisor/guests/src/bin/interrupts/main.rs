//! Interrupts taken the way an OS takes them, one guest per architecture: on riscv64
//! the supervisor timer (Sstc and SBI TIME) and SBI IPIs between two harts (see
//! `riscv64.rs`); on aarch64 (below) the emulated GICv3.
//!
//! On aarch64, interrupts through the emulated GICv3, driven the way an OS drives it: vCPU 0
//! enables the distributor (`GICD_CTLR`: ARE, EnableGrp1), wakes its redistributor
//! (`GICR_WAKER`), groups, prioritises and enables the virtual timer's PPI 27 and
//! SGI [`SGI`] in its SGI frame and the PL011's SPI 33 in the distributor (routed to
//! itself with `GICD_IROUTER`), turns on its CPU interface (`ICC_PMR_EL1`,
//! `ICC_IGRPEN1_EL1`) and the UART's receive interrupts (`UARTIMSC`: RX and RX
//! timeout). Then:
//!
//! 1. it times [`GICD_WRITES`] writes to a distributor register (`GICD_IPRIORITYR`)
//!    with the counter: under QEMU `-icount shift=0` one instruction is one
//!    nanosecond, so that is the cost of an emulated GICD write in instructions;
//! 2. it takes [`TIMER_ROUNDS`] virtual timer interrupts, each waited for with WFI
//!    (`ICC_IAR1_EL1` must say 27), and prints how long each took from its deadline
//!    (`CNTV_CVAL_EL0`) to the handler's first instruction: the virtual timer through
//!    the emulated vGIC's model;
//! 3. it starts vCPU 1 (PSCI CPU_ON), which sets up its own redistributor and CPU
//!    interface and waits in WFI; vCPU 0 sends it SGI [`SGI`] with `ICC_SGI1R_EL1`,
//!    and vCPU 1, having taken it, sends the same SGI back;
//! 4. it prints `interrupts: waiting for input` and waits in WFI for the UART: its
//!    handler (INTID 33) clears the receive interrupts with `UARTICR` and drains `DR`
//!    while `FR.RXFE` is clear, until [`INPUT`] has come; it prints the counts and
//!    powers off.
//!
//! Any other INTID, or any exception but an IRQ, prints FAILED and powers off.
//!
//! On x86_64 it only says there is no such guest yet.

#![no_std]
#![no_main]

#[cfg(target_arch = "riscv64")]
mod riscv64;

#[cfg(target_arch = "aarch64")]
mod gicv3 {
    use core::{
        arch::asm,
        sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering},
    };

    use minivisor_guests::{
        counter, counter_hz, cpu_id, latency::Latency, mrs, msr, power, println, wfi,
    };

    /// The timer interrupts vCPU 0 waits for.
    pub const TIMER_ROUNDS: usize = 10;
    /// The GICD writes timed.
    pub const GICD_WRITES: u64 = 1000;
    /// What the scenario types: the handler must receive exactly these bytes.
    pub const INPUT: &[u8] = b"abc\n";
    /// The SGI the two vCPUs send each other.
    pub const SGI: u64 = 3;

    /// The virtual timer's INTID (PPI 11) and the PL011's (SPI 1).
    const VTIMER: u64 = 27;
    const UART_SPI: u64 = 33;
    /// The INTID the CPU interface answers when nothing is pending.
    const SPURIOUS: u64 = 1023;
    /// The priority given to every interrupt used (any value below the mask works).
    const PRIORITY: u8 = 0xa0;

    /// The GIC as the config places it: the distributor, and the first vCPU's
    /// redistributor (RD frame, then the SGI frame 64 KiB above; 128 KiB per vCPU).
    const GICD: usize = 0x0800_0000;
    const GICR: usize = 0x080a_0000;
    const GICR_STRIDE: usize = 0x2_0000;
    const SGI_FRAME: usize = 0x1_0000;
    const GICD_CTLR: usize = 0x0000;
    const CTLR_ENABLE_GRP1: u32 = 1 << 1;
    const CTLR_ARE: u32 = 1 << 4;
    const GICR_WAKER: usize = 0x0014;
    const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
    const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
    /// Bit banks (one bit per INTID) and the priority bytes, at the same offsets in
    /// the distributor and the SGI frame.
    const IGROUPR: usize = 0x0080;
    const ISENABLER: usize = 0x0100;
    const IPRIORITYR: usize = 0x0400;
    const IROUTER: usize = 0x6000;
    /// The priorities of INTIDs 36-39, which nothing uses: the register timed.
    const TIMED_REG: usize = IPRIORITYR + 36;

    /// The VM's PL011.
    const UART: usize = 0x0900_0000;
    const UART_DR: usize = 0x000;
    const UART_FR: usize = 0x018;
    const UART_LCR_H: usize = 0x02c;
    const UART_IMSC: usize = 0x038;
    const UART_ICR: usize = 0x044;
    const FR_RXFE: u32 = 1 << 4;
    /// FIFOs on, 8-bit words.
    const LCR_H_FEN_WLEN8: u32 = 0x70;
    /// The receive and receive-timeout interrupts.
    const INT_RX_RT: u32 = 0x50;

    /// The vCPUs of the VM.
    const VCPUS: usize = 2;

    /// Timer interrupts vCPU 0 took.
    static TIMER: AtomicUsize = AtomicUsize::new(0);
    /// Per timer interrupt, counter ticks from its deadline to the handler.
    static TIMER_LATENCY: [AtomicU64; TIMER_ROUNDS] = [const { AtomicU64::new(0) }; TIMER_ROUNDS];
    /// Per vCPU: SGIs taken.
    static SGIS: [AtomicUsize; VCPUS] = [const { AtomicUsize::new(0) }; VCPUS];
    /// UART interrupts taken, bytes received, and the first of them.
    static RX_IRQS: AtomicUsize = AtomicUsize::new(0);
    static RX_BYTES: AtomicUsize = AtomicUsize::new(0);
    static RECEIVED: [AtomicU8; INPUT.len()] = [const { AtomicU8::new(0) }; INPUT.len()];
    /// vCPU 1 has its interrupts on, and has sent its SGI back.
    static VCPU1_READY: AtomicBool = AtomicBool::new(false);
    static VCPU1_DONE: AtomicBool = AtomicBool::new(false);
    /// The RAM word the timing's baseline loop writes.
    static BASELINE: AtomicU64 = AtomicU64::new(0);

    // The vector table: an IRQ calls `irq` with the counter it read first.
    minivisor_guests::irq_vector_table!(irq, irqs_unexpected);

    fn read32(addr: usize) -> u32 {
        // SAFETY: `addr` is a register of the VM's emulated GIC or PL011 (constants
        // above), which the hypervisor emulates; no RAM is touched.
        unsafe { core::ptr::read_volatile(addr as *const u32) }
    }

    fn write32(addr: usize, value: u32) {
        // SAFETY: as in `read32`.
        unsafe { core::ptr::write_volatile(addr as *mut u32, value) }
    }

    fn write8(addr: usize, value: u8) {
        // SAFETY: as in `read32`.
        unsafe { core::ptr::write_volatile(addr as *mut u8, value) }
    }

    fn write64(addr: usize, value: u64) {
        // SAFETY: as in `read32`.
        unsafe { core::ptr::write_volatile(addr as *mut u64, value) }
    }

    /// This vCPU's index.
    fn me() -> usize {
        usize::try_from(cpu_id()).unwrap_or(0).min(VCPUS - 1)
    }

    /// The bit of `intid` in its 32-bit word of a bit bank, and that word's offset.
    fn bit(intid: u64) -> (usize, u32) {
        let word = usize::try_from(intid / 32).unwrap_or(0).saturating_mul(4);
        (word, 1 << (intid % 32))
    }

    /// Prints with IRQs masked: a handler that fails prints too, and would otherwise
    /// wait for the console lock this vCPU holds.
    fn say(args: core::fmt::Arguments<'_>) {
        // SAFETY: masks and unmasks IRQs at EL1.
        unsafe { asm!("msr daifset, #2", options(nomem, nostack)) };
        println!("{args}");
        // SAFETY: as above.
        unsafe { asm!("msr daifclr, #2", options(nomem, nostack)) };
    }

    fn fail(args: core::fmt::Arguments<'_>) -> ! {
        println!("interrupts: {args} FAILED");
        power::system_off()
    }

    /// The IRQ handler (`now`: the counter at its first instruction): acknowledge,
    /// service, end.
    extern "C" fn irq(now: u64) {
        let me = me();
        let intid = mrs!("S3_0_C12_C12_0") & 0xff_ffff; // ICC_IAR1_EL1
        match intid {
            VTIMER if me == 0 => {
                let late = now.wrapping_sub(mrs!("cntv_cval_el0"));
                // Disabled, so its line is low before the end of the interrupt.
                msr!("cntv_ctl_el0", 0);
                let round = TIMER.load(Ordering::Relaxed);
                if let Some(slot) = TIMER_LATENCY.get(round) {
                    slot.store(late, Ordering::Relaxed);
                }
                TIMER.store(round.wrapping_add(1), Ordering::Release);
            }
            SGI => {
                if let Some(taken) = SGIS.get(me) {
                    taken.store(
                        taken.load(Ordering::Relaxed).wrapping_add(1),
                        Ordering::Release,
                    );
                }
            }
            UART_SPI if me == 0 => uart_rx(),
            SPURIOUS => return,
            _ => fail(format_args!(
                "vCPU {me} acknowledged unexpected INTID {intid}"
            )),
        }
        msr!("S3_0_C12_C12_1", intid); // ICC_EOIR1_EL1
    }

    /// Clears the receive interrupts first, then drains the FIFO: a byte that comes
    /// after the clear raises them again rather than being cleared unseen.
    fn uart_rx() {
        write32(UART + UART_ICR, INT_RX_RT);
        let mut count = RX_BYTES.load(Ordering::Relaxed);
        while read32(UART + UART_FR) & FR_RXFE == 0 {
            let byte = (read32(UART + UART_DR) & 0xff) as u8;
            if let Some(slot) = RECEIVED.get(count) {
                slot.store(byte, Ordering::Relaxed);
            }
            count = count.wrapping_add(1);
        }
        RX_BYTES.store(count, Ordering::Release);
        RX_IRQS.store(
            RX_IRQS.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Release,
        );
    }

    #[unsafe(no_mangle)]
    extern "C" fn irqs_unexpected(esr: u64) -> ! {
        fail(format_args!("unexpected exception, ESR_EL1 {esr:#x}"))
    }

    /// Waits with WFI until `done`. IRQs are masked from the check to the WFI, so an
    /// interrupt that makes `done` true cannot be taken between them and leave the
    /// WFI waiting for another one; WFI wakes on a pending interrupt even when masked.
    fn wait_until(done: impl Fn() -> bool) {
        loop {
            // SAFETY: masks IRQs at EL1.
            unsafe { asm!("msr daifset, #2", options(nomem, nostack)) };
            if done() {
                break;
            }
            wfi();
            // SAFETY: unmasks IRQs; the vector table handles the pending one.
            unsafe { asm!("msr daifclr, #2", options(nomem, nostack)) };
        }
        // SAFETY: as above.
        unsafe { asm!("msr daifclr, #2", options(nomem, nostack)) };
    }

    /// This vCPU's redistributor awake, its SGI (and on vCPU 0 the timer's PPI)
    /// grouped, prioritised and enabled, its CPU interface and vectors on, IRQs
    /// unmasked.
    fn enable_cpu(vcpu: usize, ppis: &[u64]) {
        msr!("vbar_el1", irq_vector_base());
        let rd = GICR.wrapping_add(vcpu.wrapping_mul(GICR_STRIDE));
        write32(
            rd + GICR_WAKER,
            read32(rd + GICR_WAKER) & !WAKER_PROCESSOR_SLEEP,
        );
        while read32(rd + GICR_WAKER) & WAKER_CHILDREN_ASLEEP != 0 {
            core::hint::spin_loop();
        }
        let sgi_frame = rd + SGI_FRAME;
        for &intid in ppis.iter().chain(&[SGI]) {
            let (word, mask) = bit(intid);
            write32(
                sgi_frame + IGROUPR + word,
                read32(sgi_frame + IGROUPR + word) | mask,
            );
            write8(sgi_frame + IPRIORITYR + intid as usize, PRIORITY);
            write32(sgi_frame + ISENABLER + word, mask);
        }
        msr!("S3_0_C4_C6_0", 0xff); // ICC_PMR_EL1: admit every priority
        msr!("S3_0_C12_C12_7", 1); // ICC_IGRPEN1_EL1: Group 1 on
        // SAFETY: unmasks IRQs at EL1; the vector table above handles them.
        unsafe { asm!("msr daifclr, #2", options(nomem, nostack)) };
    }

    /// The distributor on, SPI 33 grouped, prioritised, routed to vCPU 0 and enabled;
    /// the UART's FIFOs and receive interrupts on.
    fn enable_distributor_and_uart() {
        write32(GICD + GICD_CTLR, CTLR_ARE | CTLR_ENABLE_GRP1);
        let (word, mask) = bit(UART_SPI);
        write32(GICD + IGROUPR + word, read32(GICD + IGROUPR + word) | mask);
        write8(GICD + IPRIORITYR + UART_SPI as usize, PRIORITY);
        write64(GICD + IROUTER + 8 * UART_SPI as usize, 0); // Aff0 = vCPU 0
        write32(GICD + ISENABLER + word, mask);
        write32(UART + UART_LCR_H, LCR_H_FEN_WLEN8);
        write32(UART + UART_IMSC, INT_RX_RT);
    }

    /// Counter ticks of `rounds` runs of `body`, in nanoseconds.
    fn nanos(rounds: u64, mut body: impl FnMut(u64)) -> u64 {
        let start = counter();
        for round in 0..rounds {
            body(round);
        }
        let ticks = counter().wrapping_sub(start);
        ticks.saturating_mul(1_000_000_000) / counter_hz().max(1)
    }

    /// The instructions (under icount) of one GICD write, and the loop's own, per write.
    fn gicd_write_cost() -> (u64, u64) {
        // A volatile RAM write: the compiler may not fold the loop away.
        let baseline = nanos(GICD_WRITES, |round| {
            // SAFETY: a store to this program's own static.
            unsafe { core::ptr::write_volatile(BASELINE.as_ptr(), round) }
        });
        let writes = nanos(GICD_WRITES, |round| {
            write32(GICD + TIMED_REG, (round as u32) & 0xf0f0_f0f0);
        });
        let per = |total: u64| total / GICD_WRITES;
        (per(writes).saturating_sub(per(baseline)), per(baseline))
    }

    /// Arms the timer 100 µs ahead [`TIMER_ROUNDS`] times, waiting for each interrupt.
    fn timer_rounds() {
        let ticks = counter_hz() / 10_000;
        for round in 0..TIMER_ROUNDS {
            msr!("cntv_tval_el0", ticks);
            msr!("cntv_ctl_el0", 1); // ENABLE, interrupt not masked
            wait_until(|| TIMER.load(Ordering::Acquire) > round);
        }
    }

    /// `ICC_SGI1R_EL1` for SGI [`SGI`] to `vcpu` (Aff0 in the target list; Aff1-3 0).
    fn send_sgi(vcpu: usize) {
        msr!("S3_0_C12_C11_5", (SGI << 24) | (1 << vcpu));
    }

    fn sgis(vcpu: usize) -> usize {
        SGIS.get(vcpu).map_or(0, |n| n.load(Ordering::Acquire))
    }

    extern "C" fn secondary(_context: u64) -> ! {
        enable_cpu(1, &[]);
        VCPU1_READY.store(true, Ordering::Release);
        wait_until(|| sgis(1) > 0);
        send_sgi(0);
        VCPU1_DONE.store(true, Ordering::Release);
        power::cpu_off()
    }

    fn exchange_sgis() {
        let status = power::cpu_on(1, secondary, 0);
        if status != 0 {
            fail(format_args!("CPU_ON of vCPU 1 returned {status}"));
        }
        while !VCPU1_READY.load(Ordering::Acquire) {
            core::hint::spin_loop();
        }
        send_sgi(1);
        wait_until(|| sgis(0) > 0);
        while !VCPU1_DONE.load(Ordering::Acquire) {
            core::hint::spin_loop();
        }
    }

    pub fn main() -> ! {
        let sre = mrs!("S3_0_C12_C12_5"); // ICC_SRE_EL1
        if sre & 1 == 0 {
            fail(format_args!(
                "no GIC system registers (ICC_SRE_EL1 {sre:#x})"
            ));
        }
        enable_distributor_and_uart();
        enable_cpu(0, &[VTIMER]);
        let (cost, baseline) = gicd_write_cost();
        say(format_args!(
            "interrupts: GICD write round trip {cost} instructions ({GICD_WRITES} writes to GICD_IPRIORITYR, loop overhead {baseline} subtracted)"
        ));
        timer_rounds();
        say(format_args!(
            "interrupts: {TIMER_ROUNDS} vtimer interrupts through the vGIC while waiting (WFI), deadline to handler {} (instructions under icount)",
            Latency::of(&TIMER_LATENCY)
        ));
        exchange_sgis();
        say(format_args!("interrupts: waiting for input"));
        wait_until(|| RX_BYTES.load(Ordering::Acquire) >= INPUT.len());
        let bytes = RX_BYTES.load(Ordering::Acquire);
        let received = RECEIVED.iter().map(|b| b.load(Ordering::Relaxed));
        if bytes != INPUT.len() || !received.eq(INPUT.iter().copied()) {
            fail(format_args!("received {bytes} bytes, not {INPUT:?}"));
        }
        let (timer, sgi) = (TIMER.load(Ordering::Acquire), sgis(0).wrapping_add(sgis(1)));
        if timer != TIMER_ROUNDS || sgis(0) != 1 || sgis(1) != 1 {
            fail(format_args!(
                "took {timer} timer interrupts and SGIs {}/{}",
                sgis(0),
                sgis(1)
            ));
        }
        say(format_args!(
            "interrupts: vtimer {timer}, sgi {sgi}, uart-rx {bytes} bytes in {} interrupts",
            RX_IRQS.load(Ordering::Acquire)
        ));
        power::system_off()
    }
}

#[cfg(target_arch = "aarch64")]
#[unsafe(no_mangle)]
extern "C" fn guest_main(_dtb: u64) -> ! {
    gicv3::main()
}

#[cfg(target_arch = "riscv64")]
#[unsafe(no_mangle)]
extern "C" fn guest_main(_dtb: u64) -> ! {
    riscv64::main()
}

#[cfg(target_arch = "x86_64")]
#[unsafe(no_mangle)]
extern "C" fn guest_main(_dtb: u64) -> ! {
    minivisor_guests::println!("interrupts: no x86_64 interrupts guest yet");
    minivisor_guests::power::system_off()
}
