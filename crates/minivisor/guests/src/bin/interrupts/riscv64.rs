//! The riscv64 interrupts guest: the supervisor timer, SBI IPIs and the UART's
//! receive interrupts through the vPLIC, as an OS takes them. Each hart installs a trap vector (`stvec`, direct) and enables its software
//! and timer interrupts (`sie.SSIE`, `sie.STIE`, `sstatus.SIE`). Then:
//!
//! 1. hart 0 starts hart 1 (SBI HSM `hart_start`), which waits in WFI for an IPI;
//! 2. hart 0 takes [`ROUNDS`] timer interrupts for each way of programming the timer
//!    and of waiting for it: through `stimecmp` when its timer is Sstc's (minivisor's
//!    `TIMER_SSTC` hypercall says; a Linux guest reads `sstc` in its device tree),
//!    and through SBI `set_timer` always; waiting with WFI (the vCPU halts and the
//!    hypervisor sleeps until the deadline) and spinning (the interrupt arrives
//!    while the guest runs). The handler reads `time` first and records how long
//!    after the deadline it ran: under QEMU `-icount shift=0` one instruction is one
//!    nanosecond, and `time` runs at 10 MHz, so that is the delivery latency in
//!    instructions, in steps of 100;
//! 3. an IPI to a hart that does not exist must be refused (`SBI_ERR_INVALID_PARAM`);
//! 4. hart 0 sends hart 1 an IPI (`send_ipi`, hart 1 on another physical CPU), whose
//!    handler clears `sip.SSIP` and sends one back;
//! 5. hart 0 gives the UART's source priority 1 and enables it in its context
//!    (context 0, threshold 0), turns on the UART's receive interrupt
//!    (`IER.ERBFI`) and its external interrupts (`sie.SEIE`), prints
//!    `interrupts: waiting for input` and waits in WFI until [`INPUT`] has come: its
//!    handler (`scause` 9) claims, drains `RBR` while `LSR.DR`, completes;
//!
//! then hart 0 checks the counts, prints them and powers off. Any other trap prints
//! FAILED and powers off.

use core::{
    arch::{asm, global_asm},
    sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering},
};

use minivisor_guests::{
    UART_IER_ERBFI, counter, counter_hz, cpu_id, getc, hypercall, plic, power, println,
    uart_enable_interrupts, wfi,
};

/// Timer interrupts per way of programming and of waiting.
const ROUNDS: usize = 10;
/// How far ahead each deadline is, in `time` ticks (100 µs at 10 MHz): far more
/// than the guest needs to reach its WFI.
const TICKS: u64 = 1000;
/// The harts of the VM.
const HARTS: usize = 2;
/// What the scenario types: the handler must receive exactly these bytes.
const INPUT: &[u8] = b"abc\n";
/// Hart 0's S-mode context in the PLIC.
const CONTEXT: usize = 0;

/// minivisor's hypercall: 1 when this vCPU's timer is Sstc's.
const TIMER_SSTC: u64 = 0x4d56_0003;
/// SBI extensions: TIME (`set_timer`, function 0) and IPI (`send_ipi`, function 0).
const SBI_TIME: u64 = 0x5449_4d45;
const SBI_IPI: u64 = 0x0073_5049;
/// SBI_ERR_INVALID_PARAM.
const INVALID_PARAM: u64 = -3i64 as u64;

/// `scause` of the supervisor software, timer and external interrupts.
const SOFTWARE_INTERRUPT: u64 = (1 << 63) | 1;
const TIMER_INTERRUPT: u64 = (1 << 63) | 5;
const EXTERNAL_INTERRUPT: u64 = (1 << 63) | 9;
/// `sie` / `sip` bits: SSIE / SSIP, STIE and SEIE.
const SSI: u64 = 1 << 1;
const STI: u64 = 1 << 5;
const SEI: u64 = 1 << 9;
/// `sstatus.SIE`.
const SIE: u64 = 1 << 1;

/// How the timer is programmed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Way {
    /// `stimecmp` (Sstc: the guest's write goes to `vstimecmp`, no exit).
    Stimecmp,
    /// SBI `set_timer`.
    Sbi,
}

