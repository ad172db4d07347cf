//! The aarch64 runtime: entry at EL1 (MMU off), PL011 console, HVC hypercalls,
//! PSCI over HVC.

use core::arch::{asm, global_asm};

#[path = "aarch64/el1.rs"]
mod el1;

/// How the hello program names this guest.
pub const GUEST: &str = "an aarch64 guest at EL1";
/// RAM the hostile configs map read-only.
pub const READ_ONLY: u64 = 0x4800_0000;
/// The lazily mapped 8 MiB of the memory config, around the 1 GiB boundary at
/// 0x8000_0000.
pub const LAZY_REGION: u64 = 0x7fc0_0000;
/// What an unknown hypercall returns: SMCCC NOT_SUPPORTED (-1).
pub const NOT_SUPPORTED: u64 = u64::MAX;

global_asm!(
    r#"
.section .text.entry, "ax"
.global _start
_start:
    mov x19, x0
    mrs x1, mpidr_el1
    and x1, x1, #0xff
    bl guest_set_stack
    cbnz x1, 2f
    ldr x2, =__bss_start
    ldr x3, =__bss_end
1:  cmp x2, x3
    b.hs 2f
    str xzr, [x2], #8
    b 1b
2:  mov x0, x19
    bl guest_main
3:  b 3b

// x1 = vCPU index; sets sp to its stack top. Clobbers x2, x3.
guest_set_stack:
    ldr x2, =__stacks_top
    mov x3, #{stack}
    msub x2, x1, x3, x2
    mov sp, x2
    ret

// A secondary vCPU (PSCI CPU_ON): x0 = context.
.global guest_secondary_entry
guest_secondary_entry:
    mov x19, x0
    mrs x1, mpidr_el1
    and x1, x1, #0xff
    bl guest_set_stack
    mov x0, x19
    ldr x2, ={secondary}
    ldr x2, [x2]
    blr x2
4:  b 4b
"#,
    stack = const crate::STACK_SIZE,
    secondary = sym crate::power::SECONDARY_MAIN,
);

unsafe extern "C" {
    /// Where a vCPU started with [`cpu_on`] begins.
    pub fn guest_secondary_entry();
}

/// This vCPU's index (MPIDR_EL1.Aff0, which the hypervisor sets to the vCPU id).
#[must_use]
pub fn cpu_id() -> u64 {
    let mpidr: u64;
    // SAFETY: reading MPIDR_EL1 has no side effect.
    unsafe { asm!("mrs {}, mpidr_el1", out(reg) mpidr, options(nomem, nostack)) };
    mpidr & 0xff
}

/// Nothing to do: with HCR_EL2.IMO set, the host's interrupts reach EL2 whatever
/// the guest's PSTATE.I is.
pub fn let_host_interrupts_in() {}

/// Waits for an interrupt; under minivisor this yields the physical CPU.
pub fn wfi() {
    // SAFETY: WFI only pauses the vCPU.
    unsafe { asm!("wfi", options(nomem, nostack)) };
}

/// Hypercall `nr` with six arguments; returns x0.
#[inline]
#[must_use]
pub fn hypercall(nr: u64, args: [u64; 6]) -> u64 {
    let ret: u64;
    // SAFETY: HVC traps to the hypervisor, which reads x0-x6 and writes x0 only.
    unsafe {
        asm!(
            "hvc #0",
            inout("x0") nr => ret,
            in("x1") args[0], in("x2") args[1], in("x3") args[2],
            in("x4") args[3], in("x5") args[4], in("x6") args[5],
            options(nostack),
        );
    }
    ret
}

/// The virtual counter (`CNTVCT_EL0`).
#[inline]
#[must_use]
pub fn counter() -> u64 {
    let count: u64;
    // SAFETY: reading the virtual counter has no side effect.
    unsafe { asm!("isb", "mrs {}, cntvct_el0", out(reg) count, options(nomem, nostack)) };
    count
}

/// The frequency of [`counter`] in Hz (`CNTFRQ_EL0`).
#[inline]
#[must_use]
pub fn counter_hz() -> u64 {
    let hz: u64;
    // SAFETY: reading CNTFRQ_EL0 has no side effect.
    unsafe { asm!("mrs {}, cntfrq_el0", out(reg) hz, options(nomem, nostack)) };
    hz
}

const CPU_OFF: u64 = 0x8400_0002;
const CPU_ON_64: u64 = 0xC400_0003;
const SYSTEM_OFF: u64 = 0x8400_0008;

fn psci(function: u64, a1: u64, a2: u64, a3: u64) -> i64 {
    let ret: u64;
    // SAFETY: a PSCI call through HVC; the hypervisor writes x0 only.
    unsafe {
        asm!("hvc #0", inout("x0") function => ret, in("x1") a1, in("x2") a2, in("x3") a3, options(nostack));
    }
    ret as i64
}

