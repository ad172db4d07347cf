//! The saved state of an x86_64 guest CPU: the general registers the VMCS does not
//! hold (switched by the world switch on every `run`), the VMCS field encodings
//! ([`vmcs`]) and the register state each start mode begins in ([`start`]).

use core::mem::{offset_of, size_of};

use axvm_types::AccessWidth;

pub mod start;
pub mod switched;
pub mod vmcs;

/// Index of `rsp` in the x86 register numbering; it lives in the VMCS
/// (`GUEST_RSP`), not in [`GuestRegs`].
pub const RSP: usize = 4;

/// The guest's general registers in the x86 numbering (0..15 = `rax rcx rdx rbx
/// rsp rbp rsi rdi r8`..`r15`), in the order the world switch stores them.
///
/// Slot 4 is unused by the world switch: the guest's `rsp` is `GUEST_RSP` in the
/// VMCS (as are `rip` and `rflags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct GuestRegs {
    /// The registers, indexed by their x86 number.
    pub gpr: [u64; 16],
}

/// Byte offsets of [`GuestRegs`] slots, used by the assembly.
#[cfg_attr(not(all(target_arch = "x86_64", target_os = "none")), allow(dead_code))]
pub(crate) mod frame {
    use super::{GuestRegs, offset_of, size_of};

    /// Offset of register `n`.
    pub const fn gpr(n: usize) -> usize {
        offset_of!(GuestRegs, gpr).wrapping_add(n.wrapping_mul(8))
    }

    const _: () = assert!(gpr(0) == 0);
    const _: () = assert!(size_of::<GuestRegs>() == 128);
}

impl GuestRegs {
    /// Register `reg` (0 for numbers above 15; slot 4 is not the live `rsp`).
    #[must_use]
    pub fn get(&self, reg: usize) -> u64 {
        self.gpr.get(reg).copied().unwrap_or(0)
    }

    /// Sets register `reg`; numbers above 15 are ignored.
    pub fn set(&mut self, reg: usize, value: u64) {
        if let Some(slot) = self.gpr.get_mut(reg) {
            *slot = value;
        }
    }
}

/// What an x86 load of `width` leaves in a register that held `old`: 8- and 16-bit
/// loads keep the other bits, a 32-bit load zero-extends to 64 bits, a 64-bit load
/// replaces the register.
#[must_use]
pub const fn merge_load(old: u64, value: u64, width: AccessWidth) -> u64 {
    match width {
        AccessWidth::Byte => (old & !0xff) | (value & 0xff),
        AccessWidth::Word => (old & !0xffff) | (value & 0xffff),
        AccessWidth::Dword => value & 0xffff_ffff,
        AccessWidth::Qword => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_outside_the_file_are_ignored() {
        let mut regs = GuestRegs::default();
        regs.set(15, 7);
        regs.set(16, 9);
        assert_eq!(regs.get(15), 7);
        assert_eq!(regs.get(16), 0);
        assert_eq!(frame::gpr(15), 120);
    }

    #[test]
    fn loads_merge_like_the_hardware() {
        let old = 0x1122_3344_5566_7788;
        assert_eq!(
            merge_load(old, 0xab, AccessWidth::Byte),
            0x1122_3344_5566_77ab
        );
        assert_eq!(
            merge_load(old, 0xabcd, AccessWidth::Word),
            0x1122_3344_5566_abcd
        );
        assert_eq!(
            merge_load(old, 0xffff_ffff_8000_0000, AccessWidth::Dword),
            0x8000_0000
        );
        assert_eq!(merge_load(old, 1, AccessWidth::Qword), 1);
    }
}
