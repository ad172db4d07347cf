//! Test helpers shared by the unit tests.

use alloc::{collections::VecDeque, sync::Arc, vec::Vec};

use spin::Mutex;

use crate::backend::SerialBackend;

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
