//! Per-architecture code: one directory per architecture with the same files, re-exported
//! here. All that depends on the build target is which [`Platform`](crate::Platform) is
//! native; everything else takes the platform as a value, so it is tested on any host.

#[cfg(target_arch = "aarch64")]
#[path = "aarch64/platform.rs"]
mod platform;
#[cfg(target_arch = "riscv64")]
#[path = "riscv64/platform.rs"]
mod platform;
#[cfg(target_arch = "x86_64")]
#[path = "x86_64/platform.rs"]
mod platform;

#[cfg(not(any(
    target_arch = "aarch64",
    target_arch = "riscv64",
    target_arch = "x86_64"
)))]
compile_error!("axdevice supports x86_64, aarch64 and riscv64 targets");

pub(crate) use platform::NATIVE;
