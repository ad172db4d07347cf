//! Inter-processor interrupts between the vCPUs of a VM, for backends that inject
//! them through `inject_interrupt` (riscv64: SBI IPI, the VS software interrupt).
//!
//! A [`SendIPI`](axvcpu::AxVCpuExitReason::SendIPI) exit marks its vector pending on
//! each target but the sender ([`PendingIpis::send`]), and the host is asked to kick
//! them. A vCPU's run loop injects what is pending on it ([`take`]) before its first
//! entry and after the exits a kick ends with, once the hypervisor has seen them: a
//! running target's interrupt exit (the kick's, or the host's periodic tick for a
//! host that does not kick), a waiting one's halt (the hypervisor's wait on it ends).
//! Other exits do not look, so they cost nothing more; a target on the sender's own
//! physical CPU is not running, and takes the IPI at its next run.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use axvm_types::VCpuId;

/// The targets and vector of one `SendIPI` exit (see its documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpiRequest {
    /// The vCPU bit 0 of `mask` names.
    pub base: u64,
    /// One bit per target from `base`.
    pub mask: u64,
    /// Every vCPU but the sender.
    pub all: bool,
    /// The sender.
    pub to_self: bool,
    /// The interrupt to make pending.
    pub vector: u64,
}

/// Why an IPI was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IpiRefused {
    /// A target named is not a vCPU of the VM.
    NoSuchVCpu,
    /// The vector cannot be recorded (64 and above).
    BadVector,
}

/// What [`PendingIpis::send`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sent {
    /// The targets other than the sender that had nothing pending (bit `n`: vCPU
    /// `n`): the caller kicks them. The others are marked too, but a kick is on its
    /// way to them already, so a guest sending IPIs in a loop does not multiply
    /// the hypervisor's.
    pub kick: u64,
    /// Whether the sender is a target too: the caller injects into it directly.
    pub sender: bool,
}

/// Per vCPU, the vectors sent to it and not yet injected (bit `v`: vector `v`).
pub(crate) struct PendingIpis {
    pending: Vec<AtomicU64>,
}

