//! The guests' runtime: entry, console, hypercalls and power, for programs that run
//! inside a minivisor VM (aarch64 at EL1 and riscv64 in VS-mode with their MMU off;
//! x86_64 in long mode over its own identity map).
//!
//! The entry code sets up a stack per vCPU (vCPU index from MPIDR_EL1.Aff0 on
//! aarch64, the hart id in a0 on riscv64; on x86_64 `cpu_on` hands the started
//! vCPU its stack through its real-mode trampoline), clears `.bss` on vCPU 0 and calls the program's `guest_main(boot_info)`: what the hypervisor
//! passed as the DTB address by the Linux boot protocol (x0 on aarch64, a1 on
//! riscv64), 0 without one; on x86_64 the Multiboot information's address (EBX)
//! when EAX held the Multiboot magic, else 0. [`report_boot`] prints what it says.

#![no_std]

#[cfg_attr(target_arch = "aarch64", path = "arch/aarch64.rs")]
#[cfg_attr(target_arch = "riscv64", path = "arch/riscv64.rs")]
#[cfg_attr(target_arch = "x86_64", path = "arch/x86_64.rs")]
mod arch;
pub mod console;
pub mod fp;
pub mod hostile;
pub mod latency;
pub mod plic;
pub mod power;
pub mod sink;
pub mod timing;

pub use arch::{
    GUEST, LAZY_REGION, counter, counter_hz, cpu_id, firmware_services, let_host_interrupts_in,
    report_boot, wfi,
};
#[cfg(target_arch = "riscv64")]
pub use arch::{UART_IER_ERBFI, UART_IER_ETBEI, fp_check, fp_fill, getc, uart_enable_interrupts};

/// The bytes of stack each vCPU gets.
pub const STACK_SIZE: u64 = 0x4000;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    println!("guest panic: {info}");
    power::system_off()
}

/// The hypercalls minivisor answers (aarch64: HVC with x0 = number, x1-x6 =
/// arguments; riscv64: an SBI call with a7 = number, a0-a5 = arguments; x86_64:
/// VMCALL with RAX = number, RDI, RSI, RDX, RCX, R8, R9 = arguments; the result in
/// x0 / a0 / RAX).
pub mod hypercall {
    /// Returns the wrapping sum of the six arguments.
    pub const SUM: u64 = 0x4d56_0001;
    /// Returns the exclusive or of the six arguments.
    pub const XOR: u64 = 0x4d56_0002;
    /// What an unknown hypercall returns: NOT_SUPPORTED (-1 on aarch64 and x86_64,
    /// SBI_ERR_NOT_SUPPORTED = -2 on riscv64).
    pub const NOT_SUPPORTED: u64 = crate::arch::NOT_SUPPORTED;

    /// Hypercall `nr` with six arguments; returns its result.
    #[inline]
    #[must_use]
    pub fn call(nr: u64, args: [u64; 6]) -> u64 {
        crate::arch::hypercall(nr, args)
    }
}
