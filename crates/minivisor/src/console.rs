//! The host console: the hypervisor's log and the guests' emulated UARTs, both on
//! the machine's serial port, and the guests' input from it (see [`crate::input`]).

use alloc::{collections::VecDeque, string::String, vec::Vec};
use core::fmt::{self, Write};

use axdevice::SerialBackend;
use spin::Mutex;

use crate::arch;

/// Serialises output on the physical port; whether its cursor is at the start of a
/// line (a guest console in raw mode may leave it in the middle of one).
static PORT: Mutex<bool> = Mutex::new(true);

/// The physical port, with `\n` sent as `\r\n`.
struct Port<'a> {
    at_line_start: &'a mut bool,
}

impl Port<'_> {
    fn put(&mut self, byte: u8) {
        arch::putc(byte);
        *self.at_line_start = byte == b'\n';
    }
}

impl Write for Port<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            if byte == b'\n' {
                self.put(b'\r');
            }
            self.put(byte);
        }
        Ok(())
    }
}

/// Prints to the host console, on a line of its own.
pub fn print(args: fmt::Arguments<'_>) {
    let mut at_line_start = PORT.lock();
    let mut port = Port {
        at_line_start: &mut at_line_start,
    };
    if !*port.at_line_start {
        let _ = port.write_str("\n");
    }
    let _ = port.write_fmt(args);
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

/// The host end of a guest's emulated UART. Its output is printed line by line,
/// each line prefixed with the VM's name, until the console gets input: from then
/// on until the input goes to another VM it is raw, each byte printed as it comes
/// (an interactive program's prompt and echo are lines without an end). Input waits
/// in a queue until the UART model takes it.
pub struct GuestConsole {
    name: String,
    output: Mutex<Output>,
    input: Mutex<VecDeque<u8>>,
}

/// A console's output state.
struct Output {
    /// The line so far (line mode).
    line: Vec<u8>,
    /// Whether bytes go out as they come.
    raw: bool,
    /// The last byte sent in raw mode.
    last: u8,
}

impl GuestConsole {
    /// The console of VM `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            output: Mutex::new(Output {
                line: Vec::new(),
                raw: false,
                last: 0,
            }),
            input: Mutex::new(VecDeque::new()),
        }
    }

    /// Queues a typed byte for the guest (dropped when [`INPUT_MAX`] bytes wait
    /// already, as a UART drops what overruns it) and turns the output raw, first
    /// printing the line so far.
    pub fn push_input(&self, byte: u8) {
        {
            let mut input = self.input.lock();
            if input.len() < INPUT_MAX {
                input.push_back(byte);
            }
        }
        let mut output = self.output.lock();
        if !output.raw {
            output.raw = true;
            let mut at_line_start = PORT.lock();
            let mut port = Port {
                at_line_start: &mut at_line_start,
            };
            if !*port.at_line_start {
                let _ = port.write_str("\n");
            }
            let _ = write!(
                port,
                "[{}] {}",
                self.name,
                String::from_utf8_lossy(&output.line)
            );
            output.line.clear();
        }
    }

    /// Back to line mode: the input went to another VM.
    pub fn leave_raw(&self) {
        self.output.lock().raw = false;
    }
}

/// Longest guest line kept before it is printed anyway.
const LINE_MAX: usize = 200;
/// The most typed bytes that wait for a guest.
const INPUT_MAX: usize = 4096;

impl SerialBackend for GuestConsole {
    fn transmit(&self, byte: u8) {
        let mut output = self.output.lock();
        if output.raw {
            let mut at_line_start = PORT.lock();
            let mut port = Port {
                at_line_start: &mut at_line_start,
            };
            // A terminal needs both; Linux's tty sends both, a bare guest only `\n`.
            if byte == b'\n' && output.last != b'\r' {
                port.put(b'\r');
            }
            port.put(byte);
            output.last = byte;
            return;
        }
        if byte != b'\n' && byte != b'\r' {
            output.line.push(byte);
        }
        if byte == b'\n' || output.line.len() >= LINE_MAX {
            println!("[{}] {}", self.name, String::from_utf8_lossy(&output.line));
            output.line.clear();
        }
    }

    fn receive(&self) -> Option<u8> {
        self.input.lock().pop_front()
    }
}
