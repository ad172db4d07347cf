//! The nested page-table format of the H extension: G-stage translation.

/// The format an `AddrSpace` uses unless told otherwise.
pub type NativeFormat = crate::format::Sv4x;
