//! The riscv64 backend.

pub mod native;
pub mod tlb;
