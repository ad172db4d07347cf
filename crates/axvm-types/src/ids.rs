//! Identifiers of VMs, vCPUs and interrupt vectors, and the vCPU set type.

use ax_cpumask::CpuMask;

/// The identifier of a virtual machine. Any value is valid, 0 included.
pub type VMId = usize;

/// The index of a vCPU inside its VM, from 0 (the bootstrap vCPU) to
/// [`MAX_VCPU_NUM`]` - 1`.
pub type VCpuId = usize;

/// An interrupt vector number, as injected into a vCPU.
pub type InterruptVector = u8;

/// The largest number of vCPUs a VM may have.
pub const MAX_VCPU_NUM: usize = 64;

/// A set of vCPUs, or of the physical CPUs a vCPU may run on, one bit per CPU.
pub type VCpuSet = CpuMask<MAX_VCPU_NUM>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vcpu_set_holds_max_vcpu_num_bits() {
        let mut set = VCpuSet::new();
        assert!(set.is_empty());
        set.set(MAX_VCPU_NUM - 1, true);
        assert_eq!(set.first_index(), Some(MAX_VCPU_NUM - 1));
        let all = VCpuSet::from_value(u64::MAX);
        assert!(all.is_full());
        assert_eq!(all.len(), MAX_VCPU_NUM);
    }
}
