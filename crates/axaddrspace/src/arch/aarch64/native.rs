//! The nested page-table format of EL2: stage-2 translation.

/// The format an `AddrSpace` uses unless told otherwise.
pub type NativeFormat = crate::format::Stage2;
