//! A device's interrupt output: where it is wired and the level last driven onto it.

use alloc::sync::Arc;

use crate::irq::IrqSink;

/// The interrupt output of a device model, kept under the model's lock.
///
/// A model calls [`drive`](Self::drive) after everything that can change its output; the
/// sink hears only changes. Being called with the model's lock held, the levels two
/// vCPUs' accesses produce reach the sink in the order the accesses took effect (lock
/// order: the device, then the sink's).
pub(crate) struct IrqOutput {
    wire: Option<(Arc<dyn IrqSink>, u32)>,
    driven: bool,
}

impl core::fmt::Debug for IrqOutput {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IrqOutput")
            .field("line", &self.line())
            .field("driven", &self.driven)
            .finish()
    }
}

impl IrqOutput {
    /// An output wired to nothing.
    pub(crate) const fn unwired() -> Self {
        Self {
            wire: None,
            driven: false,
        }
    }

    /// Wires the output to `line` of `sink`; the line is taken to be low.
    pub(crate) fn wire(&mut self, sink: Arc<dyn IrqSink>, line: u32) {
        self.wire = Some((sink, line));
        self.driven = false;
    }

    /// The line the output is wired to, if any.
    pub(crate) fn line(&self) -> Option<u32> {
        self.wire.as_ref().map(|(_, line)| *line)
    }

    /// Drives the line to `level` if that changes it.
    pub(crate) fn drive(&mut self, level: bool) {
        if let Some((sink, line)) = &self.wire {
            if level != self.driven {
                sink.set_level(*line, level);
            }
            self.driven = level;
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use spin::Mutex;

    use super::*;

    #[derive(Default)]
    struct Levels(Mutex<Vec<(u32, bool)>>);

    impl IrqSink for Levels {
        fn set_level(&self, line: u32, asserted: bool) {
            self.0.lock().push((line, asserted));
        }
    }

    #[test]
    fn only_changes_reach_the_sink() {
        let mut output = IrqOutput::unwired();
        output.drive(true);
        assert_eq!(output.line(), None);
        let levels = Arc::new(Levels::default());
        output.wire(levels.clone(), 10);
        assert_eq!(output.line(), Some(10));
        for level in [false, true, true, false, false, true] {
            output.drive(level);
        }
        assert_eq!(*levels.0.lock(), [(10, true), (10, false), (10, true)]);
    }
}
