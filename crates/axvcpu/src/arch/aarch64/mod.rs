//! The aarch64 backend: a vCPU for a hypervisor running at EL2 without VHE.
//!
//! - [`context`]: the guest state ([`TrapFrame`], [`El1State`], [`FpState`]).
//! - [`exit`]: `ESR_EL2` decoding into exits, PSCI ([`decode_sync`]).
//! - [`gic`]: the GICv3 virtual CPU interface (list registers) of each vCPU.
//! - [`vtimer`]: the guest's virtual timer deadline.
//! - [`paging`]: `VTCR_EL2` / `VTTBR_EL2` from a nested paging configuration.
//! - `entry`: the EL2 vector table ([`exception_vector_base`]) and the world switch.
//! - `hw`: the system-register accesses of `bind` / `unbind`.
//! - `vcpu`: [`Aarch64VCpu`].
//!
//! Only `entry`, `hw` and `gic`'s `cpuif` contain assembly, built for aarch64 alone; the rest is
//! tested on any host.

pub mod context;
mod entry;
pub mod exit;
pub mod gic;
mod hw;
pub mod paging;
mod vcpu;
pub mod vtimer;

pub use self::{
    context::{El1State, FpState, TrapFrame},
    entry::{
        El2ExceptionHandler, El2ExceptionKind, exception_vector_base, set_el2_exception_handler,
    },
    exit::{Esr, decode_sync, psci, sysreg_addr},
    paging::{Stage2Caps, Stage2Regs, root_table_pages, stage2_regs},
    vcpu::{
        Aarch64CreateConfig, Aarch64SetupConfig, Aarch64VCpu, MAX_INJECTABLE_IRQ, default_mpidr,
        hcr,
    },
};