/// Timer interrupts hart 0 took.
static TIMER: AtomicUsize = AtomicUsize::new(0);
/// The deadline of the timer interrupt awaited.
static DEADLINE: AtomicU64 = AtomicU64::new(0);
/// Per timer interrupt, `time` ticks from its deadline to the handler.
static LATENCY: [AtomicU64; 4 * ROUNDS] = [const { AtomicU64::new(0) }; 4 * ROUNDS];
/// Per hart: IPIs taken.
static IPIS: [AtomicUsize; HARTS] = [const { AtomicUsize::new(0) }; HARTS];
/// When hart 0 sent its IPI, and ticks from then to hart 1's handler.
static IPI_SENT: AtomicU64 = AtomicU64::new(0);
static IPI_LATENCY: AtomicU64 = AtomicU64::new(0);
/// Hart 1 has its interrupts on, and has sent its IPI back.
static HART1_READY: AtomicBool = AtomicBool::new(false);
static HART1_DONE: AtomicBool = AtomicBool::new(false);
/// UART interrupts taken, bytes received, and the first of them.
static RX_IRQS: AtomicUsize = AtomicUsize::new(0);
static RX_BYTES: AtomicUsize = AtomicUsize::new(0);
static RECEIVED: [AtomicU8; INPUT.len()] = [const { AtomicU8::new(0) }; INPUT.len()];

// The trap vector: saves the registers a call may change, reads `time` into a0 and
// `scause` into a1 for `trap`, and returns with `sret`.
global_asm!(
    r#"
.section .text, "ax"
.balign 4
.global interrupts_trap_vector
interrupts_trap_vector:
    addi sp, sp, -128
    sd a0, 0(sp)
    rdtime a0
    sd a1, 8(sp)
    sd a2, 16(sp)
    sd a3, 24(sp)
    sd a4, 32(sp)
    sd a5, 40(sp)
    sd a6, 48(sp)
    sd a7, 56(sp)
    sd t0, 64(sp)
    sd t1, 72(sp)
    sd t2, 80(sp)
    sd t3, 88(sp)
    sd t4, 96(sp)
    sd t5, 104(sp)
    sd t6, 112(sp)
    sd ra, 120(sp)
    csrr a1, scause
    call {trap}
    ld a0, 0(sp)
    ld a1, 8(sp)
    ld a2, 16(sp)
    ld a3, 24(sp)
    ld a4, 32(sp)
    ld a5, 40(sp)
    ld a6, 48(sp)
    ld a7, 56(sp)
    ld t0, 64(sp)
    ld t1, 72(sp)
    ld t2, 80(sp)
    ld t3, 88(sp)
    ld t4, 96(sp)
    ld t5, 104(sp)
    ld t6, 112(sp)
    ld ra, 120(sp)
    addi sp, sp, 128
    sret
"#,
    trap = sym trap,
);

unsafe extern "C" {
    fn interrupts_trap_vector();
}

/// This hart's index.
fn me() -> usize {
    usize::try_from(cpu_id()).unwrap_or(0).min(HARTS - 1)
}

fn bump(counter: &AtomicUsize) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Release,
    );
}

/// Prints with interrupts masked: a handler that fails prints too, and would
/// otherwise wait for the console lock this hart holds.
fn say(args: core::fmt::Arguments<'_>) {
    // SAFETY: clears and sets sstatus.SIE, this hart's interrupt enable.
    unsafe { asm!("csrc sstatus, {}", in(reg) SIE, options(nomem, nostack)) };
    println!("{args}");
    // SAFETY: as above.
    unsafe { asm!("csrs sstatus, {}", in(reg) SIE, options(nomem, nostack)) };
}

fn fail(args: core::fmt::Arguments<'_>) -> ! {
    println!("interrupts: {args} FAILED");
    power::system_off()
}

/// The trap handler, with the `time` the vector read first.
extern "C" fn trap(now: u64, scause: u64) {
    let me = me();
    match scause {
        TIMER_INTERRUPT if me == 0 => {
            // Off until the next round arms it: the interrupt stays pending meanwhile
            // (the deadline has passed).
            // SAFETY: clears sie.STIE.
            unsafe { asm!("csrc sie, {}", in(reg) STI, options(nomem, nostack)) };
            let taken = TIMER.load(Ordering::Relaxed);
            if let Some(slot) = LATENCY.get(taken) {
                slot.store(
                    now.wrapping_sub(DEADLINE.load(Ordering::Relaxed)),
                    Ordering::Relaxed,
                );
            }
            bump(&TIMER);
        }
        SOFTWARE_INTERRUPT => {
            // SAFETY: clears sip.SSIP (the hypervisor's hvip.VSSIP): taken.
            unsafe { asm!("csrc sip, {}", in(reg) SSI, options(nomem, nostack)) };
            if me == 1 {
                IPI_LATENCY.store(
                    now.wrapping_sub(IPI_SENT.load(Ordering::Relaxed)),
                    Ordering::Relaxed,
                );
            }
            if let Some(taken) = IPIS.get(me) {
                bump(taken);
            }
        }
        EXTERNAL_INTERRUPT if me == 0 => uart_rx(),
        _ => fail(format_args!(
            "hart {me} took trap {scause:#x} at {:#x}",
            csr_sepc()
        )),
    }
}

