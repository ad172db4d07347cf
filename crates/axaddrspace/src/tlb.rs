//! TLB maintenance after page-table changes, behind a small trait so host tests
//! can observe it, and how the space combines it with the host's invalidation
//! on the other CPUs.

use axvm_types::{GuestPhysAddrRange, NestedPagingConfig};

use crate::hal::AxMmHal;

/// Keeps the calling CPU's cached guest-physical translations in step with the
/// tables; the host's [`AxMmHal::invalidate_remote`] covers the other CPUs.
pub trait NestedTlb {
    /// Whether the operations are privileged instructions: the space then runs
    /// them only where [`AxMmHal::in_hypervisor_mode`] says they are defined.
    const PRIVILEGED: bool = false;

    /// Whether [`invalidate`](Self::invalidate) reaches every CPU by itself (a
    /// broadcast): the space then asks the host for remote invalidation only when
    /// it could not run it.
    const BROADCAST: bool = false;

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
/// They need the hypervisor's privilege level (VMX root operation, EL2,
/// HS-mode), so the space runs them only when [`AxMmHal::in_hypervisor_mode`]
/// says so. `invept` and `hfence.gvma` act on the calling CPU, so the host's
/// [`AxMmHal::invalidate_remote`] is asked for the others; aarch64's
/// inner-shareable `tlbi` forms reach every CPU themselves.
#[derive(Debug, Clone, Copy, Default)]
pub struct ArchTlb;

impl NestedTlb for ArchTlb {
    const PRIVILEGED: bool = true;
    const BROADCAST: bool = crate::arch::TLB_BROADCAST;

    fn invalidate(&self, config: &NestedPagingConfig, range: GuestPhysAddrRange) {
        crate::arch::invalidate(config, range);
    }

    fn publish(&self, config: &NestedPagingConfig, range: GuestPhysAddrRange) {
        crate::arch::publish(config, range);
    }
}

/// Invalidates `range` on every CPU that may hold translations of `config`: on
/// this one through `tlb` where it may run, on the others through the host.
pub(crate) fn invalidate<H: AxMmHal, T: NestedTlb>(
    tlb: &T,
    config: &NestedPagingConfig,
    range: GuestPhysAddrRange,
) {
    let local = !T::PRIVILEGED || H::in_hypervisor_mode();
    if local {
        tlb.invalidate(config, range);
    }
    if !(local && T::BROADCAST) {
        H::invalidate_remote(config, range);
    }
}

/// Makes new entries of `range` visible to this CPU's table walker. Other CPUs
/// that cached the entries as invalid fault, and the fault handler publishes
/// there (see `handle_page_fault`).
pub(crate) fn publish<H: AxMmHal, T: NestedTlb>(
    tlb: &T,
    config: &NestedPagingConfig,
    range: GuestPhysAddrRange,
) {
    if !T::PRIVILEGED || H::in_hypervisor_mode() {
        tlb.publish(config, range);
    }
}