/// Nothing to report: the DTB address is the Linux boot protocol's, and the
/// programs that need it check it themselves.
pub fn report_boot(_dtb: u64) {}

/// PSCI CPU_ON of vCPU `target` (MPIDR) at `entry` with `context` in x0.
pub fn cpu_on(target: u64, entry: u64, context: u64) -> i64 {
    psci(CPU_ON_64, target, entry, context)
}

/// PSCI CPU_OFF.
pub fn cpu_off() {
    psci(CPU_OFF, 0, 0, 0);
}

/// PSCI SYSTEM_OFF.
pub fn system_off() {
    psci(SYSTEM_OFF, 0, 0, 0);
}

/// The VM's emulated PL011.
const UART_BASE: usize = 0x0900_0000;
const DR: usize = 0x00;
const FR: usize = 0x18;
const FR_TXFF: u32 = 1 << 5;

/// Sends one byte, waiting while the transmit FIFO is full.
#[inline]
pub fn putc(byte: u8) {
    // SAFETY: the VM maps its emulated PL011 at UART_BASE; these are register accesses.
    unsafe {
        while core::ptr::read_volatile((UART_BASE + FR) as *const u32) & FR_TXFF != 0 {}
        core::ptr::write_volatile((UART_BASE + DR) as *mut u32, u32::from(byte));
    }
}

/// Exercises the platform firmware's services the hypervisor provides: PSCI_VERSION
/// and PSCI_FEATURES, answered by the vCPU backend. Prints what it found; whether all
/// worked.
pub fn firmware_services() -> bool {
    const PSCI_VERSION: u64 = 0x8400_0000;
    const PSCI_FEATURES: u64 = 0x8400_000a;
    const CPU_ON_64: u64 = 0xc400_0003;
    let version = hypercall(PSCI_VERSION, [0; 6]);
    let cpu_on = hypercall(PSCI_FEATURES, [CPU_ON_64, 0, 0, 0, 0, 0]);
    let ok = version >> 16 >= 1 && cpu_on == 0;
    crate::println!(
        "firmware: PSCI version {}.{}, CPU_ON feature {cpu_on:#x}",
        version >> 16,
        version & 0xffff
    );
    ok && isolation()
}

/// Reads a system register by its generic name.
macro_rules! mrs {
    ($reg:literal) => {{
        let value: u64;
        // SAFETY: an MRS at EL1 changes nothing; the hypervisor traps and answers
        // the registers read here.
        unsafe { asm!(concat!("mrs {}, ", $reg), out(reg) value, options(nomem, nostack)) };
        value
    }};
}

/// Whether the CPU features the hypervisor does not switch are hidden (ID
/// registers: SVE, SME, MTE, pointer authentication, the PMU) and the PMU and
/// debug registers read as zero and ignore writes.
fn isolation() -> bool {
    let pfr0 = mrs!("s3_0_c0_c4_0"); // ID_AA64PFR0_EL1
    let pfr1 = mrs!("s3_0_c0_c4_1"); // ID_AA64PFR1_EL1
    let isar1 = mrs!("s3_0_c0_c6_1"); // ID_AA64ISAR1_EL1
    let dfr0 = mrs!("s3_0_c0_c5_0"); // ID_AA64DFR0_EL1
    let field = |value: u64, n: u32| (value >> (4 * n)) & 0xf;
    let hidden = field(pfr0, 8) == 0 // SVE
        && field(pfr1, 2) == 0 // MTE
        && field(pfr1, 6) == 0 // SME
        && [1, 2, 6, 7].iter().all(|&n| field(isar1, n) == 0) // APA, API, GPA, GPI
        && field(dfr0, 2) == 0; // PMUVer
    // SAFETY: writes to PMCR_EL0 (E: enable counters) and MDSCR_EL1 (MDE) trap to
    // the hypervisor, which ignores them.
    unsafe {
        asm!("msr s3_3_c9_c12_0, {}", in(reg) 1u64, options(nomem, nostack));
        asm!("msr s2_0_c0_c2_2, {}", in(reg) 1u64 << 15, options(nomem, nostack));
    }
    let pmcr = mrs!("s3_3_c9_c12_0"); // PMCR_EL0
    let mdscr = mrs!("s2_0_c0_c2_2"); // MDSCR_EL1
    crate::println!(
        "firmware: ID registers hide SVE/SME/MTE/PAuth/PMU {hidden}, PMCR_EL0 {pmcr:#x}, MDSCR_EL1 {mdscr:#x}"
    );
    hidden && pmcr == 0 && mdscr == 0
}
