//! Guest device trees generated from the VM config, for guests whose config names
//! no `dtb_path`.
//!
//! The tree describes exactly what the VM provides: its RAM, its vCPUs and how
//! they are started, the interrupt controller, the timer and the consoles it
//! emulates, and `/chosen` with the command line, the console and the initrd. The
//! arch-neutral nodes are in `common`, each platform's in its own file; the blob is
//! written by rust-vmm's `vm-fdt`.
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
mod tree;

use alloc::vec::Vec;

use axvm_types::{Arch, AxVmError, AxVmResult, GuestPhysAddr};

use crate::AxVMConfig;

/// The largest device tree an arm64 kernel accepts (`Documentation/arch/arm64/booting.rst`).
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

/// The device tree blob of the VM `config` describes, with `initrd` in `/chosen`.
///
/// # Errors
///
/// `Unsupported` for an architecture without a generated tree yet (riscv64 and
/// x86_64); `InvalidInput` (logged) when the config cannot be described: an
/// interrupt controller without its GICR base in `cfg_list[0]`, a window or the
/// initrd wrapping around the address space, a console interrupt that is no SPI, a
/// command line with a NUL, or a tree over [`DTB_MAX_SIZE`].
pub fn generate(config: &AxVMConfig, initrd: Option<Initrd>) -> AxVmResult<Vec<u8>> {
    let dtb = match config.arch() {
        Arch::Aarch64 => aarch64::generate(config, initrd)?,
        Arch::Riscv64 | Arch::X86_64 => return Err(AxVmError::Unsupported),
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
