//! The x86_64 backend: a vCPU on Intel VMX (EPT, VPID, unrestricted guest) for a
//! hypervisor running in 64-bit mode.
//!
//! - [`context`]: the guest's general registers ([`GuestRegs`]), the VMCS field
//!   encodings ([`context::vmcs`]) and the start-mode states ([`context::start`]).
//! - [`exit`]: VM exits into exits: qualifications, the MMIO instruction decoder,
//!   the `CPUID` filter, the MSR allow-list, control-register emulation.
//! - [`paging`]: the EPT pointer and VPID, and the software walks of the guest's page
//!   tables and of the EPT that read guest instructions.
//! - `entry`: the world switch (VMLAUNCH/VMRESUME).
//! - `hw`: the privileged instructions, [`hardware_enable`] / [`hardware_disable`].
//! - `vcpu`: [`X86VCpu`] and the controls adjusted to the CPU ([`controls`]).
//!
//! Only `entry` and `hw` contain privileged instructions, built for bare-metal
//! x86_64 (`target_os = "none"`) alone; the rest is tested on any host.

pub mod context;
mod entry;
pub mod exit;
mod hw;
pub mod paging;
mod vcpu;

pub use self::{
    context::{GuestRegs, merge_load},
    exit::ExitEnv,
    hw::{hardware_disable, hardware_enable},
    paging::{GuestPaging, ept_translate, eptp, vpid},
    vcpu::{CrFixed, X86CreateConfig, X86SetupConfig, X86StartMode, X86VCpu, controls},
};
