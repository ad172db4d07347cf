//! What an emulated access touches: its width and, for non-MMIO accesses, its address kind.

use core::fmt;

/// The width of a guest access to an emulated register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccessWidth {
    /// 1 byte.
    Byte,
    /// 2 bytes.
    Word,
    /// 4 bytes.
    Dword,
    /// 8 bytes.
    Qword,
}

impl AccessWidth {
    /// The width in bytes: 1, 2, 4 or 8.
    #[must_use]
    pub const fn size(self) -> usize {
        match self {
            Self::Byte => 1,
            Self::Word => 2,
            Self::Dword => 4,
            Self::Qword => 8,
        }
    }

    /// The width in bits: 8, 16, 32 or 64.
    #[must_use]
    pub const fn bits(self) -> u32 {
        match self {
            Self::Byte => 8,
            Self::Word => 16,
            Self::Dword => 32,
            Self::Qword => 64,
        }
    }

    /// A mask of the low [`bits`](Self::bits) bits.
    #[must_use]
    pub const fn mask(self) -> u64 {
        match self {
            Self::Byte => 0xff,
            Self::Word => 0xffff,
            Self::Dword => 0xffff_ffff,
            Self::Qword => u64::MAX,
        }
    }

    /// The width of an access of `size` bytes, or `None` unless `size` is 1, 2, 4 or 8.
    #[must_use]
    pub const fn from_size(size: usize) -> Option<Self> {
        match size {
            1 => Some(Self::Byte),
            2 => Some(Self::Word),
            4 => Some(Self::Dword),
            8 => Some(Self::Qword),
            _ => None,
        }
    }
}

impl TryFrom<usize> for AccessWidth {
    type Error = crate::UnknownCode;

    /// Converts a size in bytes.
    fn try_from(size: usize) -> Result<Self, Self::Error> {
        Self::from_size(size).ok_or(crate::UnknownCode(size))
    }
}

impl From<AccessWidth> for usize {
    fn from(width: AccessWidth) -> usize {
        width.size()
    }
}

/// An x86 I/O port number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Port(pub u16);

impl Port {
    /// The port number.
    #[must_use]
    pub const fn number(self) -> u16 {
        self.0
    }
}

impl From<u16> for Port {
    fn from(port: u16) -> Self {
        Self(port)
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Port:{:#x}", self.0)
    }
}

/// The address of a trapped system register: the encoding an architecture's
/// backend reports (aarch64: op0/op1/CRn/CRm/op2 packed as in ESR_EL2's ISS;
/// x86: the MSR index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SysRegAddr(pub usize);

impl SysRegAddr {
    /// The raw encoding.
    #[must_use]
    pub const fn addr(self) -> usize {
        self.0
    }
}

impl From<usize> for SysRegAddr {
    fn from(addr: usize) -> Self {
        Self(addr)
    }
}

impl fmt::Display for SysRegAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SysReg:{:#x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    extern crate alloc;
    use alloc::format;

    use super::*;

    #[test]
    fn access_width_round_trips_through_its_size() {
        for width in [
            AccessWidth::Byte,
            AccessWidth::Word,
            AccessWidth::Dword,
            AccessWidth::Qword,
        ] {
            assert_eq!(AccessWidth::try_from(width.size()), Ok(width));
            assert_eq!(usize::from(width), width.size());
            assert_eq!(u64::from(width.bits()), width.mask().count_ones().into());
        }
        for bad in [0, 3, 5, 16, usize::MAX] {
            assert_eq!(AccessWidth::try_from(bad), Err(crate::UnknownCode(bad)));
        }
    }

    #[test]
    fn port_and_sysreg_display_in_hex() {
        assert_eq!(format!("{}", Port(0x3f8)), "Port:0x3f8");
        assert_eq!(Port::from(0x40).number(), 0x40);
        assert_eq!(format!("{}", SysRegAddr(0x1b)), "SysReg:0x1b");
        assert_eq!(SysRegAddr::from(7).addr(), 7);
    }
}
