//! The riscv64 runtime: entry in VS-mode (translation off), NS16550 console, SBI
//! calls for hypercalls, HSM and SRST.
//!
//! Hypercalls are SBI calls to an extension minivisor defines: `a7` = the hypercall
//! number as the extension id, `a6` = 0, `a0`..`a5` = the arguments; the result
//! comes back in `a0` (SBI_ERR_NOT_SUPPORTED, -2, for an unknown one).

use core::arch::{asm, global_asm};

/// How the hello program names this guest.
pub const GUEST: &str = "a riscv64 guest in VS-mode";
/// RAM the hostile configs map read-only.
pub const READ_ONLY: u64 = 0x9800_0000;
/// The lazily mapped 8 MiB of the memory config, around the 1 GiB boundary at
/// 0xc000_0000.
pub const LAZY_REGION: u64 = 0xbfc0_0000;
/// What an unknown hypercall returns: SBI_ERR_NOT_SUPPORTED (-2).
pub const NOT_SUPPORTED: u64 = -2i64 as u64;

global_asm!(
    r#"
.section .text.entry, "ax"
.global _start
_start:
    mv tp, a0
    mv s1, a1
    call guest_set_stack
    bnez tp, 2f
    la t0, __bss_start
    la t1, __bss_end
1:  bgeu t0, t1, 2f
    sd zero, (t0)
    addi t0, t0, 8
    j 1b
2:  mv a0, s1
    call guest_main
3:  j 3b

// tp = hart index; sets sp to its stack top. Clobbers t0.
guest_set_stack:
    la sp, __stacks_top
    slli t0, tp, {stack_shift}
    sub sp, sp, t0
    ret

// A secondary hart (SBI HSM hart_start): a0 = hart id, a1 = opaque.
.global guest_secondary_entry
guest_secondary_entry:
    mv tp, a0
    call guest_set_stack
    mv a0, a1
    la t0, {secondary}
    ld t0, 0(t0)
    jalr t0
4:  j 4b
"#,
    stack_shift = const crate::STACK_SIZE.trailing_zeros(),
    secondary = sym crate::power::SECONDARY_MAIN,
);

unsafe extern "C" {
    /// Where a hart started with [`cpu_on`] begins.
    pub fn guest_secondary_entry();
}

/// This hart's index: the hart id the hypervisor passed in a0, kept in `tp`.
#[must_use]
pub fn cpu_id() -> u64 {
    let id: u64;
    // SAFETY: reading tp has no side effect; the entry code set it.
    unsafe { asm!("mv {}, tp", out(reg) id, options(nomem, nostack)) };
    id
}

/// Nothing to do: HS-mode interrupts are always enabled while the guest runs in
/// VS-mode, whatever its sstatus.SIE is.
pub fn let_host_interrupts_in() {}

/// Waits for an interrupt; under minivisor this yields the physical hart.
pub fn wfi() {
    // SAFETY: WFI only pauses the hart.
    unsafe { asm!("wfi", options(nomem, nostack)) };
}

/// Turns FP on for this hart (`sstatus.FS` = Initial, the guest's `vsstatus`) and
/// fills `f0`..`f31` with `seed`, `seed + 1`, ... and `fcsr` with the low 8 bits of
/// `seed`: a pattern [`fp_check`] finds again only if the hypervisor switched this
/// vCPU's FP state while another one ran.
pub fn fp_fill(seed: u64) {
    // SAFETY: writes sstatus.FS and the FP registers only; the guests have no
    // floating-point code, so no FP register holds a value the compiler relies on.
    unsafe {
        asm!(
            "li {t}, 0x2000",
            "csrs sstatus, {t}",
            "fscsr {v}",
            ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            "fmv.d.x f\\n, {v}",
            "addi {v}, {v}, 1",
            ".endr",
            t = out(reg) _,
            v = inout(reg) seed => _,
            options(nomem, nostack),
        );
    }
}

/// Whether `f0`..`f31` and `fcsr` still hold what [`fp_fill`] wrote with `seed`.
#[must_use]
pub fn fp_check(seed: u64) -> bool {
    let diff: u64;
    // SAFETY: reads the FP registers and fcsr (FP is on since `fp_fill`).
    unsafe {
        asm!(
            "frcsr {d}",
            "xor {d}, {d}, {v}",
            "andi {d}, {d}, 0xff",
            ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            "fmv.x.d {t}, f\\n",
            "xor {t}, {t}, {v}",
            "or {d}, {d}, {t}",
            "addi {v}, {v}, 1",
            ".endr",
            d = out(reg) diff,
            t = out(reg) _,
            v = inout(reg) seed => _,
            options(nomem, nostack),
        );
    }
    diff == 0
}

