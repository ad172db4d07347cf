//! Ending the emulator run under Bochs: success is the magic breakpoint
//! (`xchg bx, bx` with `magic_break: enabled=1`), where Bochs' debugger reads the next
//! command of its `-rc` file, `quit`, and exits with status 0; failure writes
//! "Shutdown" to Bochs' shutdown port 0x8900, a panic that `panic: action=fatal`
//! turns into exit status 1.

use core::arch::asm;

use super::port::outb;

/// Bochs' APM shutdown port.
const SHUTDOWN_PORT: u16 = 0x8900;

/// Stops the CPU for good.
fn halt() -> ! {
    loop {
        // SAFETY: with interrupts disabled, HLT only stops the CPU.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

/// Ends the run with success (Bochs exits with status 0).
pub fn power_off() -> ! {
    // SAFETY: `xchg bx, bx` exchanges a register with itself: no effect outside Bochs,
    // where it is the magic breakpoint.
    unsafe { asm!("xchg bx, bx", options(nomem, nostack, preserves_flags)) };
    halt()
}

/// Ends the run with a failure (Bochs exits with status 1); elsewhere, halts.
pub fn fail_exit() -> ! {
    for byte in b"Shutdown" {
        outb(SHUTDOWN_PORT, *byte);
    }
    halt()
}
