//! The guests' runtime: entry, console, hypercalls and PSCI, for programs that run
//! at EL1 with their MMU off inside a minivisor VM.
//!
//! The entry code sets up a stack per vCPU (vCPU index from MPIDR_EL1.Aff0), clears
//! `.bss` on vCPU 0 and calls the program's `guest_main(x0)`; x0 is what the
//! hypervisor passed (the DTB address by the Linux boot protocol, 0 without one).

#![no_std]

pub mod console;
pub mod hostile;
pub mod psci;

use core::arch::{asm, global_asm};

/// The bytes of stack each vCPU gets.
pub const STACK_SIZE: u64 = 0x4000;

global_asm!(
    r#"
.section .text.entry, "ax"
.global _start
_start:
    mov x19, x0
    mrs x1, mpidr_el1
    and x1, x1, #0xff
    bl {set_stack}
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
.global guest_set_stack
guest_set_stack:
    ldr x2, =__stacks_top
    mov x3, #{stack}
    msub x2, x1, x3, x2
    mov sp, x2
    ret
"#,
    set_stack = sym guest_set_stack_ref,
    stack = const STACK_SIZE,
);

unsafe extern "C" {
    #[link_name = "guest_set_stack"]
    fn guest_set_stack_ref();
}

/// This vCPU's index (MPIDR_EL1.Aff0, which the hypervisor sets to the vCPU id).
#[must_use]
pub fn cpu_id() -> u64 {
    let mpidr: u64;
    // SAFETY: reading MPIDR_EL1 has no side effect.
    unsafe { asm!("mrs {}, mpidr_el1", out(reg) mpidr, options(nomem, nostack)) };
    mpidr & 0xff
}

/// Waits for an interrupt; under minivisor this yields the physical CPU.
pub fn wfi() {
    // SAFETY: WFI only pauses the vCPU.
    unsafe { asm!("wfi", options(nomem, nostack)) };
}

/// Hypercall `nr` with six arguments; returns x0.
#[must_use]
pub fn hvc(nr: u64, args: [u64; 6]) -> u64 {
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

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    println!("guest panic: {info}");
    psci::system_off()
}

/// The hypercalls minivisor answers (x0 = number, x1-x6 = arguments, result in x0).
pub mod hypercall {
    /// Returns the wrapping sum of the six arguments.
    pub const SUM: u64 = 0x4d56_0001;
    /// Returns the exclusive or of the six arguments.
    pub const XOR: u64 = 0x4d56_0002;
    /// What an unknown hypercall returns: -1, NOT_SUPPORTED.
    pub const NOT_SUPPORTED: u64 = u64::MAX;
}
