//! Stage-2 invalidation on the other CPUs: nothing to do. `ArchTlb` invalidates
//! with the inner-shareable `tlbi ...is` forms, which reach every CPU of the
//! inner-shareable domain (all of QEMU `virt`'s CPUs) and complete at the `dsb ish`
//! that follows; axaddrspace reports this as `NestedTlb::BROADCAST` and asks the
//! host for remote invalidation only when that broadcast could not run, i.e. when
//! `AxMmHal::in_hypervisor_mode` is false, which minivisor (always at EL2) never
//! answers.

use axvm_types::{GuestPhysAddrRange, NestedPagingConfig};

/// Nothing: the local broadcast already covered every other CPU. No CPU was asked
/// anything, so none is counted.
pub fn invalidate_remote(_config: &NestedPagingConfig, _range: GuestPhysAddrRange) -> usize {
    0
}
