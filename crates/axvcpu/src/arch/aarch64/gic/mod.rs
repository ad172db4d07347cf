//! The GICv3 virtual CPU interface of a vCPU: its interrupts in the list registers
//! (`ICH_LR<n>_EL2`), the controls (`ICH_HCR_EL2`) and the registers the guest
//! programs through its `ICV_*` view (`ICH_VMCR_EL2`, `ICH_AP0R<n>_EL2`,
//! `ICH_AP1R<n>_EL2`), switched with the vCPU.
//!
//! - [`regs`]: `ICH_VTR_EL2` ([`IchVtr`]), `ICH_HCR_EL2` bits, the trapped SGI
//!   registers' [`SysRegAddr`](axvm_types::SysRegAddr)s.
//! - [`lr`]: list register encoding ([`encode_lr`], [`decode_lr`]).
//! - `state`: the per-vCPU copy and when it moves to and from the CPU.
//! - `cpuif`: the `mrs`/`msr` instructions (aarch64 only).

mod cpuif;
pub mod lr;
pub mod regs;
mod state;

pub(crate) use self::{
    cpuif::{SysRegs, probe},
    state::CpuInterfaceState,
};
pub use self::{
    lr::{decode_lr, encode_lr, lr_state},
    regs::{ICC_ASGI1R_EL1, ICC_SGI0R_EL1, ICC_SGI1R_EL1, IchVtr, MAX_LIST_REGS, ich_hcr},
};
