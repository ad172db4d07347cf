//! The saved state of a riscv64 guest hart: general registers and the trap CSRs
//! (switched on every `run`), and the VS-level CSRs and FP registers (switched by
//! `bind` / `unbind`).

use core::mem::{offset_of, size_of};

/// `sstatus.SPP`: the privilege `sret` returns to (1 = supervisor, here VS-mode).
pub const SSTATUS_SPP: u64 = 1 << 8;

/// `sstatus.FS` (bits 14:13), the state of the FP registers; the same field in
/// `vsstatus` is the guest's own view.
pub mod fs {
    /// The field.
    pub const MASK: u64 = 3 << 13;
    /// Off: FP instructions raise an illegal-instruction exception.
    pub const OFF: u64 = 0;
    /// Clean: the FP registers hold what was last loaded or saved.
    pub const CLEAN: u64 = 2 << 13;
    /// Dirty: an FP register or `fcsr` changed since the field was last Clean. The
    /// hart sets it in `sstatus` (and `vsstatus`) whenever a guest changes FP state,
    /// and a guest cannot clear the `sstatus` copy.
    pub const DIRTY: u64 = 3 << 13;
}

/// `sstatus.VS` (bits 10:9), the state of the vector registers. It is Off while a
/// guest runs: the backend does not switch vector state, so a guest's vector
/// instruction raises an illegal-instruction exception (the guest's own, through
/// `hedeleg`) instead of reading another guest's registers.
pub const SSTATUS_VS: u64 = 3 << 9;

/// The `sstatus` bits [`TrapFrame::sstatus`] gives the hart while the guest runs:
/// `SPP` (VS- or VU-mode) and `FS`. Every other bit is the hypervisor's, except
/// `SIE`/`SPIE` and `VS`, which are clear.
pub const SSTATUS_GUEST_BITS: u64 = SSTATUS_SPP | fs::MASK;

/// `sstatus` with `FS` = Clean: the value the frame holds after the guest's FP
/// registers were loaded or saved, so that `Dirty` later means "changed since".
#[must_use]
pub const fn fs_clean(sstatus: u64) -> u64 {
    (sstatus & !fs::MASK) | fs::CLEAN
}

/// Whether the guest changed its FP registers since they were loaded or saved:
/// `FS` = Dirty in the `sstatus` its traps left in the frame. This is the
/// hypervisor's copy, which the guest cannot clean; the guest's `vsstatus.FS` is
/// not trusted (a guest kernel marks it Clean after saving a task's registers,
/// then loads another task's).
#[must_use]
pub const fn fs_dirty(sstatus: u64) -> bool {
    sstatus & fs::MASK == fs::DIRTY
}

/// `hstatus` bits the backend uses.
pub mod hstatus {
    /// SPV: `sret` enters the virtual machine (V = 1).
    pub const SPV: u64 = 1 << 7;
    /// SPVP: the guest was in VS-mode (hypervisor loads use its privilege).
    pub const SPVP: u64 = 1 << 8;
    /// VTW: WFI in VS-mode raises a virtual-instruction exception.
    pub const VTW: u64 = 1 << 21;
    /// VSXL = 2: VS-mode is 64-bit.
    pub const VSXL_64: u64 = 2 << 32;
}

/// The general registers and trap state of a guest hart (or of the hypervisor
/// itself, for traps taken in HS-mode), in the order the assembly stores them.
///
/// `x[0]` is not a register: `x0` is hard-wired to zero; [`TrapFrame::gpr`] reads it
/// as zero and [`TrapFrame::set_gpr`] ignores writes to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct TrapFrame {
    /// `x0` (unused) to `x31`.
    pub x: [u64; 32],
    /// `sepc`: the guest's program counter.
    pub sepc: u64,
    /// `sstatus` as the trap left it; only `SPP` and `FS` are loaded on entry
    /// ([`SSTATUS_GUEST_BITS`]).
    pub sstatus: u64,
    /// `hstatus`: written on entry (the guest's exits leave it as it is; for a trap
    /// taken in HS-mode itself, its value then).
    pub hstatus: u64,
    /// `scause` of the last trap (written on exit, never loaded).
    pub scause: u64,
    /// `stval` of the last trap other than an SBI call (written on exit, never
    /// loaded).
    pub stval: u64,
    /// `htval` of the last trap other than an SBI call: a guest-page fault's GPA
    /// shifted right by 2.
    pub htval: u64,
    /// `htinst` of the last trap other than an SBI call: the (transformed) trapping
    /// instruction, or 0.
    pub htinst: u64,
    /// The hypervisor's stack pointer while the guest runs (assembly only).
    pub host_sp: u64,
}

/// Byte offsets of [`TrapFrame`] fields, used by the assembly.
#[cfg_attr(not(target_arch = "riscv64"), allow(dead_code))]
pub(crate) mod frame {
    use super::{TrapFrame, offset_of, size_of};

    /// Offset of `sepc`.
    pub const SEPC: usize = offset_of!(TrapFrame, sepc);
    /// Offset of `sstatus`.
    pub const SSTATUS: usize = offset_of!(TrapFrame, sstatus);
    /// Offset of `hstatus`.
    pub const HSTATUS: usize = offset_of!(TrapFrame, hstatus);
    /// Offset of `scause`.
    pub const SCAUSE: usize = offset_of!(TrapFrame, scause);
    /// Offset of `stval`.
    pub const STVAL: usize = offset_of!(TrapFrame, stval);
    /// Offset of `htval`.
    pub const HTVAL: usize = offset_of!(TrapFrame, htval);
    /// Offset of `htinst`.
    pub const HTINST: usize = offset_of!(TrapFrame, htinst);
    /// Offset of `host_sp`.
    pub const HOST_SP: usize = offset_of!(TrapFrame, host_sp);
    /// Size of the frame, a multiple of 16 so it can live on the stack.
    pub const SIZE: usize = size_of::<TrapFrame>();

