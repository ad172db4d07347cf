//! The nested page-table format of VMX: EPT.

/// The format an `AddrSpace` uses unless told otherwise.
pub type NativeFormat = crate::format::Ept;
