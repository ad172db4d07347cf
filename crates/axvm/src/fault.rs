//! What a guest did that stopped its VM.

use core::fmt;

use axvm_types::{AxVmError, GuestPhysAddr, MappingFlags, SysRegAddr};

/// A guest action the VM cannot emulate: the VM is stopped and the fault recorded,
/// while the hypervisor and other VMs go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestFault {
    /// An access to an address with neither RAM nor a device behind it.
    Unmapped {
        /// The address accessed.
        addr: GuestPhysAddr,
        /// READ, WRITE or EXECUTE.
        access: MappingFlags,
    },
    /// An access the RAM's permissions forbid, such as a write to read-only memory.
    Forbidden {
        /// The address accessed.
        addr: GuestPhysAddr,
        /// READ, WRITE or EXECUTE.
        access: MappingFlags,
    },
    /// A device refused an access (wrong width, past its window's end, ...).
    DeviceRefused {
        /// The address accessed.
        addr: GuestPhysAddr,
        /// Whether it was a write.
        write: bool,
    },
    /// An access to a trapped system register no device emulates.
    SysReg {
        /// The register.
        addr: SysRegAddr,
        /// Whether it was a write.
        write: bool,
    },
    /// The vCPU backend could not express what the guest did as an exit (for example
    /// an abort without a usable syndrome), or the hardware refused to run it.
    Undecodable(AxVmError),
}

impl GuestFault {
    /// A short name of the fault kind, for summaries.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Unmapped { .. } => "unmapped access",
            Self::Forbidden { .. } => "forbidden access",
            Self::DeviceRefused { .. } => "device refused",
            Self::SysReg { .. } => "system register",
            Self::Undecodable(_) => "undecodable exit",
        }
    }
}

fn access_name(access: MappingFlags) -> &'static str {
    if access.contains(MappingFlags::WRITE) {
        "write"
    } else if access.contains(MappingFlags::EXECUTE) {
        "instruction fetch"
    } else {
        "read"
    }
}

impl fmt::Display for GuestFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unmapped { addr, access } => {
                write!(
                    f,
                    "{} of {addr}, where there is neither RAM nor a device",
                    access_name(*access)
                )
            }
            Self::Forbidden { addr, access } => {
                write!(
                    f,
                    "{} of {addr}, which the memory's permissions forbid",
                    access_name(*access)
                )
            }
            Self::DeviceRefused { addr, write } => {
                let what = if *write { "write" } else { "read" };
                write!(f, "the device at {addr} refused a {what}")
            }
            Self::SysReg { addr, write } => {
                let what = if *write { "write" } else { "read" };
                write!(f, "{what} of unemulated {addr}")
            }
            Self::Undecodable(error) => {
                write!(f, "the vCPU stopped on an exit it cannot decode: {error}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use super::*;

    #[test]
    fn faults_say_what_happened() {
        let fault = GuestFault::Forbidden {
            addr: GuestPhysAddr::from(0x4800_0000),
            access: MappingFlags::WRITE,
        };
        assert_eq!(
            fault.to_string(),
            "write of GPA:0x48000000, which the memory's permissions forbid"
        );
        assert_eq!(fault.kind(), "forbidden access");
        let fault = GuestFault::Unmapped {
            addr: GuestPhysAddr::from(0x2000_0000),
            access: MappingFlags::READ,
        };
        assert_eq!(
            fault.to_string(),
            "read of GPA:0x20000000, where there is neither RAM nor a device"
        );
    }
}
