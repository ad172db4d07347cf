//! Output through the VM's emulated PL011 at 0x0900_0000.

use core::fmt::{self, Write};

const UART_BASE: usize = 0x0900_0000;
const DR: usize = 0x00;
const FR: usize = 0x18;
const FR_TXFF: u32 = 1 << 5;

/// The console; every byte is an MMIO write the hypervisor emulates.
pub struct Console;

impl Console {
    /// Sends one byte, waiting while the transmit FIFO is full.
    pub fn putc(byte: u8) {
        // SAFETY: the VM maps its emulated PL011 at UART_BASE; these are register accesses.
        unsafe {
            while core::ptr::read_volatile((UART_BASE + FR) as *const u32) & FR_TXFF != 0 {}
            core::ptr::write_volatile((UART_BASE + DR) as *mut u32, u32::from(byte));
        }
    }
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            Self::putc(byte);
        }
        Ok(())
    }
}

/// Prints formatted text.
pub fn print(args: fmt::Arguments<'_>) {
    let _ = Console.write_fmt(args);
}

/// Prints a line.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {
        $crate::console::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}
