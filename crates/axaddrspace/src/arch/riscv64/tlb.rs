//! G-stage TLB maintenance with `hfence.gvma`, tagged with the space's VMID.

use axvm_types::{GuestPhysAddrRange, NestedPagingConfig};

use crate::arch::page_flush::pages_to_flush;

/// Whether invalidation reaches every CPU by itself: `hfence.gvma` fences this hart only;
/// other harts need the host (SBI remote fences or IPIs).
pub const TLB_BROADCAST: bool = false;

/// Fences every G-stage translation of the VMID on this hart: a fence by address
/// need not drop cached non-leaf entries, and unmapping may free tables.
pub fn invalidate(config: &NestedPagingConfig, _range: GuestPhysAddrRange) {
    // SAFETY: a TLB fence changes no memory or register. The address space calls
    // this only where the host says the hart is in HS-mode
    // (`AxMmHal::in_hypervisor_mode`); anywhere else the hart raises an
    // illegal-instruction exception instead, which touches no memory either.
    // Encoded with `.insn` (funct7 0x31, rs1 = x0: all addresses, rs2 = VMID) so
    // no assembler H-extension support is needed.
    unsafe {
        core::arch::asm!(".insn r 0x73, 0, 0x31, x0, x0, {}", in(reg) usize::from(config.vmid), options(nostack))
    };
}

/// Fences the new entries of `range` (implementations may cache invalid
/// entries), page by page when few, else the whole VMID.
pub fn publish(config: &NestedPagingConfig, range: GuestPhysAddrRange) {
    let vmid = usize::from(config.vmid);
    match pages_to_flush(range) {
        Some(pages) => {
            for gpa in pages {
                // SAFETY: as in `invalidate`; rs1 = GPA >> 2 fences one address.
                unsafe {
                    core::arch::asm!(".insn r 0x73, 0, 0x31, x0, {}, {}", in(reg) gpa >> 2, in(reg) vmid, options(nostack))
                };
            }
        }
        None => invalidate(config, range),
    }
}
