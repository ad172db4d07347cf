//! Per-architecture code: boot, console, power and the vCPU and address-space
//! choices. Each architecture directory has the same files.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use aarch64::*;

#[cfg(target_arch = "riscv64")]
mod riscv64;
#[cfg(target_arch = "riscv64")]
pub use riscv64::*;

#[cfg(not(any(target_arch = "aarch64", target_arch = "riscv64")))]
compile_error!("minivisor runs on aarch64 and riscv64 (the x86_64 port comes with its issue)");
