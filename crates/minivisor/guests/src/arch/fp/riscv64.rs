//! riscv64: the 32 64-bit registers f0-f31 (D extension) and fcsr.
//!
//! `riscv64gc-unknown-none-elf` is a hard-float target, but the guests compute no
//! floating point (and LLVM keeps no integer in an FP register), so no value of
//! the program lives in these registers and the assembly below may own them. It
//! does not name them as clobbers on purpose: fs0-fs11 are callee-saved, so the
//! compiler would restore the caller's values on return and undo the load.

use core::arch::asm;

/// Data registers and the 64-bit words of each.
pub const REGS: usize = 32;
pub const WORDS: usize = 1;
/// How the data registers are named.
pub const DATA_PREFIX: &str = "f";
/// What the control word holds.
pub const CONTROL_NAME: &str = "fcsr";

/// fcsr.frm values 0-3 (bits 5-6; 4 is legal too, 5-7 are reserved) and the
/// accrued exception flags fflags (bits 0-4).
const CONTROL_MASK: u64 = 0x7f;

/// A control word made of `bits`.
pub const fn control_pattern(bits: u64) -> u64 {
    bits & CONTROL_MASK
}

/// sstatus.FS, bits 13-14 (in VS-mode: vsstatus.FS).
const SSTATUS_FS_DIRTY: u64 = 0b11 << 13;

/// Turns the FP unit on: sstatus.FS = Dirty (it is Off at reset, and FP
/// instructions trap while it is).
pub fn enable() {
    // SAFETY: sstatus.FS only says whether FP instructions may run and whether
    // their state is dirty; it touches no memory.
    unsafe { asm!("csrs sstatus, {fs}", fs = in(reg) SSTATUS_FS_DIRTY, options(nomem, nostack)) };
}

/// Loads f0-f31 from `data` and fcsr from `control`.
pub fn load(data: &[[u64; WORDS]; REGS], control: u64) {
    // SAFETY: reads the 256 bytes of `data` (8-byte aligned); writes only f0-f31
    // and fcsr, which no compiled code uses (module docs).
    unsafe {
        asm!(
            "fld f0, 0({p})",
            "fld f1, 8({p})",
            "fld f2, 16({p})",
            "fld f3, 24({p})",
            "fld f4, 32({p})",
            "fld f5, 40({p})",
            "fld f6, 48({p})",
            "fld f7, 56({p})",
            "fld f8, 64({p})",
            "fld f9, 72({p})",
            "fld f10, 80({p})",
            "fld f11, 88({p})",
            "fld f12, 96({p})",
            "fld f13, 104({p})",
            "fld f14, 112({p})",
            "fld f15, 120({p})",
            "fld f16, 128({p})",
            "fld f17, 136({p})",
            "fld f18, 144({p})",
            "fld f19, 152({p})",
            "fld f20, 160({p})",
            "fld f21, 168({p})",
            "fld f22, 176({p})",
            "fld f23, 184({p})",
            "fld f24, 192({p})",
            "fld f25, 200({p})",
            "fld f26, 208({p})",
            "fld f27, 216({p})",
            "fld f28, 224({p})",
            "fld f29, 232({p})",
            "fld f30, 240({p})",
            "fld f31, 248({p})",
            "fscsr {c}",
            p = in(reg) data.as_ptr(),
            c = in(reg) control,
            options(readonly, nostack),
        );
    }
}

/// Stores f0-f31 into `data`; returns fcsr.
pub fn save(data: &mut [[u64; WORDS]; REGS]) -> u64 {
    let fcsr: u64;
    // SAFETY: writes the 256 bytes of `data` (8-byte aligned); only reads f0-f31
    // and fcsr.
    unsafe {
        asm!(
            "fsd f0, 0({p})",
            "fsd f1, 8({p})",
            "fsd f2, 16({p})",
            "fsd f3, 24({p})",
            "fsd f4, 32({p})",
            "fsd f5, 40({p})",
            "fsd f6, 48({p})",
            "fsd f7, 56({p})",
            "fsd f8, 64({p})",
            "fsd f9, 72({p})",
            "fsd f10, 80({p})",
            "fsd f11, 88({p})",
            "fsd f12, 96({p})",
            "fsd f13, 104({p})",
            "fsd f14, 112({p})",
            "fsd f15, 120({p})",
            "fsd f16, 128({p})",
            "fsd f17, 136({p})",
            "fsd f18, 144({p})",
            "fsd f19, 152({p})",
            "fsd f20, 160({p})",
            "fsd f21, 168({p})",
            "fsd f22, 176({p})",
            "fsd f23, 184({p})",
            "fsd f24, 192({p})",
            "fsd f25, 200({p})",
            "fsd f26, 208({p})",
            "fsd f27, 216({p})",
            "fsd f28, 224({p})",
            "fsd f29, 232({p})",
            "fsd f30, 240({p})",
            "fsd f31, 248({p})",
            "frcsr {c}",
            p = in(reg) data.as_mut_ptr(),
            c = out(reg) fcsr,
            options(nostack),
        );
    }
    fcsr & CONTROL_MASK
}
