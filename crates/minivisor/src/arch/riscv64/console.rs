//! The machine's NS16550 UART, as the host console and the guests' input.

/// QEMU virt's NS16550.
const UART_BASE: usize = 0x1000_0000;
/// Transmit holding register.
const THR: usize = 0;
/// Line status register.
const LSR: usize = 5;
/// LSR: the transmit holding register is empty.
const LSR_THRE: u8 = 1 << 5;
/// Receive buffer register (the same offset as THR, read).
const RBR: usize = 0;
/// LSR: a received byte is ready.
const LSR_DR: u8 = 1 << 0;

/// Sends one byte.
pub fn putc(byte: u8) {
    // SAFETY: the NS16550 is at UART_BASE on QEMU virt and only the hypervisor uses
    // it; these are byte register accesses.
    unsafe {
        while core::ptr::read_volatile((UART_BASE + LSR) as *const u8) & LSR_THRE == 0 {}
        core::ptr::write_volatile((UART_BASE + THR) as *mut u8, byte);
    }
}

/// The next received byte, if one is there (never waits).
pub fn getc() -> Option<u8> {
    // SAFETY: as in `putc`; reading RBR takes the byte from the receive FIFO.
    unsafe {
        if core::ptr::read_volatile((UART_BASE + LSR) as *const u8) & LSR_DR == 0 {
            return None;
        }
        Some(core::ptr::read_volatile((UART_BASE + RBR) as *const u8))
    }
}
