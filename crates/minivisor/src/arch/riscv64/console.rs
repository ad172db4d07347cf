//! The machine's NS16550 UART, as the host console.

/// QEMU virt's NS16550.
const UART_BASE: usize = 0x1000_0000;
/// Transmit holding register.
const THR: usize = 0;
/// Line status register.
const LSR: usize = 5;
/// LSR: the transmit holding register is empty.
const LSR_THRE: u8 = 1 << 5;

/// Sends one byte.
pub fn putc(byte: u8) {
    // SAFETY: the NS16550 is at UART_BASE on QEMU virt and only the hypervisor uses
    // it; these are byte register accesses.
    unsafe {
        while core::ptr::read_volatile((UART_BASE + LSR) as *const u8) & LSR_THRE == 0 {}
        core::ptr::write_volatile((UART_BASE + THR) as *mut u8, byte);
    }
}
