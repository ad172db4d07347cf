//! Virtual CPUs for AxVM hypervisors.
//!
//! [`AxVCpu`] is the arch-neutral vCPU: identity, physical-CPU placement and a
//! life-cycle state machine whose wrong transitions are errors, never panics. It
//! wraps an architecture backend implementing [`AxArchVCpu`]; running it yields an
//! [`AxVCpuExitReason`] that the hypervisor (or `axvm`) handles.
//!
//! The backends live in [`arch`]: [`X86VCpu`] for hypervisors using Intel VMX,
//! [`Aarch64VCpu`] for hypervisors running at EL2 and [`Riscv64VCpu`] for
//! hypervisors running in HS-mode (H extension). The
//! crate README documents what a hypervisor must set up for each and how each guest
//! exception or trap becomes an exit.
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "testing")] {
//! use axvcpu::{AxVCpu, AxVCpuExitReason, VCpuState, scripted::ScriptedVCpu};
//! use axvm_types::{AccessWidth, GuestPhysAddr, HostPhysAddr, NestedPagingConfig};
//!
//! let read = AxVCpuExitReason::MmioRead {
//!     addr: GuestPhysAddr::from(0x0900_0018),
//!     width: AccessWidth::Dword,
//!     reg: 0,
//!     reg_width: AccessWidth::Qword,
//!     signed_ext: false,
//! };
//! let mut vcpu: AxVCpu<ScriptedVCpu> = AxVCpu::new(1, 0, 0, None, vec![Ok(read)])?;
//! let paging = NestedPagingConfig { root: HostPhysAddr::from(0x8000_0000), levels: 3, gpa_bits: 40, vmid: 1 };
//! vcpu.setup(GuestPhysAddr::from(0x4008_0000), paging, ())?;
//! vcpu.bind()?;
//! let exit = vcpu.run()?;
//! // Emulate the device register, then let the guest continue.
//! vcpu.complete_read(&exit, 0x90)?;
//! assert_eq!(vcpu.state(), VCpuState::Ready);
//! # }
//! # Ok::<(), axvm_types::AxVmError>(())
//! ```

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

pub mod arch;
mod arch_vcpu;
mod binding;
mod exit;
mod hal;
mod ratelimit;
#[cfg(any(test, feature = "testing"))]
pub mod scripted;
mod vcpu;

pub use self::{
    arch::{
        Aarch64CreateConfig, Aarch64SetupConfig, Aarch64VCpu, Riscv64CreateConfig,
        Riscv64SetupConfig, Riscv64VCpu, X86CreateConfig, X86SetupConfig, X86StartMode, X86VCpu,
    },
    arch_vcpu::AxArchVCpu,
    binding::{MAX_PHYS_CPUS, PhysCpuBinding, cpu_has_loaded_vcpu},
    exit::{AxVCpuExitReason, ExitKind},
    hal::AxVCpuHal,
    vcpu::{AxVCpu, VCpuState, extend},
};

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
