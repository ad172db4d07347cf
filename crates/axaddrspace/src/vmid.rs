//! [`VmidRegistry`]: which VMIDs (VPIDs on x86) live address spaces hold.

use core::sync::atomic::{AtomicU64, Ordering};

/// Words of the bitmap: one bit per 16-bit VMID.
const WORDS: usize = (u16::MAX as usize + 1) / 64;

/// The VMIDs held by a host's live address spaces, one bit each (8 KiB).
///
/// [`AddrSpace`](crate::AddrSpace) claims its format's VMID here when it is
/// created and gives it back when it is dropped; a VMID already held is refused
/// (`AlreadyExists`). Nothing else can claim or release one, so two live spaces
/// of one host ([`AxMmHal::vmids`](crate::AxMmHal::vmids)) never share a VMID and
/// TLB entries tagged with it belong to one space only.
#[derive(Debug)]
pub struct VmidRegistry {
    live: [AtomicU64; WORDS],
}

impl VmidRegistry {
    /// A registry with no VMID held, for a `static`.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            live: [const { AtomicU64::new(0) }; WORDS],
        }
    }

    /// Whether a live space holds `vmid`.
    #[must_use]
    pub fn is_held(&self, vmid: u16) -> bool {
        let (word, bit) = locate(vmid);
        self.live
            .get(word)
            .is_some_and(|word| word.load(Ordering::Acquire) & bit != 0)
    }

    /// The lowest VMID at or above `from` that no live space holds, if any: a
    /// hint for choosing one (another thread may take it first).
    #[must_use]
    pub fn first_free(&self, from: u16) -> Option<u16> {
        (from..=u16::MAX).find(|vmid| !self.is_held(*vmid))
    }

    /// Takes `vmid`; `false` when a live space holds it already.
    pub(crate) fn claim(&self, vmid: u16) -> bool {
        let (word, bit) = locate(vmid);
        self.live
            .get(word)
            .is_some_and(|word| word.fetch_or(bit, Ordering::AcqRel) & bit == 0)
    }

    /// Gives `vmid` back (its space is gone).
    pub(crate) fn release(&self, vmid: u16) {
        let (word, bit) = locate(vmid);
        if let Some(word) = self.live.get(word) {
            word.fetch_and(!bit, Ordering::AcqRel);
        }
    }
}

impl Default for VmidRegistry {
    fn default() -> Self {
        Self::new()
    }
}

/// The bitmap word and bit of `vmid`.
fn locate(vmid: u16) -> (usize, u64) {
    let vmid = usize::from(vmid);
    (vmid / 64, 1 << (vmid % 64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vmid_is_held_once_until_released() {
        let registry = VmidRegistry::new();
        assert!(registry.claim(7));
        assert!(!registry.claim(7));
        assert!(registry.is_held(7) && !registry.is_held(8));
        assert_eq!(registry.first_free(7), Some(8));
        registry.release(7);
        assert!(!registry.is_held(7));
        assert!(registry.claim(u16::MAX));
        assert_eq!(registry.first_free(u16::MAX), None);
    }
}
