//! Stage-2 TLB maintenance with `tlbi`, under the space's VMID.

use aarch64_cpu::{
    asm::barrier::{ISH, ISHST, SY, dsb, isb},
    registers::{Readable, VTTBR_EL2, Writeable},
};
use axvm_types::{GuestPhysAddrRange, NestedPagingConfig};

use crate::{arch::page_flush::pages_to_flush, format::Stage2};

/// Whether invalidation reaches every CPU by itself: the `tlbi ...is` forms reach
/// every CPU of the inner-shareable domain.
pub const TLB_BROADCAST: bool = true;

/// Invalidates the stage-2 translations of `range` (or of the whole VMID when the
/// range is large) in the inner-shareable domain.
///
/// `tlbi` acts on the VMID in VTTBR_EL2, so the space's VTTBR is installed for
/// the duration and the previous one restored.
pub fn invalidate(config: &NestedPagingConfig, range: GuestPhysAddrRange) {
    let saved = VTTBR_EL2.get();
    dsb(ISHST);
    VTTBR_EL2.set(Stage2::vttbr(config));
    isb(SY);
    match pages_to_flush(range) {
        Some(pages) => {
            for ipa in pages {
                // SAFETY: TLB invalidation by IPA changes no memory or register. The
                // address space calls this only where the host says the CPU is at
                // EL2 (`AxMmHal::in_hypervisor_mode`); below EL2 the CPU raises an
                // undefined-instruction exception instead, touching no memory.
                unsafe {
                    core::arch::asm!("tlbi ipas2e1is, {}", in(reg) ipa >> 12, options(nostack))
                };
            }
            dsb(ISH);
            // Combined stage-1+2 entries are not tagged by IPA, so drop them too.
            // SAFETY: as above.
            unsafe { core::arch::asm!("tlbi vmalle1is", options(nostack)) };
        }
        // SAFETY: as above.
        None => unsafe { core::arch::asm!("tlbi vmalls12e1is", options(nostack)) },
    }
    dsb(ISH);
    isb(SY);
    VTTBR_EL2.set(saved);
    isb(SY);
}

/// Orders the new entries before the guest's next table walk.
pub fn publish(_config: &NestedPagingConfig, _range: GuestPhysAddrRange) {
    dsb(ISHST);
    isb(SY);
}
