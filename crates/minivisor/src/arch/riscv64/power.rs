//! Ending the emulator run: SBI SRST shutdown exits QEMU with status 0; the QEMU
//! virt test device (`sifive,test` at 0x10_0000) with a failure code exits it with
//! that code.

use core::arch::asm;

/// The SBI System Reset extension.
const SRST: u64 = 0x5352_5354;
/// QEMU virt's test device; S-mode may write it under OpenSBI.
const TEST_DEVICE: usize = 0x10_0000;
/// The test device's "fail" command, with the exit code in bits 31:16.
const TEST_FAIL: u32 = 0x3333;

fn system_reset(reason: u64) -> ! {
    // SAFETY: SBI SRST system_reset(type 0 = shutdown, reason) through OpenSBI does
    // not return when it succeeds.
    unsafe {
        asm!("ecall", in("a7") SRST, in("a6") 0u64, inout("a0") 0u64 => _, inout("a1") reason => _, options(nostack));
    }
    loop {
        // SAFETY: waiting has no effect on memory; the shutdown failed, so park.
        unsafe { asm!("wfi", options(nomem, nostack)) };
    }
}

/// Powers the machine off (QEMU exits with status 0).
pub fn power_off() -> ! {
    system_reset(0)
}

/// Ends the run with a failure (QEMU exits with status 1); if the test device is
/// missing, shuts down with SRST reason "system failure".
pub fn fail_exit() -> ! {
    // SAFETY: the test device is at TEST_DEVICE on QEMU virt; this aligned 32-bit
    // write ends the emulator.
    unsafe { core::ptr::write_volatile(TEST_DEVICE as *mut u32, (1 << 16) | TEST_FAIL) };
    system_reset(1)
}
