//! x86_64: the 16 128-bit SSE registers xmm0-xmm15 and MXCSR.
//!
//! The guests are built for the soft-float `x86_64-unknown-none`: the compiler
//! allocates no SSE register, so no value of the program ever lives in them and
//! the assembly below may own them. It cannot name them as clobbers for the same
//! reason (LLVM finds no xmm register to allocate even in an `sse2` function).

use core::arch::asm;

/// Data registers and the 64-bit words of each.
pub const REGS: usize = 16;
pub const WORDS: usize = 2;
/// How the data registers are named.
pub const DATA_PREFIX: &str = "xmm";
/// What the control word holds.
pub const CONTROL_NAME: &str = "MXCSR";

/// MXCSR's exception flags (bits 0-5), rounding control (13-14) and flush to
/// zero (15); the exception masks (7-12) stay set, so no SSE instruction faults.
const CONTROL_MASK: u64 = 0xe03f;
const EXCEPTIONS_MASKED: u64 = 0x1f80;

/// A control word made of `bits`.
pub const fn control_pattern(bits: u64) -> u64 {
    bits & CONTROL_MASK | EXCEPTIONS_MASKED
}

/// CR0.MP (1), CR0.EM (2), CR0.TS (3); CR4.OSFXSR (9), CR4.OSXMMEXCPT (10).
const CR0_MP: u64 = 1 << 1;
const CR0_EM_TS: u64 = 1 << 2 | 1 << 3;
const CR4_OSFXSR_OSXMMEXCPT: u64 = 1 << 9 | 1 << 10;

/// Enables SSE: CR0.EM and TS clear, MP set; CR4.OSFXSR and OSXMMEXCPT set.
pub fn enable() {
    // SAFETY: these CR0 and CR4 bits only decide whether SSE instructions fault
    // (#UD, #NM) and how SIMD exceptions are reported; the hypervisor emulates or
    // lets through the writes.
    unsafe {
        asm!(
            "mov {t}, cr0",
            "and {t}, {clear}",
            "or {t}, {mp}",
            "mov cr0, {t}",
            "mov {t}, cr4",
            "or {t}, {sse}",
            "mov cr4, {t}",
            t = out(reg) _,
            clear = in(reg) !CR0_EM_TS,
            mp = in(reg) CR0_MP,
            sse = in(reg) CR4_OSFXSR_OSXMMEXCPT,
            options(nomem, nostack),
        );
    }
}

/// Loads xmm0-xmm15 from `data` and MXCSR from `control`.
pub fn load(data: &[[u64; WORDS]; REGS], control: u64) {
    let mxcsr = control as u32;
    // SAFETY: reads the 256 bytes of `data` and `mxcsr`; writes only SSE state,
    // which no compiled code uses (module docs) and [`enable`] turned on; every
    // SIMD exception stays masked.
    unsafe {
        asm!(
            "movdqu xmm0, [{p} + 0]",
            "movdqu xmm1, [{p} + 16]",
            "movdqu xmm2, [{p} + 32]",
            "movdqu xmm3, [{p} + 48]",
            "movdqu xmm4, [{p} + 64]",
            "movdqu xmm5, [{p} + 80]",
            "movdqu xmm6, [{p} + 96]",
            "movdqu xmm7, [{p} + 112]",
            "movdqu xmm8, [{p} + 128]",
            "movdqu xmm9, [{p} + 144]",
            "movdqu xmm10, [{p} + 160]",
            "movdqu xmm11, [{p} + 176]",
            "movdqu xmm12, [{p} + 192]",
            "movdqu xmm13, [{p} + 208]",
            "movdqu xmm14, [{p} + 224]",
            "movdqu xmm15, [{p} + 240]",
            "ldmxcsr [{m}]",
            p = in(reg) data.as_ptr(),
            m = in(reg) &raw const mxcsr,
            options(readonly, nostack),
        );
    }
}

/// Stores xmm0-xmm15 into `data`; returns MXCSR.
pub fn save(data: &mut [[u64; WORDS]; REGS]) -> u64 {
    let mut mxcsr = 0u32;
    // SAFETY: writes the 256 bytes of `data` and `mxcsr`; only reads SSE state
    // (which [`enable`] turned on).
    unsafe {
        asm!(
            "movdqu [{p} + 0], xmm0",
            "movdqu [{p} + 16], xmm1",
            "movdqu [{p} + 32], xmm2",
            "movdqu [{p} + 48], xmm3",
            "movdqu [{p} + 64], xmm4",
            "movdqu [{p} + 80], xmm5",
            "movdqu [{p} + 96], xmm6",
            "movdqu [{p} + 112], xmm7",
            "movdqu [{p} + 128], xmm8",
            "movdqu [{p} + 144], xmm9",
            "movdqu [{p} + 160], xmm10",
            "movdqu [{p} + 176], xmm11",
            "movdqu [{p} + 192], xmm12",
            "movdqu [{p} + 208], xmm13",
            "movdqu [{p} + 224], xmm14",
            "movdqu [{p} + 240], xmm15",
            "stmxcsr [{m}]",
            p = in(reg) data.as_mut_ptr(),
            m = in(reg) &raw mut mxcsr,
            options(nostack),
        );
    }
    u64::from(mxcsr)
}
