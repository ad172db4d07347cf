//! A set of vCPU ids, as the interrupt-controller models collect whom to tell about a
//! change while their state is locked.

/// A set of vCPUs as a bit set (at most 64 vCPUs, the workspace's `MAX_VCPU_NUM`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct VcpuSet(pub(crate) u64);

impl VcpuSet {
    /// Adds `vcpu`; ids past 63 are ignored (no model has that many vCPUs).
    pub(crate) fn add(&mut self, vcpu: usize) {
        if let Some(bit) = u32::try_from(vcpu)
            .ok()
            .and_then(|shift| 1u64.checked_shl(shift))
        {
            self.0 |= bit;
        }
    }

    /// Adds vCPUs 0 to `vcpu_num - 1`.
    pub(crate) fn add_all(&mut self, vcpu_num: usize) {
        for vcpu in 0..vcpu_num {
            self.add(vcpu);
        }
    }

    /// The vCPUs in the set, lowest first.
    pub(crate) fn iter(self) -> impl Iterator<Item = usize> {
        let mut bits = self.0;
        core::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let vcpu = bits.trailing_zeros();
            bits &= bits.wrapping_sub(1);
            usize::try_from(vcpu).ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;

    #[test]
    fn sets_iterate_lowest_first_and_ignore_ids_past_63() {
        let mut set = VcpuSet::default();
        set.add(5);
        set.add(0);
        set.add(63);
        set.add(64);
        set.add(usize::MAX);
        assert_eq!(set.iter().collect::<Vec<_>>(), [0, 5, 63]);
        let mut all = VcpuSet::default();
        all.add_all(3);
        assert_eq!(all.0, 0b111);
    }
}