/// Claims, drains the UART while it holds a byte, completes: its line is low by
/// the completion unless a byte came after the drain, which then interrupts again.
fn uart_rx() {
    let source = plic::claim(CONTEXT);
    if source == 0 {
        // A claim with nothing pending: nothing to complete.
        return;
    }
    if source != plic::UART_SOURCE {
        fail(format_args!("hart 0 claimed PLIC source {source}"));
    }
    let mut count = RX_BYTES.load(Ordering::Relaxed);
    while let Some(byte) = getc() {
        if let Some(slot) = RECEIVED.get(count) {
            slot.store(byte, Ordering::Relaxed);
        }
        count = count.wrapping_add(1);
    }
    RX_BYTES.store(count, Ordering::Release);
    bump(&RX_IRQS);
    plic::complete(CONTEXT, source);
}

/// The UART's source enabled for hart 0 at threshold 0, its receive interrupt and
/// hart 0's external interrupts on.
fn enable_uart_rx() {
    plic::set_priority(plic::UART_SOURCE, 1);
    plic::enable(CONTEXT, plic::UART_SOURCE);
    plic::set_threshold(CONTEXT, 0);
    uart_enable_interrupts(UART_IER_ERBFI);
    // SAFETY: sets sie.SEIE; the vector handles external interrupts on hart 0.
    unsafe { asm!("csrs sie, {}", in(reg) SEI, options(nomem, nostack)) };
}

/// Waits for [`INPUT`]; fails unless exactly it came.
fn receive_input() -> usize {
    say(format_args!("interrupts: waiting for input"));
    wait_until(|| RX_BYTES.load(Ordering::Acquire) >= INPUT.len());
    let bytes = RX_BYTES.load(Ordering::Acquire);
    let received = RECEIVED.iter().map(|b| b.load(Ordering::Relaxed));
    if bytes != INPUT.len() || !received.eq(INPUT.iter().copied()) {
        fail(format_args!("received {bytes} bytes, not {INPUT:?}"));
    }
    bytes
}

fn csr_sepc() -> u64 {
    let sepc: u64;
    // SAFETY: reading sepc has no side effect.
    unsafe { asm!("csrr {}, sepc", out(reg) sepc, options(nomem, nostack)) };
    sepc
}

/// This hart's trap vector, software and timer interrupts on.
fn enable_interrupts() {
    // SAFETY: installs the vector above (4-byte aligned, direct mode) and enables
    // the interrupts it handles.
    unsafe {
        asm!(
            "csrw stvec, {vector}",
            "csrs sie, {ssi}",
            "csrs sstatus, {sie}",
            vector = in(reg) interrupts_trap_vector as *const () as u64,
            ssi = in(reg) SSI,
            sie = in(reg) SIE,
            options(nomem, nostack),
        );
    }
}

/// Waits with WFI until `done`. Interrupts are masked from the check to the WFI, so
/// one that makes `done` true cannot be taken between them and leave the WFI
/// waiting for another; WFI wakes on a pending interrupt even when masked.
fn wait_until(done: impl Fn() -> bool) {
    loop {
        // SAFETY: clears sstatus.SIE.
        unsafe { asm!("csrc sstatus, {}", in(reg) SIE, options(nomem, nostack)) };
        if done() {
            break;
        }
        wfi();
        // SAFETY: sets sstatus.SIE; the vector handles the pending interrupt.
        unsafe { asm!("csrs sstatus, {}", in(reg) SIE, options(nomem, nostack)) };
    }
    // SAFETY: as above.
    unsafe { asm!("csrs sstatus, {}", in(reg) SIE, options(nomem, nostack)) };
}

/// Arms the timer `TICKS` ahead and waits (with WFI or spinning) for its interrupt.
fn one_round(way: Way, halt: bool) {
    let round = TIMER.load(Ordering::Acquire);
    let deadline = counter().wrapping_add(TICKS);
    DEADLINE.store(deadline, Ordering::Relaxed);
    match way {
        // SAFETY: writes stimecmp (CSR 0x14d), this vCPU's timer (Sstc).
        Way::Stimecmp => unsafe {
            asm!("csrw 0x14d, {}", in(reg) deadline, options(nomem, nostack));
        },
        Way::Sbi => {
            let _ = hypercall::call(SBI_TIME, [deadline, 0, 0, 0, 0, 0]);
        }
    }
    // SAFETY: sets sie.STIE; the handler clears it.
    unsafe { asm!("csrs sie, {}", in(reg) STI, options(nomem, nostack)) };
    if halt {
        wait_until(|| TIMER.load(Ordering::Acquire) > round);
    } else {
        while TIMER.load(Ordering::Acquire) <= round {
            core::hint::spin_loop();
        }
    }
}

