//! Feeds random sequences of registrations, removals, guest accesses, host input and IVC
//! requests to a VM's device buses holding both UART models. A panic anywhere is a bug;
//! the target also checks the bus's answers against the windows it reports.

#![no_main]

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use axdevice::{
    AxVmDeviceConfig, AxVmDevices, DeviceError, DeviceRegistry, DummyDevice, MmioRange, Platform,
    PortRange, SerialBackend,
};
use axvm_types::{AccessWidth, EmulatedDeviceConfig, EmulatedDeviceType, GuestPhysAddr, Port};
use libfuzzer_sys::fuzz_target;

/// Host input scripted by the fuzzer; output counted, not kept.
#[derive(Default)]
struct Line {
    input: Mutex<VecDeque<u8>>,
    sent: Mutex<usize>,
}

impl SerialBackend for Line {
    fn transmit(&self, _byte: u8) {
        if let Ok(mut sent) = self.sent.lock() {
            *sent += 1;
        }
    }

    fn receive(&self) -> Option<u8> {
        self.input.lock().ok()?.pop_front()
    }
}

/// Reads the fuzz input as a stream of small integers; zeros once exhausted.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let (&first, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        first
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn usize(&mut self) -> usize {
        let mut bytes = [0; 8];
        bytes.iter_mut().for_each(|b| *b = self.byte());
        usize::from_le_bytes(bytes)
    }

    fn width(&mut self) -> AccessWidth {
        match self.byte() % 4 {
            0 => AccessWidth::Byte,
            1 => AccessWidth::Word,
            2 => AccessWidth::Dword,
            _ => AccessWidth::Qword,
        }
    }

    /// An MMIO address, mostly near the devices, sometimes anywhere.
    fn mmio(&mut self) -> GuestPhysAddr {
        const BASES: [usize; 4] = [0x900_0000, 0x1000_0000, 0x2000_0000, usize::MAX - 0x800];
        let base = BASES[usize::from(self.byte() % 4)];
        let addr = match self.byte() % 8 {
            0 => self.usize(),
            _ => base.wrapping_add(usize::from(self.u16() % 0x1100)),
        };
        GuestPhysAddr::from(addr)
    }

    fn port(&mut self) -> Port {
        match self.byte() % 4 {
            0 => Port(self.u16()),
            _ => Port(0x3f0 + u16::from(self.byte() % 0x18)),
        }
    }
}

fn build(platform: Platform, line: &Arc<Line>) -> AxVmDevices {
    let console = line.clone();
    let registry = DeviceRegistry::with_builtin_models(platform, move |_| {
        console.clone() as Arc<dyn SerialBackend>
    });
    let device = |name: &str, base_gpa, length, emu_type| EmulatedDeviceConfig {
        name: name.into(),
        base_gpa,
        length,
        emu_type,
        ..Default::default()
    };
    let config = AxVmDeviceConfig::new(vec![
        device(
            "pl011-or-16550",
            0x900_0000,
            0x1000,
            EmulatedDeviceType::Console,
        ),
        device("uart-mmio", 0x1000_0000, 0x100, EmulatedDeviceType::Console),
        device("com1", 0x3f8, 8, EmulatedDeviceType::Console),
        device(
            "ivc",
            0x8000_0000,
            0x10_0000,
            EmulatedDeviceType::IVCChannel,
        ),
    ]);
    match registry.build(&config) {
        Ok(devices) => devices,
        Err(error) => panic!("the fixed config must build: {error}"),
    }
}

fn check_read(result: Result<usize, DeviceError>, width: AccessWidth) {
    if let Ok(value) = result {
        assert!(
            value as u64 <= width.mask(),
            "{value:#x} wider than {width:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let platform =
        [Platform::Aarch64, Platform::X86_64, Platform::Riscv64][usize::from(input.byte() % 3)];
    let line = Arc::new(Line::default());
    let mut devices = build(platform, &line);
    let mut live_ivc = Vec::new();
    for _ in 0..512 {
        if input.0.is_empty() {
            break;
        }
        match input.byte() % 10 {
            0 => {
                let (addr, width) = (input.mmio(), input.width());
                check_read(devices.handle_mmio_read(addr, width), width);
            }
            1 => {
                let (addr, width, val) = (input.mmio(), input.width(), input.usize());
                let _ = devices.handle_mmio_write(addr, width, val);
            }
            2 => {
                let (port, width) = (input.port(), input.width());
                check_read(devices.handle_port_read(port, width), width);
            }
            3 => {
                let (port, width, val) = (input.port(), input.width(), input.usize());
                let _ = devices.handle_port_write(port, width, val);
            }
            4 => {
                let (start, size) = (input.mmio().as_usize(), usize::from(input.u16()));
                if let Ok(range) = MmioRange::from_raw(start, size) {
                    let _ = devices.add_mmio_dev(Arc::new(DummyDevice::new("fuzz", range)));
                }
            }
            5 => {
                let (start, size) = (usize::from(input.u16()), usize::from(input.byte()));
                if let Ok(range) = PortRange::from_raw(start, size) {
                    let _ = devices.add_port_dev(Arc::new(DummyDevice::new("fuzz", range)));
                }
            }
            6 => {
                let addr = input.mmio();
                if let Some((range, _)) = devices.find_mmio_dev(addr) {
                    assert!(range.contains(addr));
                }
                let port = input.port();
                if let Some((range, _)) = devices.find_port_dev(port) {
                    assert!(range.contains(port));
                }
            }
            7 => {
                let count = usize::from(input.byte() % 40);
                let bytes: Vec<u8> = (0..count).map(|_| input.byte()).collect();
                if let Ok(mut queue) = line.input.lock() {
                    queue.extend(bytes);
                }
            }
            8 => {
                let size = match input.byte() % 3 {
                    0 => input.usize(),
                    _ => usize::from(input.byte()) << 12,
                };
                if let Ok(addr) = devices.alloc_ivc_channel(size) {
                    live_ivc.push((addr, size));
                }
            }
            _ => {
                let pick = usize::from(input.byte());
                let (addr, size, live) = match live_ivc.len() {
                    0 => (GuestPhysAddr::from(input.usize()), input.usize(), false),
                    n => {
                        let (addr, size) = live_ivc.swap_remove(pick % n);
                        (addr, size, true)
                    }
                };
                // A live allocation releases exactly once; anything else is refused.
                let first = devices.release_ivc_channel(addr, size);
                assert_eq!(first.is_ok(), live, "{first:?}");
                assert!(devices.release_ivc_channel(addr, size).is_err());
            }
        }
    }
});
