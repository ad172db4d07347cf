//! Value types shared by every layer of the AxVM hypervisor workspace.
//!
//! Addresses (host and guest, physical and virtual), VM and vCPU identifiers,
//! mapping flags, access widths, the error type, the nested-paging hand-over
//! between `axaddrspace` and `axvcpu`, and the value types of a VM configuration.
//! Everything here is `no_std` and plain data; no crate of the workspace needs
//! another's internals to agree on these.
//!
//! # Example
//!
//! ```
//! use axvm_types::{
//!     AccessWidth, EmulatedDeviceType, GuestPhysAddr, MappingFlags, VmMemConfig,
//!     VmMemMappingType,
//! };
//!
//! let region = VmMemConfig {
//!     gpa: 0x8000_0000,
//!     size: 0x100_0000,
//!     flags: 0x7,
//!     map_type: VmMemMappingType::MapAlloc,
//! };
//! assert_eq!(
//!     region.mapping_flags(),
//!     Some(MappingFlags::READ | MappingFlags::WRITE | MappingFlags::EXECUTE)
//! );
//! assert_eq!(GuestPhysAddr::from(region.gpa).to_string(), "GPA:0x80000000");
//! assert_eq!(EmulatedDeviceType::from_usize(0x2), Some(EmulatedDeviceType::Console));
//! assert_eq!(EmulatedDeviceType::from_usize(0x3), None);
//! assert_eq!(AccessWidth::try_from(4), Ok(AccessWidth::Dword));
//! ```

#![no_std]
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

extern crate alloc;

mod access;
mod addr;
mod arch;
mod config;
mod error;
mod flags;
mod ids;
mod irq;
mod named;
mod npt;

pub use access::{AccessWidth, Port, SysRegAddr};
pub use addr::{
    GuestPhysAddr, GuestPhysAddrRange, GuestVirtAddr, HostPhysAddr, HostVirtAddr, MemoryAddr,
};
pub use arch::{Arch, UnknownArch};
pub use config::{
    EmulatedDeviceConfig, EmulatedDeviceType, PassThroughAddressConfig, PassThroughDeviceConfig,
    PassThroughPortConfig, VMBootProtocol, VMInterruptMode, VMType, VmImageLocation, VmMemConfig,
    VmMemMappingType,
};
pub use error::{AxVmError, AxVmErrorKind, AxVmResult};
pub use flags::MappingFlags;
pub use ids::{InterruptVector, MAX_VCPU_NUM, VCpuId, VCpuSet, VMId};
pub use irq::{VirqState, VirtualIrq};
pub use named::{ConfigEnum, UnknownCode, UnknownName};
pub use npt::NestedPagingConfig;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
