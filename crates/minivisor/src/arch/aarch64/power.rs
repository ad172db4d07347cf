//! Ending the emulator run: PSCI SYSTEM_OFF exits QEMU with status 0, semihosting
//! SYS_EXIT with a failure code exits it with status 1.

use core::arch::asm;

/// Powers the machine off (QEMU exits with status 0).
pub fn power_off() -> ! {
    // SAFETY: PSCI SYSTEM_OFF through the firmware (QEMU's built-in PSCI at EL3 with
    // virtualization=on) does not return.
    unsafe { asm!("smc #0", in("x0") 0x8400_0008u64, options(noreturn)) }
}

/// Ends the run with a failure (QEMU exits with status 1 under
/// `-semihosting-config enable=on`); without semihosting, powers off.
pub fn fail_exit() -> ! {
    /// ADP_Stopped_ApplicationExit, with the exit code that follows it.
    const APPLICATION_EXIT: u64 = 0x20026;
    let block = [APPLICATION_EXIT, 1];
    // SAFETY: the semihosting SYS_EXIT call (w0 = 0x18, x1 = parameter block) ends
    // the emulator; the block outlives the call.
    unsafe { asm!("hlt #0xf000", in("w0") 0x18u32, in("x1") block.as_ptr(), options(nostack)) };
    power_off()
}
