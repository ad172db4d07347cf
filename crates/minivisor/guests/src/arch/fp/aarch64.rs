//! aarch64: the 32 128-bit SIMD&FP registers v0-v31, FPCR and FPSR.
//!
//! The guests are built for `aarch64-unknown-none-softfloat`, which has no FP or
//! SIMD feature: the compiler allocates none of these registers, so no value of the
//! program ever lives in them and the assembly below may own them. It cannot name
//! them as clobbers for the same reason (rustc refuses `neon` on this target as an
//! ABI hazard), and says `.arch_extension fp` for the assembler.

use core::arch::asm;

/// Data registers and the 64-bit words of each.
pub const REGS: usize = 32;
pub const WORDS: usize = 2;
/// How the data registers are named.
pub const DATA_PREFIX: &str = "v";
/// What the control word holds: FPCR in its low half, FPSR in its high half.
pub const CONTROL_NAME: &str = "FPCR/FPSR";

/// FPCR.RMode, FZ, DN and AHP (bits 22-26), and FPSR's cumulative exception flags
/// IOC..IXC (bits 0-4) in the high half: bits every implementation keeps.
const CONTROL_MASK: u64 = 0x1f << 22 | 0x1f << 32;

/// A control word made of `bits`.
pub const fn control_pattern(bits: u64) -> u64 {
    bits & CONTROL_MASK
}

/// Lets EL1 use FP and SIMD without trapping (CPACR_EL1.FPEN = 0b11).
pub fn enable() {
    // SAFETY: CPACR_EL1.FPEN only decides whether FP/SIMD instructions trap at
    // EL1/EL0; the ISB makes it take effect before the next one.
    unsafe {
        asm!(
            "mrs {t}, cpacr_el1",
            "orr {t}, {t}, #(3 << 20)",
            "msr cpacr_el1, {t}",
            "isb",
            t = out(reg) _,
            options(nomem, nostack),
        );
    }
}

/// Loads v0-v31 from `data` (v_n = words 2n, 2n + 1) and FPCR/FPSR from `control`.
pub fn load(data: &[[u64; WORDS]; REGS], control: u64) {
    // SAFETY: reads the 512 bytes of `data` (16-byte aligned: FpRegs is, so the
    // q-register loads are aligned, as Device memory with the MMU off requires);
    // writes only FP/SIMD registers, which no compiled code uses (module docs).
    unsafe {
        asm!(
            ".arch_extension fp",
            "ldp q0, q1, [{p}, #0]",
            "ldp q2, q3, [{p}, #32]",
            "ldp q4, q5, [{p}, #64]",
            "ldp q6, q7, [{p}, #96]",
            "ldp q8, q9, [{p}, #128]",
            "ldp q10, q11, [{p}, #160]",
            "ldp q12, q13, [{p}, #192]",
            "ldp q14, q15, [{p}, #224]",
            "ldp q16, q17, [{p}, #256]",
            "ldp q18, q19, [{p}, #288]",
            "ldp q20, q21, [{p}, #320]",
            "ldp q22, q23, [{p}, #352]",
            "ldp q24, q25, [{p}, #384]",
            "ldp q26, q27, [{p}, #416]",
            "ldp q28, q29, [{p}, #448]",
            "ldp q30, q31, [{p}, #480]",
            "msr fpcr, {c}",
            "lsr {c}, {c}, #32",
            "msr fpsr, {c}",
            p = in(reg) data.as_ptr(),
            c = inout(reg) control => _,
            options(readonly, nostack),
        );
    }
}

/// Stores v0-v31 into `data`; returns FPCR/FPSR.
pub fn save(data: &mut [[u64; WORDS]; REGS]) -> u64 {
    let (fpcr, fpsr): (u64, u64);
    // SAFETY: writes the 512 bytes of `data` (16-byte aligned, as for `load`);
    // only reads FP/SIMD registers.
    unsafe {
        asm!(
            ".arch_extension fp",
            "stp q0, q1, [{p}, #0]",
            "stp q2, q3, [{p}, #32]",
            "stp q4, q5, [{p}, #64]",
            "stp q6, q7, [{p}, #96]",
            "stp q8, q9, [{p}, #128]",
            "stp q10, q11, [{p}, #160]",
            "stp q12, q13, [{p}, #192]",
            "stp q14, q15, [{p}, #224]",
            "stp q16, q17, [{p}, #256]",
            "stp q18, q19, [{p}, #288]",
            "stp q20, q21, [{p}, #320]",
            "stp q22, q23, [{p}, #352]",
            "stp q24, q25, [{p}, #384]",
            "stp q26, q27, [{p}, #416]",
            "stp q28, q29, [{p}, #448]",
            "stp q30, q31, [{p}, #480]",
            "mrs {fpcr}, fpcr",
            "mrs {fpsr}, fpsr",
            p = in(reg) data.as_mut_ptr(),
            fpcr = out(reg) fpcr,
            fpsr = out(reg) fpsr,
            options(nostack),
        );
    }
    (fpcr | fpsr << 32) & CONTROL_MASK
}
