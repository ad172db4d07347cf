//! The platform this crate is compiled for.

use crate::platform::Platform;

/// The platform of the build target.
pub(crate) const NATIVE: Platform = Platform::X86_64;
