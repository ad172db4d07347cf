//! x86 I/O port accesses.

use core::arch::asm;

/// Writes `value` to I/O port `port`.
pub fn outb(port: u16, value: u8) {
    // SAFETY: minivisor only writes the ports it owns (the debug console, the PIC
    // masks, Bochs' shutdown port); a port write touches no memory.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    };
}
