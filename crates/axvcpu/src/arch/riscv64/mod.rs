//! The riscv64 backend: a vCPU for a hypervisor running in HS-mode (H extension).
//!
//! - [`context`]: the guest state ([`TrapFrame`], [`VsState`]).
//! - [`exit`]: trap decoding into exits, instruction decoding of loads and stores
//!   (compressed included), the SBI calls ([`decode_trap`]).
//! - [`paging`]: `hgatp` from a nested paging configuration.
//! - `entry`: the HS-mode trap vector ([`trap_vector_base`]) and the world switch.
//! - `hw`: the CSR accesses of `bind` / `unbind` / `run`.
//! - `vcpu`: [`Riscv64VCpu`].
//!
//! Only `entry` and `hw` contain assembly, built for riscv64 alone; the rest is
//! tested on any host.

pub mod context;
mod entry;
pub mod exit;
mod hw;
pub mod paging;
mod vcpu;

pub use self::{
    context::{FpState, TrapFrame, VsState},
    entry::{HsTrapHandler, set_hs_trap_handler, trap_vector_base},
    exit::{Htinst, MemAccess, TrapEffects, decode_htinst, decode_instruction, decode_trap, sbi},
    hw::{HCOUNTEREN, HEDELEG, HENVCFG_STCE, HIDELEG, has_sstc},
    paging::{GStageCaps, hgatp},
    vcpu::{Riscv64CreateConfig, Riscv64SetupConfig, Riscv64VCpu, hvip},
};