/// An SBI call: extension `eid`, function `fid`, arguments `a0`..`a5`; returns
/// (error, value).
#[inline]
fn sbi(eid: u64, fid: u64, args: [u64; 6]) -> (u64, u64) {
    let (error, value): (u64, u64);
    // SAFETY: an ecall traps to the hypervisor, which reads a0-a7 and writes a0, a1.
    unsafe {
        asm!(
            "ecall",
            inout("a0") args[0] => error, inout("a1") args[1] => value,
            in("a2") args[2], in("a3") args[3], in("a4") args[4], in("a5") args[5],
            in("a6") fid, in("a7") eid,
            options(nostack),
        );
    }
    (error, value)
}

/// Hypercall `nr` with six arguments; returns a0.
#[inline]
#[must_use]
pub fn hypercall(nr: u64, args: [u64; 6]) -> u64 {
    sbi(nr, 0, args).0
}

/// The time counter (`rdtime`): 10 MHz on QEMU virt.
#[inline]
#[must_use]
pub fn counter() -> u64 {
    let time: u64;
    // SAFETY: reading the time CSR has no side effect (hcounteren.TM lets VS-mode read it).
    unsafe { asm!("rdtime {}", out(reg) time, options(nomem, nostack)) };
    time
}

/// The frequency of [`counter`] in Hz.
#[inline]
#[must_use]
pub fn counter_hz() -> u64 {
    10_000_000
}

const HSM: u64 = 0x48_534d;
const SRST: u64 = 0x5352_5354;

/// Nothing to report: the DTB address is the Linux boot protocol's, and the
/// programs that need it check it themselves.
pub fn report_boot(_dtb: u64) {}

/// SBI HSM hart_start of hart `target` at `entry` with `context` in a1.
pub fn cpu_on(target: u64, entry: u64, context: u64) -> i64 {
    sbi(HSM, 0, [target, entry, context, 0, 0, 0]).0 as i64
}

/// SBI HSM hart_stop.
pub fn cpu_off() {
    sbi(HSM, 1, [0; 6]);
}

/// SBI SRST system_reset: shutdown, no reason.
pub fn system_off() {
    sbi(SRST, 0, [0; 6]);
}

/// The VM's emulated NS16550.
const UART_BASE: usize = 0x1000_0000;
const THR: usize = 0;
const RBR: usize = 0;
const IER: usize = 1;
const LSR: usize = 5;
const LSR_DR: u8 = 1 << 0;
const LSR_THRE: u8 = 1 << 5;
/// `IER` bits: the received-data-available and the transmitter-empty interrupts.
pub const UART_IER_ERBFI: u8 = 1 << 0;
/// See [`UART_IER_ERBFI`].
pub const UART_IER_ETBEI: u8 = 1 << 1;

/// Sets the UART's interrupt enable register: which of its interrupts raise its line.
pub fn uart_enable_interrupts(ier: u8) {
    // SAFETY: the VM maps its emulated NS16550 at UART_BASE; a register write.
    unsafe { core::ptr::write_volatile((UART_BASE + IER) as *mut u8, ier) };
}

/// The next byte the UART has received, if it holds one (`LSR.DR`).
pub fn getc() -> Option<u8> {
    // SAFETY: as in `uart_enable_interrupts`; reading RBR takes the byte, as meant.
    unsafe {
        if core::ptr::read_volatile((UART_BASE + LSR) as *const u8) & LSR_DR == 0 {
            return None;
        }
        Some(core::ptr::read_volatile((UART_BASE + RBR) as *const u8))
    }
}

/// Sends one byte, waiting until the transmitter holds no byte.
#[inline]
pub fn putc(byte: u8) {
    // SAFETY: the VM maps its emulated NS16550 at UART_BASE; these are register accesses.
    unsafe {
        while core::ptr::read_volatile((UART_BASE + LSR) as *const u8) & LSR_THRE == 0 {}
        core::ptr::write_volatile((UART_BASE + THR) as *mut u8, byte);
    }
}

const LEGACY_CONSOLE_PUTCHAR: u64 = 0x01;
const DBCN: u64 = 0x4442_434e;
const HART_STARTED: u64 = 0;

/// Exercises the platform firmware's services the hypervisor provides: the SBI debug
/// console, the legacy console and HSM hart_get_status. Prints what it found; whether
/// all worked.
pub fn firmware_services() -> bool {
    let line = b"firmware: hello through the SBI debug console\n";
    let (error, written) = sbi(
        DBCN,
        0,
        [line.len() as u64, line.as_ptr() as u64, 0, 0, 0, 0],
    );
    let dbcn = error == 0 && written == line.len() as u64;
    for byte in b"firmware: hello through the legacy SBI console\n" {
        sbi(LEGACY_CONSOLE_PUTCHAR, 0, [u64::from(*byte), 0, 0, 0, 0, 0]);
    }
    let (error, state) = sbi(HSM, 2, [cpu_id(), 0, 0, 0, 0, 0]);
    let started = error == 0 && state == HART_STARTED;
    let (error, _) = sbi(HSM, 2, [4096, 0, 0, 0, 0, 0]);
    let invalid = error == -3i64 as u64;
    crate::println!(
        "firmware: DBCN {dbcn}, hart_get_status self {started}, unknown hart refused {invalid}"
    );
    dbcn && started && invalid
}
