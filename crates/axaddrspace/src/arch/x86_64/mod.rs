//! The x86_64 backend.

pub mod native;
pub mod tlb;
