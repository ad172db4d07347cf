//! Architecture backends. Each lives in its own directory with the same file set
//! (`context.rs`, `exit.rs`, `paging.rs`, `entry.rs`, `hw.rs`, `vcpu.rs`); its pure
//! logic compiles and is tested on every host, only the code touching privileged
//! state is built for its own architecture.

pub mod aarch64;
pub mod riscv64;
#[cfg(test)]
pub(crate) mod test_hal;
pub mod x86_64;

pub use aarch64::{Aarch64CreateConfig, Aarch64SetupConfig, Aarch64VCpu};
pub use riscv64::{Riscv64CreateConfig, Riscv64SetupConfig, Riscv64VCpu};
pub use x86_64::{X86CreateConfig, X86SetupConfig, X86StartMode, X86VCpu};
