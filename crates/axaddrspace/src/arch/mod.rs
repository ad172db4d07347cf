//! Architecture-specific code: TLB maintenance instructions and the native
//! format. Each architecture directory has the same files.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(any(test, target_arch = "aarch64", target_arch = "riscv64"))]
mod page_flush;
#[cfg(target_arch = "riscv64")]
mod riscv64;
#[cfg(target_arch = "x86_64")]
mod x86_64;

#[cfg(target_arch = "aarch64")]
pub use aarch64::{
    native::NativeFormat,
    tlb::{TLB_BROADCAST, invalidate, publish},
};
#[cfg(target_arch = "riscv64")]
pub use riscv64::{
    native::NativeFormat,
    tlb::{TLB_BROADCAST, invalidate, publish},
};
#[cfg(target_arch = "x86_64")]
pub use x86_64::{
    native::NativeFormat,
    tlb::{TLB_BROADCAST, invalidate, publish},
};

#[cfg(not(any(
    target_arch = "aarch64",
    target_arch = "riscv64",
    target_arch = "x86_64"
)))]
compile_error!("axaddrspace supports x86_64, aarch64 and riscv64");