    const _: () = assert!(offset_of!(TrapFrame, x) == 0);
    const _: () = assert!(SEPC == 32 * 8);
    const _: () = assert!(SIZE % 16 == 0);
}

impl TrapFrame {
    /// The value of general register `reg` as an instruction sees it: zero for `x0`
    /// or anything above 31.
    #[must_use]
    pub fn gpr(&self, reg: usize) -> u64 {
        if reg == 0 {
            return 0;
        }
        self.x.get(reg).copied().unwrap_or(0)
    }

    /// Sets general register `reg`; `x0` and numbers above 31 are ignored.
    pub fn set_gpr(&mut self, reg: usize, value: u64) {
        if reg == 0 {
            return;
        }
        if let Some(slot) = self.x.get_mut(reg) {
            *slot = value;
        }
    }
}

/// Register numbers of the RISC-V calling convention.
pub mod reg {
    /// `a0`: first argument and SBI error code.
    pub const A0: usize = 10;
    /// `a1`: second argument and SBI value.
    pub const A1: usize = 11;
    /// `a6`: SBI function id.
    pub const A6: usize = 16;
    /// `a7`: SBI extension id.
    pub const A7: usize = 17;
}

/// The VS-level CSRs of a guest hart: loaded by `bind`, saved by `unbind`
/// (`vstimecmp` only for a vCPU whose timer is Sstc's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // Each field is the register it is named after.
pub struct VsState {
    pub vsstatus: u64,
    pub vsie: u64,
    pub vstvec: u64,
    pub vsscratch: u64,
    pub vsepc: u64,
    pub vscause: u64,
    pub vstval: u64,
    pub vsatp: u64,
    pub vstimecmp: u64,
}

impl VsState {
    /// The state of a hart fresh out of reset, as the SBI HSM `hart_start` promises
    /// it: translation off, interrupts off, no trap vector, the timer at the end of
    /// time (no timer interrupt).
    #[must_use]
    pub const fn reset() -> Self {
        Self {
            vsstatus: 0,
            vsie: 0,
            vstvec: 0,
            vsscratch: 0,
            vsepc: 0,
            vscause: 0,
            vstval: 0,
            vsatp: 0,
            vstimecmp: u64::MAX,
        }
    }
}

impl Default for VsState {
    /// [`VsState::reset`].
    fn default() -> Self {
        Self::reset()
    }
}

/// The FP registers of a guest hart (D extension): loaded by `bind`, saved by
/// `unbind` when the guest changed them ([`fs_dirty`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct FpState {
    /// `f0` to `f31`, 64 bits each (single-precision values NaN-boxed).
    pub f: [u64; 32],
    /// `fcsr`: rounding mode and accrued exception flags.
    pub fcsr: u64,
}

/// Byte offsets of [`FpState`] fields, used by the assembly.
#[cfg_attr(not(target_arch = "riscv64"), allow(dead_code))]
pub(crate) mod fp {
    use super::{FpState, offset_of};

    /// Offset of `fcsr`.
    pub const FCSR: usize = offset_of!(FpState, fcsr);

    const _: () = assert!(offset_of!(FpState, f) == 0);
    const _: () = assert!(FCSR == 32 * 8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x0_reads_zero_and_ignores_writes() {
        let mut frame = TrapFrame::default();
        frame.set_gpr(0, 9);
        frame.set_gpr(31, 7);
        frame.set_gpr(32, 9);
        frame.set_gpr(usize::MAX, 9);
        assert_eq!(frame.gpr(0), 0);
        assert_eq!(frame.gpr(31), 7);
        assert_eq!(frame.gpr(32), 0);
        assert_eq!(frame.x[0], 0);
    }

    #[test]
    fn fs_tracking_trusts_the_hypervisors_copy() {
        // Loaded or saved: Clean, other bits kept.
        assert_eq!(
            fs_clean(SSTATUS_SPP | fs::DIRTY | 2),
            SSTATUS_SPP | fs::CLEAN | 2
        );
        assert_eq!(fs_clean(0), fs::CLEAN);
        assert!(!fs_dirty(fs_clean(fs::DIRTY)));
        // The hart sets both FS bits when the guest writes an FP register.
        assert!(fs_dirty(fs_clean(0) | fs::DIRTY));
        assert!(!fs_dirty(fs::OFF));
        // The guest runs with SPP and FS from the frame; VS and the interrupt bits
        // are never the frame's.
        assert_eq!(SSTATUS_GUEST_BITS, 0x6100);
        assert_eq!(SSTATUS_GUEST_BITS & (SSTATUS_VS | 0x22), 0);
    }

    #[test]
    fn reset_state_has_translation_and_interrupts_off() {
        let vs = VsState::reset();
        assert_eq!(vs.vsatp, 0);
        assert_eq!(vs.vsstatus, 0);
        assert_eq!(vs.vstimecmp, u64::MAX);
        assert_eq!(VsState::default(), vs);
    }
}
