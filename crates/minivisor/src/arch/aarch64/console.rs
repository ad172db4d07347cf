//! The machine's PL011 UART, as the host console and the guests' input.

/// QEMU virt's PL011.
const UART_BASE: usize = 0x0900_0000;
const DR: usize = 0x00;
const FR: usize = 0x18;
const FR_TXFF: u32 = 1 << 5;
/// FR: the receive FIFO (or holding register) is empty.
const FR_RXFE: u32 = 1 << 4;

/// Sends one byte.
pub fn putc(byte: u8) {
    // SAFETY: the PL011 is at UART_BASE on QEMU virt and only the hypervisor uses it;
    // these are aligned 32-bit register accesses.
    unsafe {
        while core::ptr::read_volatile((UART_BASE + FR) as *const u32) & FR_TXFF != 0 {}
        core::ptr::write_volatile((UART_BASE + DR) as *mut u32, u32::from(byte));
    }
}

/// The next received byte, if one is there (never waits).
pub fn getc() -> Option<u8> {
    // SAFETY: as in `putc`; reading DR takes the byte from the receive FIFO.
    unsafe {
        if core::ptr::read_volatile((UART_BASE + FR) as *const u32) & FR_RXFE != 0 {
            return None;
        }
        Some(core::ptr::read_volatile((UART_BASE + DR) as *const u32) as u8)
    }
}
