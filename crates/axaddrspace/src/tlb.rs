//! TLB maintenance after page-table changes, behind a small trait so host tests
//! can observe it and hypervisors can substitute their own (e.g. a cross-CPU
//! shootdown).

use axvm_types::{GuestPhysAddrRange, NestedPagingConfig};

/// Keeps the CPUs' cached guest-physical translations in step with the tables.
pub trait NestedTlb {
    /// Drops cached translations of `range` for the context `config` describes.
    ///
    /// Called after entries were removed, split or made less permissive, before
    /// any frame they pointed at is given back to the host.
    fn invalidate(&self, config: &NestedPagingConfig, range: GuestPhysAddrRange);

    /// Makes entries newly written for `range` visible to the table walker.
    ///
    /// Called after mapping where nothing was mapped; the default does nothing.
    fn publish(&self, config: &NestedPagingConfig, range: GuestPhysAddrRange) {
        let _ = (config, range);
    }
}

/// The TLB maintenance instructions of the architecture the crate is built for:
/// `invept` (single context) on x86_64, `tlbi` by IPA under the space's VMID on
/// aarch64, `hfence.gvma` with the space's VMID on riscv64.
///
/// They need the hypervisor's privilege level (VMX root operation, EL2, HS-mode).
#[derive(Debug, Clone, Copy, Default)]
pub struct ArchTlb;

impl NestedTlb for ArchTlb {
    fn invalidate(&self, config: &NestedPagingConfig, range: GuestPhysAddrRange) {
        crate::arch::invalidate(config, range);
    }

    fn publish(&self, config: &NestedPagingConfig, range: GuestPhysAddrRange) {
        crate::arch::publish(config, range);
    }
}
