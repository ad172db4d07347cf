//! The error type of the device layer.
//!
//! Every variant's doc comment is its message. A hypervisor turns the access errors
//! ([`Unmapped`](DeviceError::Unmapped), [`CrossesWindow`](DeviceError::CrossesWindow),
//! [`Device`](DeviceError::Device)) into a fault injected into the guest; the others come from
//! configuration and are reported to whoever wrote it.

use alloc::string::String;

use axvm_types::{AccessWidth, AxVmError, AxVmErrorKind, EmulatedDeviceType};

/// What went wrong in the device layer.
#[derive(Debug, Clone, PartialEq, Eq, displaydoc::Display, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// no {kind} device at {addr:#x} ({width:?} access)
    Unmapped {
        /// The address kind: "MMIO", "port" or "system register".
        kind: &'static str,
        /// The address the guest accessed.
        addr: usize,
        /// The width of the access.
        width: AccessWidth,
    },
    /// {width:?} {kind} access at {addr:#x} runs past the end of `{name}` ({end:#x})
    CrossesWindow {
        /// The address kind.
        kind: &'static str,
        /// The name of the device hit by the first byte.
        name: String,
        /// The address the guest accessed.
        addr: usize,
        /// The width of the access.
        width: AccessWidth,
        /// The exclusive end of the device's window.
        end: usize,
    },
    /// {kind} device `{name}` failed the access at {addr:#x}: {error}
    Device {
        /// The address kind.
        kind: &'static str,
        /// The device's name.
        name: String,
        /// The address the guest accessed.
        addr: usize,
        /// What the device reported.
        error: AxVmError,
    },
    /// {kind} window of `{name}` is empty
    EmptyWindow {
        /// The address kind.
        kind: &'static str,
        /// The device's name.
        name: String,
    },
    /// {kind} window of `{name}` at {base:#x} with length {length:#x} does not fit the {kind} address space (limit {limit:#x})
    WindowOutOfSpace {
        /// The address kind.
        kind: &'static str,
        /// The device's name.
        name: String,
        /// The window's first address.
        base: usize,
        /// The window's length.
        length: usize,
        /// The exclusive end of the address space.
        limit: usize,
    },
    /// {kind} window of `{name}` [{start:#x}, {end:#x}) overlaps `{existing}` [{existing_start:#x}, {existing_end:#x})
    Overlap {
        /// The address kind.
        kind: &'static str,
        /// The device being registered.
        name: String,
        /// Its window start.
        start: usize,
        /// Its window end (exclusive).
        end: usize,
        /// The registered device it collides with.
        existing: String,
        /// That device's window start.
        existing_start: usize,
        /// That device's window end (exclusive).
        existing_end: usize,
    },
    /// no model for emulated device type `{emu_type}` (device `{name}`) on {platform}; supported: {supported}
    NoModel {
        /// The device's name.
        name: String,
        /// The requested type.
        emu_type: EmulatedDeviceType,
        /// The platform the registry serves.
        platform: &'static str,
        /// The types the registry has factories for, comma separated.
        supported: String,
    },
    /// device `{name}` has an invalid configuration: {reason}
    InvalidConfig {
        /// The device's name.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// IVC channel pool `{name}` is configured twice; a VM has at most one
    DuplicateIvcPool {
        /// The name of the second pool's config.
        name: String,
    },
    /// this VM has no IVC channel pool (no `ivc-channel` device in its config)
    NoIvcPool,
    /// interrupt controller `{name}` is configured, but the VM has `{existing}` already; a VM has at most one
    DuplicateInterruptController {
        /// The name of the second controller's config.
        name: String,
        /// The controller the VM has.
        existing: String,
    },
    /// IVC channel size {size:#x} is not a non-zero multiple of {align:#x}
    IvcBadSize {
        /// The requested size.
        size: usize,
        /// The required alignment.
        align: usize,
    },
    /// no free IVC range of {size:#x} bytes ({free:#x} bytes free in fragments)
    IvcExhausted {
        /// The requested size.
        size: usize,
        /// The free bytes left in the pool, possibly fragmented.
        free: usize,
    },
    /// IVC range at {addr:#x} of {size:#x} bytes was never allocated
    IvcNotAllocated {
        /// The base address given.
        addr: usize,
        /// The size given.
        size: usize,
    },
}

/// The [`DeviceError::InvalidConfig`] of device `name`, for `reason`.
pub(crate) fn invalid_config(name: &str, reason: &'static str) -> DeviceError {
    DeviceError::InvalidConfig {
        name: name.into(),
        reason,
    }
}

impl From<DeviceError> for AxVmError {
    /// Keeps a device's own error; maps the others to the nearest error kind.
    fn from(error: DeviceError) -> Self {
        let kind = match error {
            DeviceError::Device { error, .. } => return error,
            DeviceError::Unmapped { .. } | DeviceError::CrossesWindow { .. } => {
                AxVmErrorKind::BadAddress
            }
            DeviceError::Overlap { .. }
            | DeviceError::DuplicateIvcPool { .. }
            | DeviceError::DuplicateInterruptController { .. } => AxVmErrorKind::AlreadyExists,
            DeviceError::NoModel { .. } => AxVmErrorKind::Unsupported,
            DeviceError::NoIvcPool => AxVmErrorKind::NotFound,
            DeviceError::IvcExhausted { .. } => AxVmErrorKind::NoMemory,
            DeviceError::EmptyWindow { .. }
            | DeviceError::WindowOutOfSpace { .. }
            | DeviceError::InvalidConfig { .. }
            | DeviceError::IvcBadSize { .. }
            | DeviceError::IvcNotAllocated { .. } => AxVmErrorKind::InvalidInput,
        };
        kind.into()
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use super::*;

    #[test]
    fn messages_name_what_went_wrong() {
        let unmapped = DeviceError::Unmapped {
            kind: "MMIO",
            addr: 0x900_0000,
            width: AccessWidth::Dword,
        };
        assert_eq!(
            unmapped.to_string(),
            "no MMIO device at 0x9000000 (Dword access)"
        );
        let overlap = DeviceError::Overlap {
            kind: "port",
            name: "com1".into(),
            start: 0x3f8,
            end: 0x400,
            existing: "pit".into(),
            existing_start: 0x3f0,
            existing_end: 0x3f9,
        };
        assert_eq!(
            overlap.to_string(),
            "port window of `com1` [0x3f8, 0x400) overlaps `pit` [0x3f0, 0x3f9)"
        );
    }

    #[test]
    fn converts_to_the_workspace_error() {
        let device = DeviceError::Device {
            kind: "MMIO",
            name: "uart".into(),
            addr: 0,
            error: AxVmErrorKind::Unsupported.into(),
        };
        assert_eq!(AxVmError::from(device), AxVmErrorKind::Unsupported.into());
        assert_eq!(
            AxVmError::from(DeviceError::NoIvcPool),
            AxVmErrorKind::NotFound.into()
        );
        assert_eq!(
            AxVmError::from(DeviceError::IvcExhausted { size: 1, free: 0 }),
            AxVmErrorKind::NoMemory.into()
        );
    }
}
