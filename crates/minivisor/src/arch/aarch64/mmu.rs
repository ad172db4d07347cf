//! The hypervisor's own stage-1 translation at EL2: an identity map in 1 GiB blocks,
//! device memory below RAM and normal write-back memory over RAM. With it the
//! hypervisor's data accesses are ordinary cacheable memory (unaligned accesses
//! and exclusives allowed) instead of the Device memory of a disabled MMU. Every
//! CPU uses the one table.

use core::arch::{asm, global_asm};

/// MAIR_EL2: attribute 0 = Device-nGnRE, attribute 1 = Normal, inner/outer
/// write-back read/write-allocate.
const MAIR: u64 = 0x04 | (0xff << 8);
/// TCR_EL2: 39-bit VA (T0SZ 25, walk from level 1), 4 KiB granule, inner-shareable
/// write-back table walks, 40-bit PA; bits 31 and 23 are RES1.
const TCR: u64 =
    25 | (0b01 << 8) | (0b01 << 10) | (0b11 << 12) | (0b010 << 16) | (1 << 23) | (1 << 31);
/// SCTLR_EL2: MMU, data and instruction caches on, over the RES1 bits.
const SCTLR: u64 = 0x30c5_0830 | 1 | (1 << 2) | (1 << 12);

/// A valid level-1 block descriptor with the access flag set.
const BLOCK: u64 = 0b01 | (1 << 10);
const DEVICE: u64 = BLOCK;
/// Normal memory (attribute 1), inner shareable: the CPUs see each other's writes.
const NORMAL: u64 = BLOCK | (1 << 2) | (0b11 << 8);
const GIB: u64 = 1 << 30;

#[repr(C, align(4096))]
struct Table([u64; 512]);

static mut LEVEL1: Table = Table([0; 512]);

// Turns this CPU's EL2 MMU on with LEVEL1. Callable without a stack (a secondary
// CPU's entry code runs it first); clobbers x1 only.
global_asm!(
    r#"
.section .text.minivisor_mmu_on, "ax"
.global minivisor_mmu_on
minivisor_mmu_on:
    ldr x1, ={mair}
    msr mair_el2, x1
    ldr x1, ={tcr}
    msr tcr_el2, x1
    adrp x1, {table}
    add x1, x1, :lo12:{table}
    msr ttbr0_el2, x1
    dsb sy
    tlbi alle2
    dsb sy
    isb
    ldr x1, ={sctlr}
    msr sctlr_el2, x1
    isb
    ret
"#,
    mair = const MAIR,
    tcr = const TCR,
    sctlr = const SCTLR,
    table = sym LEVEL1,
);

/// Maps `[0, ram_end)` (device below `ram_start`, normal from it) and turns the
/// boot CPU's MMU on.
///
/// # Safety
///
/// Once, on the boot CPU at EL2, before anything depends on the memory type.
pub unsafe fn enable(ram_start: u64, ram_end: u64) {
    let table = &raw mut LEVEL1;
    let blocks = ram_end.div_ceil(GIB).min(512);
    for block in 0..blocks {
        let base = block * GIB;
        let attrs = if base >= ram_start { NORMAL } else { DEVICE };
        // SAFETY: the table is only written here, before any MMU uses it; block < 512.
        unsafe { (*table).0[block as usize] = base | attrs };
    }
    // SAFETY: the table maps every address the hypervisor touches to itself, so
    // execution continues at the same addresses once translation is on; the
    // routine clobbers only x1 and the link register.
    unsafe { asm!("bl minivisor_mmu_on", out("x1") _, out("x30") _, options(nostack)) };
}
