//! The error type every AxVM layer returns.

pub use ax_errno::{AxError as AxVmError, AxErrorKind as AxVmErrorKind};

/// The result type of the AxVM layers; `T` defaults to `()`.
pub type AxVmResult<T = ()> = Result<T, AxVmError>;
