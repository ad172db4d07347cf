//! The host console: the hypervisor's log and the guests' emulated UARTs, both on
//! the machine's serial port.

use alloc::{string::String, vec::Vec};
use core::fmt::{self, Write};

use axdevice::SerialBackend;
use spin::Mutex;

use crate::arch;

/// Serialises whole lines on the physical port.
static PORT: Mutex<()> = Mutex::new(());

struct Port;

impl Write for Port {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            if byte == b'\n' {
                arch::putc(b'\r');
            }
            arch::putc(byte);
        }
        Ok(())
    }
}

/// Prints to the host console.
pub fn print(args: fmt::Arguments<'_>) {
    let _guard = PORT.lock();
    let _ = Port.write_fmt(args);
}

/// Prints a line to the host console.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {
        $crate::console::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

struct Logger;

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            println!(
                "[{:<5} {}] {}",
                record.level(),
                record.target(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

static LOGGER: Logger = Logger;

/// Routes the `log` crate to the console.
pub fn init_log() {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Warn);
}

/// The host end of a guest's emulated UART: each line the guest prints appears on
/// the console prefixed with the VM's name.
pub struct GuestConsole {
    name: String,
    line: Mutex<Vec<u8>>,
}

impl GuestConsole {
    /// The console of VM `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            line: Mutex::new(Vec::new()),
        }
    }
}

/// Longest guest line kept before it is printed anyway.
const LINE_MAX: usize = 200;

impl SerialBackend for GuestConsole {
    fn transmit(&self, byte: u8) {
        let mut line = self.line.lock();
        if byte != b'\n' && byte != b'\r' {
            line.push(byte);
        }
        if byte == b'\n' || line.len() >= LINE_MAX {
            println!("[{}] {}", self.name, String::from_utf8_lossy(&line));
            line.clear();
        }
    }

    fn receive(&self) -> Option<u8> {
        None
    }
}
