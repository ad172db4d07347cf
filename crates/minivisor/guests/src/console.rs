//! Output through the VM's emulated UART (PL011 on aarch64, NS16550 on riscv64);
//! every byte is an MMIO exit the hypervisor emulates. A spin lock keeps the
//! lines of several vCPUs whole: the hypervisor prints a VM's console line by
//! line, so bytes of two vCPUs would otherwise mix within one line.

use core::{
    fmt::{self, Write},
    hint,
    sync::atomic::{AtomicBool, Ordering},
};

/// Held while a vCPU prints.
static PRINTING: AtomicBool = AtomicBool::new(false);

/// The console.
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            crate::arch::putc(byte);
        }
        Ok(())
    }
}

/// Prints formatted text, all of it before another vCPU prints.
pub fn print(args: fmt::Arguments<'_>) {
    while PRINTING
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        hint::spin_loop();
    }
    let _ = Console.write_fmt(args);
    PRINTING.store(false, Ordering::Release);
}

/// Prints a line.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {
        $crate::console::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}
