//! The host side of a UART: where transmitted bytes go and received bytes come from.

use alloc::{string::String, vec::Vec};

use spin::Mutex;

/// The host end of an emulated serial line.
///
/// A UART model calls [`transmit`](Self::transmit) for every byte the guest sends and
/// [`receive`](Self::receive) whenever its receive FIFO has room, so an implementation must
/// not block.
pub trait SerialBackend: Send + Sync {
    /// Takes a byte the guest transmitted.
    fn transmit(&self, byte: u8);

    /// Gives the next byte for the guest, or `None` if the host has none now.
    fn receive(&self) -> Option<u8>;
}

/// Longest line [`LogBackend`] holds before it logs anyway.
const LOG_LINE_MAX: usize = 256;

/// A console backend that logs each line the guest prints at info level and never has
/// input: the default for consoles when the host provides nothing else.
#[derive(Debug)]
pub struct LogBackend {
    name: String,
    line: Mutex<Vec<u8>>,
}

impl LogBackend {
    /// A backend whose log lines are prefixed with `name`.
    #[must_use]
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            line: Mutex::new(Vec::new()),
        }
    }
}

impl SerialBackend for LogBackend {
    fn transmit(&self, byte: u8) {
        let mut line = self.line.lock();
        match byte {
            b'\n' => {}
            b'\r' => return,
            _ => line.push(byte),
        }
        if byte == b'\n' || line.len() >= LOG_LINE_MAX {
            log::info!("{}: {}", self.name, String::from_utf8_lossy(&line));
            line.clear();
        }
    }

    fn receive(&self) -> Option<u8> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_backend_buffers_until_a_newline_or_the_limit() {
        let backend = LogBackend::new("com1");
        for &byte in b"hi\r" {
            backend.transmit(byte);
        }
        assert_eq!(*backend.line.lock(), b"hi");
        backend.transmit(b'\n');
        assert!(backend.line.lock().is_empty());
        for _ in 0..LOG_LINE_MAX {
            backend.transmit(b'x');
        }
        assert!(backend.line.lock().is_empty());
        assert_eq!(backend.receive(), None);
    }
}
