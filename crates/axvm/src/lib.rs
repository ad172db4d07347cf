//! Virtual machines for AxVM hypervisors.
//!
//! [`AxVMConfig`] turns a parsed config file into what building a VM needs (image
//! addresses, vCPU placement, BIOS and relocation rules); [`AxVM`] builds the VM —
//! guest memory in an `axaddrspace` address space, emulated devices from `axdevice`,
//! vCPUs from `axvcpu` with each architecture's boot registers — and runs its vCPUs,
//! emulating device accesses and populating lazily mapped RAM itself and handing
//! everything else (hypercalls, power events) to the hypervisor. A guest that does
//! something it must not is stopped with a recorded [`GuestFault`]; the hypervisor
//! and the other VMs go on.
//!
//! On x86_64 the config's [`boot_protocol`](AxVMConfig::boot_protocol) decides how
//! the vCPUs start, which the hypervisor chooses with its backend's start mode:
//! `direct` (the default) and `uefi` in real mode at the entry point, `multiboot` in
//! 32-bit flat protected mode with paging off and the Multiboot hand-off that
//! [`AxVM::boot`] writes (see [`multiboot`]).
//!
//! On aarch64 an unmodified Linux boots as `Documentation/arch/arm64/booting.rst`
//! asks. [`AxVM::load_kernel_image`] recognises an arm64 `Image` (see
//! [`kernel_image`]) and places it on a 2 MiB-aligned base plus its `text_offset`,
//! keeps its `image_size` free of the other images and enters vCPU 0 there; a raw
//! binary is loaded and entered where the config says. [`AxVM::load_dtb`] puts a
//! DTB at `dtb_load_addr` or, without one, in the top free 2 MiB block of the first
//! RAM region, and sets x0 to it (x1-x3 = 0). The device tree itself is the host's
//! when the config names a `dtb_path`; otherwise, for a VM with an interrupt
//! controller, [`AxVM::boot`] loads the one [`AxVM::generate_dtb`] builds from the
//! config (see [`fdt`]: memory, PSCI CPUs, GICv3, timer, PL011 consoles, `/chosen`
//! with the command line, console and the ramdisk where it was loaded). The host
//! only loads the kernel and ramdisk and boots; it may also call
//! [`AxVM::generate_dtb`] itself, e.g. to adjust or keep the tree.
//!
//! On riscv64 likewise: a riscv `Image` goes on a 2 MiB boundary at least its
//! `text_offset` past the start of its RAM region and is entered there with a0 =
//! hart id and a1 = the DTB; a VM with a PLIC and no `dtb_path` gets a generated
//! tree (harts with their ISA and `riscv,cpu-intc`, the PLIC with a context per
//! hart, NS16550A consoles, `/chosen`). What the tree says about the harts beyond
//! the config (the ISA, `sstc` included only when the vCPU backend enables Sstc,
//! the MMU type, the timebase) is the hypervisor's to set:
//! [`AxVMConfig::set_fdt_options`]. Harts started by SBI HSM get
//! [`start_registers`].
//!
//! The hypervisor implements [`AxVMHal`] (host memory) and the vCPU backend's host
//! interface; see `docs/porting.md` in the repository.

#![no_std]
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

extern crate alloc;

mod boot;
pub mod bzimage;
mod config;
mod fault;
pub mod fdt;
mod hal;
mod ipi;
mod irq;
pub mod kernel_image;
mod memory;
pub mod mptable;
pub mod multiboot;
mod placement;
mod vm;

pub use self::{
    boot::{boot_registers, multiboot_registers, start_registers},
    config::{AxVCpuConfig, AxVMConfig, PhysCpuList, RamdiskInfo, VMImageConfig, X86_APIC_PAGE},
    fault::GuestFault,
    hal::AxVMHal,
    vm::{AxVM, ExitAction, VCpuConfigs, VMState},
};
