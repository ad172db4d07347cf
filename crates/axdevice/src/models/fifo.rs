//! The bounded receive FIFO both UART models use.

use alloc::collections::VecDeque;

use crate::backend::SerialBackend;

/// A receive FIFO whose depth the guest can change (FIFO mode on/off).
///
/// Entries are `u16` so a model can keep per-character error flags above the data byte.
#[derive(Debug)]
pub(crate) struct RxFifo {
    entries: VecDeque<u16>,
    depth: usize,
}

impl RxFifo {
    /// An empty FIFO holding at most `depth` entries; its storage is allocated once, here.
    pub(crate) fn new(capacity: usize, depth: usize) -> Self {
        Self {
            entries: VecDeque::with_capacity(capacity),
            depth: depth.min(capacity),
        }
    }

    /// Changes the depth; entries beyond it stay until read, but no new entry is accepted.
    pub(crate) fn set_depth(&mut self, depth: usize) {
        self.depth = depth.min(self.entries.capacity());
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.entries.len() >= self.depth
    }

    /// Appends `entry`; returns `false` (and drops it) if the FIFO is full.
    pub(crate) fn push(&mut self, entry: u16) -> bool {
        if self.is_full() {
            false
        } else {
            self.entries.push_back(entry);
            true
        }
    }

    pub(crate) fn pop(&mut self) -> Option<u16> {
        self.entries.pop_front()
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    /// Moves bytes from the host into the FIFO while it has room; returns how many came.
    pub(crate) fn fill_from(&mut self, backend: &dyn SerialBackend) -> usize {
        let mut received = 0usize;
        while !self.is_full() {
            let Some(byte) = backend.receive() else { break };
            self.entries.push_back(u16::from(byte));
            received = received.saturating_add(1);
        }
        received
    }
}

#[cfg(test)]
mod tests {
    use spin::Mutex;

    use super::*;

    struct Input(Mutex<alloc::vec::Vec<u8>>);

    impl SerialBackend for Input {
        fn transmit(&self, _byte: u8) {}
        fn receive(&self) -> Option<u8> {
            self.0.lock().pop()
        }
    }

    #[test]
    fn respects_its_depth() {
        let mut fifo = RxFifo::new(4, 1);
        assert!(fifo.push(1));
        assert!(!fifo.push(2));
        fifo.set_depth(16);
        assert!(fifo.push(2) && fifo.push(3) && fifo.push(4));
        assert!(fifo.is_full());
        assert_eq!(fifo.pop(), Some(1));
        fifo.set_depth(1);
        assert!(!fifo.push(5));
        assert_eq!(fifo.len(), 3);
        fifo.clear();
        assert!(fifo.is_empty());
    }

    #[test]
    fn fills_from_the_host_only_while_there_is_room() {
        let input = Input(Mutex::new(alloc::vec![5, 4, 3, 2, 1]));
        let mut fifo = RxFifo::new(3, 3);
        assert_eq!(fifo.fill_from(&input), 3);
        assert_eq!(fifo.pop(), Some(1));
        assert_eq!(fifo.fill_from(&input), 1);
        assert_eq!(fifo.fill_from(&input), 0);
        assert_eq!(input.0.lock().len(), 1);
    }
}