/// Takes `ROUNDS` timer interrupts programmed `way`, waiting each way; prints their
/// latencies as `name`.
fn timer_rounds(way: Way, name: &str) {
    for (halt, how) in [(true, "while waiting (WFI)"), (false, "while running")] {
        let first = TIMER.load(Ordering::Acquire);
        for _ in 0..ROUNDS {
            one_round(way, halt);
        }
        report(first, name, how);
    }
}

/// Prints the latencies of timer interrupts `from..from + ROUNDS`.
fn report(from: usize, name: &str, how: &str) {
    let instructions = |ticks: u64| ticks.saturating_mul(1_000_000_000) / counter_hz().max(1);
    let samples = LATENCY
        .get(from..from.saturating_add(ROUNDS))
        .unwrap_or(&[]);
    let ticks = samples.iter().map(|slot| slot.load(Ordering::Relaxed));
    let min = ticks.clone().min().unwrap_or(0);
    let max = ticks.clone().max().unwrap_or(0);
    let sum = ticks.fold(0u64, u64::saturating_add);
    say(format_args!(
        "interrupts: {name}: {ROUNDS} timer interrupts {how}, deadline to handler min/avg/max {}/{}/{} ns (instructions under icount, in steps of {})",
        instructions(min),
        instructions(sum) / (samples.len().max(1) as u64),
        instructions(max),
        instructions(1)
    ));
}

fn ipis(hart: usize) -> usize {
    IPIS.get(hart).map_or(0, |n| n.load(Ordering::Acquire))
}

/// `send_ipi(hart_mask, hart_mask_base)`; the SBI error.
fn send_ipi(hart_mask: u64, hart_mask_base: u64) -> u64 {
    hypercall::call(SBI_IPI, [hart_mask, hart_mask_base, 0, 0, 0, 0])
}

extern "C" fn secondary(_context: u64) -> ! {
    enable_interrupts();
    HART1_READY.store(true, Ordering::Release);
    wait_until(|| ipis(1) > 0);
    if send_ipi(0b1, 0) != 0 {
        fail(format_args!("hart 1's IPI to hart 0 was refused"));
    }
    HART1_DONE.store(true, Ordering::Release);
    power::cpu_off()
}

/// Hart 1 up, waiting for an IPI.
fn start_hart1() {
    let status = power::cpu_on(1, secondary, 0);
    if status != 0 {
        fail(format_args!("hart_start of hart 1 returned {status}"));
    }
    while !HART1_READY.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
}

/// An IPI to hart 1 and one back; an IPI to a hart that does not exist refused.
fn exchange_ipis() {
    let refused = send_ipi(0b100, 0);
    if refused != INVALID_PARAM {
        fail(format_args!("an IPI to hart 2 of 2 returned {refused:#x}"));
    }
    IPI_SENT.store(counter(), Ordering::Relaxed);
    if send_ipi(0b10, 0) != 0 {
        fail(format_args!("hart 0's IPI to hart 1 was refused"));
    }
    wait_until(|| ipis(0) > 0);
    while !HART1_DONE.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
}

pub fn main() -> ! {
    enable_interrupts();
    start_hart1();
    let sstc = hypercall::call(TIMER_SSTC, [0; 6]) == 1;
    let mut expected = 2 * ROUNDS;
    if sstc {
        timer_rounds(Way::Stimecmp, "stimecmp");
        timer_rounds(Way::Sbi, "SBI set_timer with Sstc");
        expected += 2 * ROUNDS;
    } else {
        timer_rounds(Way::Sbi, "SBI set_timer without Sstc");
    }
    exchange_ipis();
    let timer = TIMER.load(Ordering::Acquire);
    if timer != expected || ipis(0) != 1 || ipis(1) != 1 {
        fail(format_args!(
            "took {timer} timer interrupts (expected {expected}) and IPIs {}/{}",
            ipis(0),
            ipis(1)
        ));
    }
    let ipi_latency = IPI_LATENCY
        .load(Ordering::Relaxed)
        .saturating_mul(1_000_000_000)
        / counter_hz().max(1);
    say(format_args!(
        "interrupts: IPI from hart 0 to hart 1's handler {ipi_latency} ns (instructions under icount)"
    ));
    enable_uart_rx();
    let bytes = receive_input();
    say(format_args!(
        "interrupts: sstc {}, unknown hart refused, timer {timer}, ipi {}, uart-rx {bytes} bytes in {} interrupts",
        if sstc { "on" } else { "off" },
        ipis(0).wrapping_add(ipis(1)),
        RX_IRQS.load(Ordering::Acquire)
    ));
    power::system_off()
}
