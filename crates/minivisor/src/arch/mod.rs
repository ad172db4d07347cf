//! Per-architecture code: boot, console, power and the vCPU and address-space
//! choices. Each architecture directory has the same files.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use aarch64::*;

#[cfg(not(target_arch = "aarch64"))]
compile_error!("minivisor runs on aarch64 (riscv64 and x86_64 ports come with their issues)");
