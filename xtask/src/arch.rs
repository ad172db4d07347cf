//! The guest architectures (`axvmconfig::Arch`) and their bare-metal targets.

pub use axvmconfig::Arch;

/// The bare-metal target triple the no_std crates are checked for.
pub const fn target(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "x86_64-unknown-none",
        Arch::Aarch64 => "aarch64-unknown-none-softfloat",
        Arch::Riscv64 => "riscv64gc-unknown-none-elf",
    }
}

/// The physical CPUs the emulator gives minivisor on `arch` (QEMU `-smp`, Bochs
/// `cpu: count`); every system test checks that all of them came up.
pub const fn cpus(arch: Arch) -> usize {
    match arch {
        Arch::Aarch64 | Arch::Riscv64 => 4,
        Arch::X86_64 => 2,
    }
}