impl PendingIpis {
    /// None pending, for `vcpus` vCPUs (at most 64, as a VM has).
    pub(crate) fn new(vcpus: usize) -> Self {
        Self {
            pending: (0..vcpus).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The targets of `request` sent by `own` (the sender's bit), as a set of vCPU
    /// ids (bit `n`: vCPU `n`).
    fn targets(&self, own: u64, request: &IpiRequest) -> Result<u64, IpiRefused> {
        let every = match bit(self.pending.len()) {
            0 => u64::MAX,
            bit => bit.wrapping_sub(1),
        };
        if request.all || request.to_self {
            let others = if request.all { every & !own } else { 0 };
            let me = if request.to_self { own } else { 0 };
            return Ok(others | me);
        }
        if request.mask == 0 {
            return Ok(0);
        }
        // The highest id named must exist; the mask then fits below the count.
        let highest = 63u64.saturating_sub(u64::from(request.mask.leading_zeros()));
        let last = request
            .base
            .checked_add(highest)
            .ok_or(IpiRefused::NoSuchVCpu)?;
        if last >= self.pending.len() as u64 {
            return Err(IpiRefused::NoSuchVCpu);
        }
        u32::try_from(request.base)
            .ok()
            .and_then(|base| request.mask.checked_shl(base))
            .ok_or(IpiRefused::NoSuchVCpu)
    }

    /// Marks `request`'s vector pending on each of its targets but `sender`, all of
    /// them or none (see [`Sent`]).
    ///
    /// # Errors
    ///
    /// When a target (or the sender) does not exist or the vector is 64 or above:
    /// nothing is marked.
    pub(crate) fn send(&self, sender: VCpuId, request: &IpiRequest) -> Result<Sent, IpiRefused> {
        let vector = vector_bit(request.vector).ok_or(IpiRefused::BadVector)?;
        let own = bit(sender);
        if own == 0 || sender >= self.pending.len() {
            return Err(IpiRefused::NoSuchVCpu);
        }
        let targets = self.targets(own, request)?;
        let mut kick = 0;
        for (id, slot) in self.pending.iter().enumerate() {
            let target = bit(id);
            // Release: what the sender wrote before the IPI is visible to the target
            // once it takes it.
            if target & targets & !own != 0 && slot.fetch_or(vector, Ordering::Release) == 0 {
                kick |= target;
            }
        }
        Ok(Sent {
            kick,
            sender: targets & own != 0,
        })
    }

    /// vCPU `id`'s slot, which its run loop keeps for [`take`].
    pub(crate) fn slot(&self, id: VCpuId) -> Option<&AtomicU64> {
        self.pending.get(id)
    }

    /// Whether vCPU `id` has an IPI not yet injected.
    pub(crate) fn is_pending(&self, id: VCpuId) -> bool {
        self.slot(id)
            .is_some_and(|slot| slot.load(Ordering::Acquire) != 0)
    }
}

/// vCPU `id`'s bit in a set of vCPUs; 0 past the 64 a set holds.
fn bit(id: usize) -> u64 {
    u32::try_from(id)
        .ok()
        .and_then(|id| 1u64.checked_shl(id))
        .unwrap_or(0)
}

/// The bit of `vector` in a slot, if it has one.
fn vector_bit(vector: u64) -> Option<u64> {
    u32::try_from(vector)
        .ok()
        .and_then(|vector| 1u64.checked_shl(vector))
}

/// A slot nothing is ever sent to, for a vCPU id without one (the run loop then
/// needs no check of its own).
pub(crate) static NONE: AtomicU64 = AtomicU64::new(0);

/// Whether an IPI is pending in `slot` (one load: the run loop's check).
#[inline]
pub(crate) fn any(slot: &AtomicU64) -> bool {
    slot.load(Ordering::Relaxed) != 0
}

/// The vectors pending in `slot` (bit `v`: vector `v`), which no longer are: the
/// caller injects them.
pub(crate) fn take(slot: &AtomicU64) -> u64 {
    slot.swap(0, Ordering::Acquire)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(base: u64, mask: u64) -> IpiRequest {
        IpiRequest {
            base,
            mask,
            all: false,
            to_self: false,
            vector: 1,
        }
    }

    fn sent(kick: u64, sender: bool) -> Result<Sent, IpiRefused> {
        Ok(Sent { kick, sender })
    }

    fn pending(ipis: &PendingIpis) -> Vec<u64> {
        ipis.pending
            .iter()
            .map(|slot| slot.load(Ordering::Relaxed))
            .collect()
    }

    #[test]
    fn a_mask_names_vcpus_from_its_base() {
        let ipis = PendingIpis::new(4);
        assert_eq!(ipis.send(0, &mask(1, 0b101)), sent(0b1010, false));
        assert_eq!(pending(&ipis), [0, 2, 0, 2]);
        // The sender in its own mask is the caller's to inject into; vCPU 1 has one
        // pending already, whose kick is on its way: marked, not kicked again.
        assert_eq!(ipis.send(2, &mask(0, 0b110)), sent(0, true));
        assert_eq!(pending(&ipis), [0, 2, 0, 2]);
        assert_eq!(ipis.send(2, &mask(3, 0)), sent(0, false));
        assert!(any(ipis.slot(1).unwrap()));
        assert_eq!(take(ipis.slot(1).unwrap()), 2);
        assert!(!any(ipis.slot(1).unwrap()));
        assert!(!ipis.is_pending(1) && ipis.is_pending(3));
        // Taken: the next IPI kicks again.
        assert_eq!(ipis.send(3, &mask(1, 1)), sent(0b0010, false));
    }

    #[test]
    fn broadcasts_and_self() {
        let ipis = PendingIpis::new(3);
        let all = IpiRequest {
            all: true,
            ..mask(7, 7)
        };
        assert_eq!(ipis.send(1, &all), sent(0b101, false));
        assert_eq!(pending(&ipis), [2, 0, 2]);
        let everyone = IpiRequest {
            to_self: true,
            vector: 3,
            ..all
        };
        assert_eq!(ipis.send(1, &everyone), sent(0, true));
        assert_eq!(pending(&ipis), [10, 0, 10]);
        let me = IpiRequest {
            to_self: true,
            ..mask(0, 0)
        };
        assert_eq!(ipis.send(2, &me), sent(0, true));
    }

    #[test]
    fn targets_that_do_not_exist_send_nothing() {
        let ipis = PendingIpis::new(2);
        for request in [
            mask(0, 0b101),
            mask(2, 1),
            mask(1, 1 << 63),
            mask(u64::MAX, 1),
            mask(64, 1),
        ] {
            assert_eq!(
                ipis.send(0, &request),
                Err(IpiRefused::NoSuchVCpu),
                "{request:?}"
            );
        }
        let big = IpiRequest {
            vector: 64,
            ..mask(0, 1)
        };
        assert_eq!(ipis.send(0, &big), Err(IpiRefused::BadVector));
        assert_eq!(ipis.send(5, &mask(0, 1)), Err(IpiRefused::NoSuchVCpu));
        assert_eq!(pending(&ipis), [0, 0]);
        // A full VM of 64 vCPUs.
        let full = PendingIpis::new(64);
        let all = IpiRequest {
            all: true,
            ..mask(0, 0)
        };
        assert_eq!(full.send(63, &all), sent(u64::MAX >> 1, false));
        let high = mask(32, u64::from(u32::MAX));
        assert_eq!(PendingIpis::new(64).send(0, &high), sent(!0 << 32, false));
        let past = mask(33, u64::from(u32::MAX));
        assert_eq!(full.send(0, &past), Err(IpiRefused::NoSuchVCpu));
    }
}
