//! The saved state of an aarch64 guest CPU: general registers (switched on every
//! `run`), EL1 system registers with the virtual timer, and FP/SIMD registers
//! (switched by `bind` / `unbind`).

use core::mem::{offset_of, size_of};

/// `SPSR_EL2` of a fresh vCPU: EL1h (EL1 with `SP_EL1`), D, A, I and F masked, as
/// the Linux boot protocol requires.
pub const SPSR_EL1H_DAIF_MASKED: u64 = 0x3c5;

/// `SCTLR_EL1` of a fresh vCPU: the RES1 bits of Armv8.0 (bits 29, 28, 23, 22, 20
/// and 11) with the MMU and caches off.
pub const SCTLR_EL1_RESET: u64 = 0x30d0_0800;

/// `CPACR_EL1` of a fresh vCPU: FPEN = 0b11, so FP/SIMD instructions do not trap at
/// EL1 or EL0.
pub const CPACR_EL1_RESET: u64 = 0b11 << 20;

/// The general registers and exception state of a guest (or of the hypervisor
/// itself, for exceptions taken at EL2), in the order the assembly stores them.
///
/// `x[31]` is not a register: encoding 31 is `xzr` (or `sp`, which lives in
/// [`El1State`]) and reads as zero through [`TrapFrame::gpr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct TrapFrame {
    /// `x0` to `x30`.
    pub x: [u64; 31],
    /// `ELR_EL2`: the guest's program counter.
    pub elr: u64,
    /// `SPSR_EL2`: the guest's PSTATE.
    pub spsr: u64,
    /// `ESR_EL2` of the last exception (written on exit, never loaded).
    pub esr: u64,
    /// `FAR_EL2` of the last exception (written on exit, never loaded).
    pub far: u64,
    /// `HPFAR_EL2` of the last exception (written on exit, never loaded).
    pub hpfar: u64,
}

/// Byte offsets of [`TrapFrame`] fields, used by the assembly.
pub(crate) mod frame {
    use super::{TrapFrame, offset_of, size_of};

    /// Offset of `x0`.
    pub const X0: usize = offset_of!(TrapFrame, x);
    /// Offset of `elr` (followed by `spsr`).
    pub const ELR: usize = offset_of!(TrapFrame, elr);
    /// Offset of `esr` (followed by `far`).
    pub const ESR: usize = offset_of!(TrapFrame, esr);
    /// Offset of `hpfar`.
    pub const HPFAR: usize = offset_of!(TrapFrame, hpfar);
    /// Size of the frame, a multiple of 16 so it can live on the stack.
    pub const SIZE: usize = size_of::<TrapFrame>();

    const _: () = assert!(X0 == 0);
    const _: () = assert!(ELR == 31 * 8);
    const _: () = assert!(offset_of!(TrapFrame, spsr) == ELR + 8);
    const _: () = assert!(offset_of!(TrapFrame, far) == ESR + 8);
    const _: () = assert!(HPFAR == ESR + 16);
    const _: () = assert!(SIZE % 16 == 0);
}

impl TrapFrame {
    /// The value of general register `reg` as an instruction sees it: `x0`–`x30`,
    /// and zero for 31 (`xzr`) or anything larger.
    #[must_use]
    pub fn gpr(&self, reg: usize) -> u64 {
        self.x.get(reg).copied().unwrap_or(0)
    }

    /// Sets general register `reg`; 31 (`xzr`) and larger are ignored.
    pub fn set_gpr(&mut self, reg: usize, value: u64) {
        if let Some(slot) = self.x.get_mut(reg) {
            *slot = value;
        }
    }
}

/// The EL1 (and EL0) system registers of a guest and its virtual timer: loaded by
/// `bind`, saved by `unbind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(missing_docs)] // Each field is the register it is named after.
pub struct El1State {
    pub sctlr_el1: u64,
    pub cpacr_el1: u64,
    pub ttbr0_el1: u64,
    pub ttbr1_el1: u64,
    pub tcr_el1: u64,
    pub mair_el1: u64,
    pub amair_el1: u64,
    pub vbar_el1: u64,
    pub contextidr_el1: u64,
    pub tpidr_el0: u64,
    pub tpidrro_el0: u64,
    pub tpidr_el1: u64,
    pub sp_el0: u64,
    pub sp_el1: u64,
    pub elr_el1: u64,
    pub spsr_el1: u64,
    pub esr_el1: u64,
    pub far_el1: u64,
    pub par_el1: u64,
    pub afsr0_el1: u64,
    pub afsr1_el1: u64,
    pub csselr_el1: u64,
    pub cntkctl_el1: u64,
    pub cntv_ctl_el0: u64,
    pub cntv_cval_el0: u64,
    pub cntvoff_el2: u64,
}

impl El1State {
    /// The state of a CPU fresh out of reset, as the Linux boot protocol expects it:
    /// MMU and caches off, FP/SIMD enabled, timer off, everything else zero.
    #[must_use]
    pub fn reset() -> Self {
        Self {
            sctlr_el1: SCTLR_EL1_RESET,
            cpacr_el1: CPACR_EL1_RESET,
            ..Self::default()
        }
    }
}

/// The FP/SIMD registers of a guest: loaded by `bind`, saved by `unbind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C, align(16))]
pub struct FpState {
    /// `q0` to `q31`.
    pub q: [u128; 32],
    /// `FPCR`.
    pub fpcr: u64,
    /// `FPSR`.
    pub fpsr: u64,
}

/// Byte offsets of [`FpState`] fields, used by the assembly.
pub(crate) mod fp {
    use super::{FpState, offset_of};

    /// Offset of `fpcr` (followed by `fpsr`).
    pub const FPCR: usize = offset_of!(FpState, fpcr);

    const _: () = assert!(offset_of!(FpState, q) == 0);
    const _: () = assert!(FPCR == 32 * 16);
    const _: () = assert!(offset_of!(FpState, fpsr) == FPCR + 8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xzr_reads_zero_and_ignores_writes() {
        let mut frame = TrapFrame::default();
        frame.set_gpr(30, 7);
        frame.set_gpr(31, 9);
        frame.set_gpr(1000, 9);
        assert_eq!(frame.gpr(30), 7);
        assert_eq!(frame.gpr(31), 0);
        assert_eq!(frame.gpr(usize::MAX), 0);
    }

    #[test]
    fn reset_state_has_the_mmu_off_and_fp_on() {
        let el1 = El1State::reset();
        assert_eq!(el1.sctlr_el1 & 1, 0);
        assert_eq!(el1.cpacr_el1, 0x30_0000);
        assert_eq!(el1.cntv_ctl_el0, 0);
    }
}
