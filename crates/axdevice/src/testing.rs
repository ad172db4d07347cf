//! Test helpers shared by the unit tests.

use alloc::{collections::VecDeque, string::String, sync::Arc, vec::Vec};

use axvm_types::{EmulatedDeviceConfig, EmulatedDeviceType};
use spin::Mutex;

use crate::{backend::SerialBackend, irq::VcpuNotifier};

/// A serial line whose output is recorded and whose input is scripted.
#[derive(Default)]
pub(crate) struct Line {
    pub(crate) sent: Mutex<Vec<u8>>,
    pub(crate) input: Mutex<VecDeque<u8>>,
}

impl Line {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub(crate) fn type_in(&self, bytes: &[u8]) {
        self.input.lock().extend(bytes.iter().copied());
    }

    pub(crate) fn sent(&self) -> Vec<u8> {
        self.sent.lock().clone()
    }
}

impl SerialBackend for Line {
    fn transmit(&self, byte: u8) {
        self.sent.lock().push(byte);
    }

    fn receive(&self) -> Option<u8> {
        self.input.lock().pop_front()
    }
}

/// Records the vCPUs notified, in order.
#[derive(Default)]
pub(crate) struct Kicks(pub(crate) Mutex<Vec<usize>>);

impl Kicks {
    /// The vCPUs notified since the last call.
    pub(crate) fn take(&self) -> Vec<usize> {
        core::mem::take(&mut *self.0.lock())
    }
}

impl VcpuNotifier for Kicks {
    fn notify(&self, vcpu: usize) {
        self.0.lock().push(vcpu);
    }
}

/// An `emu_devices` line: `name` at `base` of `length` bytes on `irq`, with `cfg`.
pub(crate) fn device_line(
    name: &str,
    base: usize,
    length: usize,
    irq: usize,
    emu_type: EmulatedDeviceType,
    cfg: Vec<usize>,
) -> EmulatedDeviceConfig {
    EmulatedDeviceConfig {
        name: String::from(name),
        base_gpa: base,
        length,
        irq_id: irq,
        emu_type,
        cfg_list: cfg,
    }
}
