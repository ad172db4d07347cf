//! Console input: what is typed on the machine's serial port goes to one VM's
//! console at a time, the first VM's to begin with. Ctrl-B starts a command to
//! minivisor: Ctrl-B then a digit n gives the input to VM n (counted from 0 in
//! the order the VMs were embedded), Ctrl-B n to the next VM, Ctrl-B Ctrl-B types
//! one Ctrl-B; Ctrl-B before any other byte is dropped, and so is that byte.

use spin::Mutex;

use crate::{arch, println, run::Guest};

/// Ctrl-B: the byte that starts a command to minivisor.
const COMMAND: u8 = 0x02;

/// The most bytes one poll takes from the serial port, so that a flood of input
/// cannot keep the polling CPU from its vCPUs.
const BYTES_PER_POLL: usize = 64;

/// What a typed byte means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    /// A byte for the VM that has the input.
    Byte(u8),
    /// Give the input to VM n.
    Select(usize),
    /// Give the input to the next VM.
    Next,
    /// Part of a command, or a dropped byte.
    Nothing,
}

/// Which VM has the input, and whether the byte before was Ctrl-B.
struct Input {
    focus: usize,
    command: bool,
}

impl Input {
    /// Reads one typed byte.
    fn key(&mut self, byte: u8) -> Key {
        if !self.command {
            self.command = byte == COMMAND;
            return if self.command {
                Key::Nothing
            } else {
                Key::Byte(byte)
            };
        }
        self.command = false;
        match byte {
            b'0'..=b'9' => Key::Select(usize::from(byte.wrapping_sub(b'0'))),
            b'n' => Key::Next,
            COMMAND => Key::Byte(COMMAND),
            _ => Key::Nothing,
        }
    }
}

static INPUT: Mutex<Input> = Mutex::new(Input {
    focus: 0,
    command: false,
});

/// Delivers what the serial port holds to the VM that has the input, and carries
/// out commands. The CPU that gets the lock does the work; a CPU that finds
/// another one at it returns at once.
pub fn poll(guests: &[Guest]) {
    let Some(mut input) = INPUT.try_lock() else {
        return;
    };
    let mut delivered = false;
    for _ in 0..BYTES_PER_POLL {
        let Some(byte) = arch::getc() else {
            break;
        };
        let target = match input.key(byte) {
            Key::Byte(byte) => {
                if let Some(console) = guests.get(input.focus).and_then(Guest::console) {
                    console.push_input(byte);
                    delivered = true;
                }
                continue;
            }
            Key::Nothing => continue,
            Key::Select(vm) => vm,
            Key::Next => input
                .focus
                .wrapping_add(1)
                .checked_rem(guests.len())
                .unwrap_or(0),
        };
        let Some(guest) = guests.get(target) else {
            println!(
                "minivisor: there is no VM {target} (0 to {})",
                guests.len().saturating_sub(1)
            );
            continue;
        };
        if let Some(console) = guests.get(input.focus).and_then(Guest::console) {
            console.leave_raw();
        }
        input.focus = target;
        println!(
            "minivisor: console input goes to VM {target} `{}`",
            guest.name
        );
    }
    // The UART takes the bytes now and raises its receive interrupt, rather than when
    // the guest next looks at it.
    if delivered {
        for vm in guests.iter().filter_map(|guest| guest.vm.as_ref()) {
            vm.devices().poll_input();
        }
    }
}
