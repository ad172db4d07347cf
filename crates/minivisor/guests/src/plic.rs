//! The VM's emulated PLIC (riscv64), where the guests' configs place it, driven as
//! an OS drives it: a priority per source, an enable bit and a threshold per
//! context (context 0 is hart 0's S-mode), and the claim/complete register.

/// Where the configs map the vPLIC.
pub const BASE: usize = 0x0c00_0000;
/// The NS16550's source.
pub const UART_SOURCE: u32 = 10;

/// The register blocks: priorities from `BASE`, enable bits per context, and per
/// context its threshold then its claim/complete register.
const ENABLE: usize = 0x2000;
const ENABLE_STRIDE: usize = 0x80;
const CONTEXT: usize = 0x20_0000;
const CONTEXT_STRIDE: usize = 0x1000;
const CLAIM: usize = 4;

fn write32(offset: usize, value: u32) {
    // SAFETY: a register of the emulated PLIC the config maps at BASE (`offset` is
    // within its window for the sources and contexts the guests use); the access
    // is emulated and touches no RAM.
    unsafe { core::ptr::write_volatile(BASE.wrapping_add(offset) as *mut u32, value) };
}

fn read32(offset: usize) -> u32 {
    // SAFETY: as in `write32`; a read of a claim register claims, which its caller means.
    unsafe { core::ptr::read_volatile(BASE.wrapping_add(offset) as *const u32) }
}

fn context(context: usize) -> usize {
    CONTEXT.wrapping_add(context.wrapping_mul(CONTEXT_STRIDE))
}

/// Gives `source` priority `priority` (0 never interrupts).
pub fn set_priority(source: u32, priority: u32) {
    write32((source as usize).wrapping_mul(4), priority);
}

/// Enables `source` in `ctx`, leaving the other sources of its word as they are.
pub fn enable(ctx: usize, source: u32) {
    let word = ENABLE
        .wrapping_add(ctx.wrapping_mul(ENABLE_STRIDE))
        .wrapping_add((source as usize / 32).wrapping_mul(4));
    write32(word, read32(word) | (1 << (source % 32)));
}

/// Sets the priority a source of `ctx` must exceed to interrupt it.
pub fn set_threshold(ctx: usize, threshold: u32) {
    write32(context(ctx), threshold);
}

/// Claims the highest-priority pending source of `ctx` (0: none).
pub fn claim(ctx: usize) -> u32 {
    read32(context(ctx).wrapping_add(CLAIM))
}

/// Completes `source`, claimed by `ctx`.
pub fn complete(ctx: usize, source: u32) {
    write32(context(ctx).wrapping_add(CLAIM), source);
}
