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
mod config;
mod fault;
pub mod fdt;
mod hal;
pub mod kernel_image;
mod memory;
pub mod multiboot;
mod placement;
mod vm;

pub use self::{
    boot::{boot_registers, multiboot_registers},
    config::{AxVCpuConfig, AxVMConfig, PhysCpuList, RamdiskInfo, VMImageConfig, X86_APIC_PAGE},
    fault::GuestFault,
    hal::AxVMHal,
    vm::{AxVM, ExitAction, VCpuConfigs, VMState},
};
