//! Which vCPUs' interrupt lists went stale, and the host notifier that kicks them: the
//! part of an interrupt-controller model that tells vCPUs about changes.

use alloc::{sync::Arc, vec::Vec};
use core::sync::atomic::{AtomicBool, Ordering};

use crate::{irq::VcpuNotifier, models::vcpu_set::VcpuSet};

/// Per vCPU, whether its list may no longer hold what it should, and who to tell.
///
/// A model marks vCPUs stale with its state locked and clears a vCPU's flag when it
/// computes that vCPU's list under the same lock, so a list computed after a change
/// sees it. Notifying happens with the lock dropped.
pub(crate) struct Relist {
    stale: Vec<AtomicBool>,
    notifier: Option<Arc<dyn VcpuNotifier>>,
}

impl core::fmt::Debug for Relist {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Relist")
            .field("vcpus", &self.stale.len())
            .field("notifier", &self.notifier.is_some())
            .finish()
    }
}

impl Relist {
    /// `vcpu_num` vCPUs, all stale (none has a list yet), told through `notifier`.
    pub(crate) fn new(vcpu_num: usize, notifier: Option<Arc<dyn VcpuNotifier>>) -> Self {
        Self {
            stale: (0..vcpu_num).map(|_| AtomicBool::new(true)).collect(),
            notifier,
        }
    }

    /// Whether a notifier was given.
    pub(crate) const fn has_notifier(&self) -> bool {
        self.notifier.is_some()
    }

    /// Marks every vCPU of `vcpus` but `except` stale; ids past the count are ignored.
    pub(crate) fn mark(&self, vcpus: VcpuSet, except: Option<usize>) {
        for vcpu in vcpus.iter().filter(|&vcpu| Some(vcpu) != except) {
            if let Some(stale) = self.stale.get(vcpu) {
                stale.store(true, Ordering::Release);
            }
        }
    }

    /// Notes that `vcpu`'s list was just computed.
    pub(crate) fn listed(&self, vcpu: usize) {
        if let Some(stale) = self.stale.get(vcpu) {
            stale.store(false, Ordering::Release);
        }
    }

    /// Whether `vcpu` needs a new list (an unknown vCPU always does).
    pub(crate) fn needs_relist(&self, vcpu: usize) -> bool {
        self.stale
            .get(vcpu)
            .is_none_or(|stale| stale.load(Ordering::Acquire))
    }

    /// Notifies every vCPU of `vcpus` except `skip`.
    pub(crate) fn notify(&self, vcpus: VcpuSet, skip: Option<usize>) {
        if let Some(notifier) = &self.notifier {
            for vcpu in vcpus.iter().filter(|&vcpu| Some(vcpu) != skip) {
                notifier.notify(vcpu);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;
    use crate::testing::Kicks;

    #[test]
    fn flags_start_stale_and_follow_mark_and_listed() {
        let relist = Relist::new(2, None);
        assert!(relist.needs_relist(0) && relist.needs_relist(1));
        relist.listed(0);
        relist.listed(1);
        assert!(!relist.needs_relist(0) && !relist.needs_relist(1));
        relist.mark(VcpuSet(0b11), Some(1));
        assert!(relist.needs_relist(0) && !relist.needs_relist(1));
        // Unknown vCPUs: marking is ignored, and they always need a list.
        relist.mark(VcpuSet(0b100), None);
        assert!(relist.needs_relist(2));
    }

    #[test]
    fn notify_skips_the_given_vcpu() {
        let kicks = Arc::new(Kicks::default());
        let relist = Relist::new(3, Some(kicks.clone()));
        assert!(relist.has_notifier());
        relist.notify(VcpuSet(0b111), Some(1));
        assert_eq!(kicks.take(), vec![0, 2]);
        assert!(!Relist::new(1, None).has_notifier());
    }
}
