//! EPT TLB maintenance with `invept`.

use axvm_types::{GuestPhysAddrRange, NestedPagingConfig};

use crate::format::Ept;

/// Whether invalidation reaches every CPU by itself: `invept` acts on this logical processor
/// only; the others need the host (IPIs).
pub const TLB_BROADCAST: bool = false;

/// INVEPT type 1: invalidate the mappings of one EPTP.
const SINGLE_CONTEXT: u64 = 1;

/// Invalidates every mapping derived from this EPTP: `invept` has no per-address form.
pub fn invalidate(config: &NestedPagingConfig, _range: GuestPhysAddrRange) {
    let descriptor: [u64; 2] = [Ept::eptp(config), 0];
    // SAFETY: `invept` reads the 16-byte descriptor, which lives on the stack for
    // the whole instruction, and changes no memory or register. The address space
    // calls this only where the host says the CPU is in VMX root operation
    // (`AxMmHal::in_hypervisor_mode`); anywhere else the CPU raises #UD or #GP
    // instead of executing it, which touches no memory either.
    unsafe {
        core::arch::asm!(
            "invept {kind}, [{descriptor}]",
            kind = in(reg) SINGLE_CONTEXT,
            descriptor = in(reg) descriptor.as_ptr(),
            options(nostack, readonly, preserves_flags)
        );
    }
}

/// Nothing to do: the processor creates no TLB or paging-structure cache entries
/// from not-present EPT entries, so a new mapping is used as soon as it is stored.
pub fn publish(_config: &NestedPagingConfig, _range: GuestPhysAddrRange) {}
