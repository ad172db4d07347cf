//! Boot registers: what each architecture's Linux boot protocol puts in a vCPU's
//! registers when it starts, so that real kernels and firmware run unmodified.

use alloc::vec::Vec;

use axvm_types::{Arch, GuestPhysAddr, VCpuId};

use crate::multiboot::MULTIBOOT_MAGIC;

/// `(register, value)` pairs for vCPU `vcpu` at entry, in the backend's numbering
/// (aarch64 x0..x30 as 0..30; riscv x0..x31 as 0..31).
///
/// - aarch64: x0 = DTB address, x1-x3 = 0.
/// - riscv64: a0 (x10) = hart id, a1 (x11) = DTB address.
/// - x86_64: none here; the Multiboot hand-off's registers are
///   [`multiboot_registers`], set when the VM boots (`AxVM::boot`).
#[must_use]
pub fn boot_registers(arch: Arch, vcpu: VCpuId, dtb: Option<GuestPhysAddr>) -> Vec<(usize, u64)> {
    let dtb = dtb.map_or(0, |gpa| gpa.as_usize() as u64);
    match arch {
        Arch::Aarch64 => alloc::vec![(0, dtb), (1, 0), (2, 0), (3, 0)],
        Arch::Riscv64 => alloc::vec![(10, vcpu as u64), (11, dtb)],
        Arch::X86_64 => Vec::new(),
    }
}

/// `(register, value)` pairs for vCPU `vcpu` when another vCPU starts it (the
/// `CpuUp` exit of PSCI `CPU_ON` or SBI HSM `hart_start`, whose `arg` this is), in
/// the backend's numbering; set them after `set_entry`.
///
/// - aarch64: x0 = `arg` (the caller's context id).
/// - riscv64: a0 (x10) = the hart id (the vCPU id), a1 (x11) = `arg` (the opaque
///   value of `hart_start`; Linux passes nothing there and reads the DTB it
///   already has).
/// - x86_64: none (a start-up IPI passes no argument).
#[must_use]
pub fn start_registers(arch: Arch, vcpu: VCpuId, arg: u64) -> Vec<(usize, u64)> {
    match arch {
        Arch::Aarch64 => alloc::vec![(0, arg)],
        Arch::Riscv64 => alloc::vec![(10, vcpu as u64), (11, arg)],
        Arch::X86_64 => Vec::new(),
    }
}

/// The registers of the Multiboot v1 hand-off, in the x86 numbering (0 = RAX,
/// 3 = RBX): EAX = [`MULTIBOOT_MAGIC`], EBX = the information structure at `info`.
#[must_use]
pub fn multiboot_registers(info: GuestPhysAddr) -> [(usize, u64); 2] {
    [(0, u64::from(MULTIBOOT_MAGIC)), (3, info.as_usize() as u64)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_follow_each_boot_protocol() {
        let dtb = Some(GuestPhysAddr::from(0x4000_0000));
        assert_eq!(
            boot_registers(Arch::Aarch64, 1, dtb),
            [(0, 0x4000_0000), (1, 0), (2, 0), (3, 0)]
        );
        assert_eq!(
            boot_registers(Arch::Riscv64, 3, dtb),
            [(10, 3), (11, 0x4000_0000)]
        );
        assert_eq!(boot_registers(Arch::Aarch64, 0, None)[0], (0, 0));
        assert!(boot_registers(Arch::X86_64, 0, dtb).is_empty());
        // Secondaries: SBI HSM gives a1 the caller's opaque value, not the DTB.
        assert_eq!(
            start_registers(Arch::Riscv64, 1, 0x5eed),
            [(10, 1), (11, 0x5eed)]
        );
        assert_eq!(start_registers(Arch::Aarch64, 1, 0x5eed), [(0, 0x5eed)]);
        assert!(start_registers(Arch::X86_64, 1, 0x5eed).is_empty());
        assert_eq!(
            multiboot_registers(GuestPhysAddr::from(0xf_f000)),
            [(0, 0x2bad_b002), (3, 0xf_f000)]
        );
    }
}
