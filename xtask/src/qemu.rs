//! QEMU for aarch64 and riscv64: QEMU 10 from Debian's bookworm-backports, and the
//! machine each architecture boots minivisor on.

use std::{path::Path, process::Command};

use crate::{
    arch::{self, Arch},
    install::{self, Requirement},
};

/// The emulator binary and the Debian package that provides it.
const fn binary_and_package(arch: Arch) -> (&'static str, &'static str) {
    match arch {
        Arch::Aarch64 => ("qemu-system-aarch64", "qemu-system-arm"),
        Arch::Riscv64 => ("qemu-system-riscv64", "qemu-system-misc"),
        Arch::X86_64 => ("qemu-system-x86_64", "qemu-system-x86"),
    }
}

/// Makes sure QEMU for `arch` is installed (installs it when missing, see
/// [`install::ensure`]).
pub fn ensure(arch: Arch) -> Result<(), String> {
    let (binary, package) = binary_and_package(arch);
    install::ensure(&Requirement {
        present: &[binary],
        packages: &[package],
        suite: Some("bookworm-backports"),
    })
}

/// The QEMU command line that boots `kernel` (an ELF) on `arch`; with `icount`, one
/// instruction per nanosecond of virtual time, and virtual time that skips ahead to
/// the next timer deadline while every CPU waits (`sleep=off`) instead of following
/// the host's clock, so that what a guest measures across a WFI is instructions too.
pub fn command(arch: Arch, kernel: &Path, icount: bool) -> Command {
    let (binary, _) = binary_and_package(arch);
    let mut command = Command::new(binary);
    command
        .args(["-m", "1G", "-nographic", "-smp"])
        .arg(arch::cpus(arch).to_string());
    match arch {
        Arch::Aarch64 => {
            command.args([
                "-M",
                "virt,virtualization=on,gic-version=3",
                // Every feature QEMU has (PAuth, SVE, SME, MTE, FGT, PMU, SPE...): the
                // scenarios check that the backend hides from guests what it does
                // not switch, which `cortex-a72` would not show.
                "-cpu",
                "max",
                "-semihosting-config",
                "enable=on,target=native",
            ]);
        }
        Arch::Riscv64 => {
            command.args(["-M", "virt", "-cpu", "rv64,h=true", "-bios", "default"]);
        }
        Arch::X86_64 => {}
    }
    command.arg("-kernel").arg(kernel);
    if icount {
        command.args(["-icount", "shift=0,sleep=off"]);
    }
    command
}
