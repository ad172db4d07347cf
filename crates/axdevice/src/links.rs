//! Late-bound links from device models to the host.
//!
//! Device models are built before the VM that runs them exists, yet some need the host:
//! an interrupt controller kicks vCPUs through a [`VcpuNotifier`], a register that sends
//! inter-processor interrupts must know which vCPU wrote it ([`CurrentVcpu`]). A VM's
//! [`AxVmDevices`](crate::AxVmDevices) holds one [`HostLinks`]; models get forwarding
//! handles to it when they are built, and the host fills it in once it can.

use alloc::sync::Arc;

use spin::Mutex;

use crate::irq::VcpuNotifier;

/// Tells device models which vCPU made the access being emulated.
///
/// Device handlers take no vCPU argument, so a model that needs the accessing vCPU (a
/// system register that sends SGIs "to all but self") asks the host.
pub trait CurrentVcpu: Send + Sync {
    /// The id of the vCPU whose exit the calling physical CPU is handling, if any.
    fn current_vcpu(&self) -> Option<usize>;
}

/// The host callbacks of one VM, set after its devices are built.
#[derive(Default)]
pub(crate) struct HostLinks {
    notifier: Mutex<Option<Arc<dyn VcpuNotifier>>>,
    current: Mutex<Option<Arc<dyn CurrentVcpu>>>,
}

impl core::fmt::Debug for HostLinks {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HostLinks")
            .field("notifier", &self.notifier.lock().is_some())
            .field("current_vcpu", &self.current.lock().is_some())
            .finish()
    }
}

impl HostLinks {
    pub(crate) fn set_notifier(&self, notifier: Arc<dyn VcpuNotifier>) {
        *self.notifier.lock() = Some(notifier);
    }

    pub(crate) fn set_current_vcpu(&self, current: Arc<dyn CurrentVcpu>) {
        *self.current.lock() = Some(current);
    }
}

impl VcpuNotifier for HostLinks {
    /// Forwards to the host's notifier; does nothing before one is set.
    fn notify(&self, vcpu: usize) {
        // Cloned so the host's callback runs without the lock held (it may set links,
        // and notifications from several CPUs do not wait on each other's callbacks).
        let notifier = self.notifier.lock().clone();
        if let Some(notifier) = notifier {
            notifier.notify(vcpu);
        }
    }
}

impl CurrentVcpu for HostLinks {
    /// Asks the host's source; `None` before one is set.
    fn current_vcpu(&self) -> Option<usize> {
        let current = self.current.lock().clone();
        current.and_then(|current| current.current_vcpu())
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;

    #[derive(Default)]
    struct Record(Mutex<Vec<usize>>);

    impl VcpuNotifier for Record {
        fn notify(&self, vcpu: usize) {
            self.0.lock().push(vcpu);
        }
    }

    struct Fixed(usize);

    impl CurrentVcpu for Fixed {
        fn current_vcpu(&self) -> Option<usize> {
            Some(self.0)
        }
    }

    #[test]
    fn links_do_nothing_until_set_then_forward() {
        let links = HostLinks::default();
        links.notify(3);
        assert_eq!(links.current_vcpu(), None);
        let record = Arc::new(Record::default());
        links.set_notifier(record.clone());
        links.set_current_vcpu(Arc::new(Fixed(2)));
        links.notify(1);
        assert_eq!(*record.0.lock(), [1]);
        assert_eq!(links.current_vcpu(), Some(2));
        links.set_current_vcpu(Arc::new(Fixed(0)));
        assert_eq!(links.current_vcpu(), Some(0));
        assert!(alloc::format!("{links:?}").contains("notifier: true"));
    }
}
