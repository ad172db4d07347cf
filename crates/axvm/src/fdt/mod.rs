//! Guest device trees generated from the VM config, for guests whose config names
//! no `dtb_path`.
//!
//! The tree describes exactly what the VM provides: its RAM, its vCPUs and how
//! they are started, the interrupt controller, the timer and the consoles it
//! emulates, and `/chosen` with the command line, the console and the initrd. The
//! arch-neutral nodes are in `common`, each platform's in its own file (aarch64: a
//! `linux,dummy-virt` with PSCI, GICv3 and PL011s; riscv64: a `riscv-virtio` with
//! SBI harts, a PLIC and NS16550As); the blob is written by rust-vmm's `vm-fdt`.
//! What the config cannot know — the ISA the riscv64 backend offers (`sstc` or
//! not), the MMU type, the timebase — is the config's [`FdtOptions`], which the
//! hypervisor sets ([`AxVMConfig::set_fdt_options`]).
//!
//! ```
//! use axvm::{AxVMConfig, fdt};
//! use axvm_types::Arch;
//! use axvmconfig::AxVMCrateConfig;
//!
//! let toml = r#"
//! [base]
//! id = 1
//! name = "linux"
//! cpu_num = 1
//! [kernel]
//! entry_point = 0x4020_0000
//! kernel_path = "Image"
//! kernel_load_addr = 0x4020_0000
//! cmdline = "console=ttyAMA0"
//! memory_regions = [[0x4000_0000, 0x1000_0000, 0x7, 0]]
//! [devices]
//! emu_devices = [
//!     ["gicd", 0x0800_0000, 0x1_0000, 0, 0x1, [0x080a_0000]],
//!     ["pl011", 0x0900_0000, 0x1000, 33, 0x2, []],
//! ]
//! "#;
//! let config = AxVMConfig::new(AxVMCrateConfig::from_toml(toml).unwrap(), Arch::Aarch64).unwrap();
//! let dtb = fdt::generate(&config, None).unwrap();
//! assert_eq!(dtb[..4], [0xd0, 0x0d, 0xfe, 0xed]);
//! assert!(dtb.len() <= fdt::DTB_MAX_SIZE);
//! ```

mod aarch64;
mod common;
mod options;
mod riscv64;
mod tree;

use alloc::vec::Vec;

use axvm_types::{Arch, AxVmError, AxVmResult, EmulatedDeviceType, GuestPhysAddr};

pub use self::options::{FdtOptions, QEMU_VIRT_TIMEBASE_HZ, RISCV_BASE_EXTENSIONS};
use crate::AxVMConfig;

/// The largest device tree an arm64 kernel accepts (`Documentation/arch/arm64/booting.rst`);
/// riscv64 Linux maps at most as much (one PMD) early on.
pub const DTB_MAX_SIZE: usize = 0x20_0000;

/// An initial ramdisk where it was loaded: `/chosen linux,initrd-start` and
/// `linux,initrd-end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Initrd {
    /// Its guest physical address.
    pub start: GuestPhysAddr,
    /// Its size in bytes.
    pub size: usize,
}

/// Whether `config` describes a Linux guest the generated tree fits: an
/// architecture with a generated tree and an emulated interrupt controller (an
/// aarch64 GIC line; a riscv64 PLIC line, emu_type 0x1 or 0x30). A VM without one
/// (the raw test guests) gets no tree unasked.
pub(crate) fn suits(config: &AxVMConfig) -> bool {
    config
        .emu_devices()
        .iter()
        .any(|device| match config.arch() {
            Arch::Aarch64 => device.emu_type == EmulatedDeviceType::InterruptController,
            Arch::Riscv64 => matches!(
                device.emu_type,
                EmulatedDeviceType::InterruptController | EmulatedDeviceType::PPPTGlobal
            ),
            Arch::X86_64 => false,
        })
}

/// The device tree blob of the VM `config` describes, with `initrd` in `/chosen`.
///
/// # Errors
///
/// `Unsupported` for an architecture without a generated tree yet (x86_64);
/// `InvalidInput` (logged) when the config cannot be described: an aarch64
/// interrupt controller without its GICR base in `cfg_list[0]` or a console
/// interrupt that is no SPI; a riscv64 PLIC source count outside 1..=1023 or a
/// console interrupt beyond it, or ISA extension names that are not lower-case
/// letters and digits or lack `i`; a window or the initrd wrapping around the
/// address space, a string with a NUL, or a tree over [`DTB_MAX_SIZE`].
pub fn generate(config: &AxVMConfig, initrd: Option<Initrd>) -> AxVmResult<Vec<u8>> {
    let dtb = match config.arch() {
        Arch::Aarch64 => aarch64::generate(config, initrd)?,
        Arch::Riscv64 => riscv64::generate(config, initrd)?,
        Arch::X86_64 => return Err(AxVmError::Unsupported),
    };
    if dtb.len() > DTB_MAX_SIZE {
        log::warn!(
            "VM {}: the generated device tree has {:#x} bytes, over {DTB_MAX_SIZE:#x}",
            config.id(),
            dtb.len()
        );
        return Err(AxVmError::InvalidInput);
    }
    Ok(dtb)
}

#[cfg(test)]
mod tests;
