//! The host console: the emulator's debug port 0xE9 (Bochs `port_e9_hack`, QEMU
//! `-debugcon`), which needs no set-up and never waits.

use super::port::outb;

/// The debug console port.
const DEBUG_PORT: u16 = 0xe9;

/// Sends one byte.
pub fn putc(byte: u8) {
    outb(DEBUG_PORT, byte);
}

/// Nothing is ever received: the debug port is output only, and Bochs runs with
/// its terminal display, which takes no keyboard input for the guest's serial port.
pub fn getc() -> Option<u8> {
    None
}
