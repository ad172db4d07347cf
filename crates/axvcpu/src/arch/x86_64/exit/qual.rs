//! Exit qualifications (Intel SDM Vol. 3, "Exit Qualification for ...") and the
//! interruption-information format of event injection.

use axvm_types::{AccessWidth, MappingFlags};

/// The exit qualification of an I/O instruction exit (reason 30).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoQual(pub u64);

impl IoQual {
    /// The access width (bits 2:0 = size − 1); `None` for the undefined encodings.
    #[must_use]
    pub const fn width(self) -> Option<AccessWidth> {
        match self.0 & 0b111 {
            0 => Some(AccessWidth::Byte),
            1 => Some(AccessWidth::Word),
            3 => Some(AccessWidth::Dword),
            _ => None,
        }
    }

    /// `IN`/`INS` (bit 3); otherwise `OUT`/`OUTS`.
    #[must_use]
    pub const fn is_in(self) -> bool {
        self.0 & (1 << 3) != 0
    }

    /// A string instruction (`INS`/`OUTS`, bit 4).
    #[must_use]
    pub const fn is_string(self) -> bool {
        self.0 & (1 << 4) != 0
    }

    /// A `REP` prefix (bit 5).
    #[must_use]
    pub const fn is_rep(self) -> bool {
        self.0 & (1 << 5) != 0
    }

    /// The port (bits 31:16).
    #[must_use]
    pub const fn port(self) -> u16 {
        (self.0 >> 16) as u16
    }
}

/// The exit qualification of an EPT violation (reason 48).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EptQual(pub u64);

impl EptQual {
    /// The access was a data read (bit 0).
    #[must_use]
    pub const fn read(self) -> bool {
        self.0 & 1 != 0
    }

    /// The access was a data write (bit 1).
    #[must_use]
    pub const fn write(self) -> bool {
        self.0 & (1 << 1) != 0
    }

    /// The access was an instruction fetch (bit 2).
    #[must_use]
    pub const fn fetch(self) -> bool {
        self.0 & (1 << 2) != 0
    }

    /// The EPT permissions of the address (bits 5:3: readable, writable,
    /// executable), as mapping flags; empty when nothing maps it.
    #[must_use]
    pub const fn permissions(self) -> MappingFlags {
        let mut flags = MappingFlags::empty();
        if self.0 & (1 << 3) != 0 {
            flags = flags.union(MappingFlags::READ);
        }
        if self.0 & (1 << 4) != 0 {
            flags = flags.union(MappingFlags::WRITE);
        }
        if self.0 & (1 << 5) != 0 {
            flags = flags.union(MappingFlags::EXECUTE);
        }
        flags
    }

    /// The guest-linear address field is valid (bit 7).
    #[must_use]
    pub const fn linear_valid(self) -> bool {
        self.0 & (1 << 7) != 0
    }

    /// The access was to the translated linear address itself, not to a guest
    /// paging structure during the walk (bit 8, meaningful when bit 7 is set).
    #[must_use]
    pub const fn final_translation(self) -> bool {
        self.linear_valid() && self.0 & (1 << 8) != 0
    }

    /// The kind of access: EXECUTE for a fetch, WRITE for a write, else READ.
    #[must_use]
    pub const fn access_flags(self) -> MappingFlags {
        if self.fetch() {
            MappingFlags::EXECUTE
        } else if self.write() {
            MappingFlags::WRITE
        } else {
            MappingFlags::READ
        }
    }
}

/// What a control-register access exit (reason 28) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrAccess {
    /// `MOV to CR` from general register `gpr`.
    MovTo {
        /// The control register.
        cr: u8,
        /// The source register (x86 numbering).
        gpr: usize,
    },
    /// `MOV from CR` to general register `gpr`.
    MovFrom {
        /// The control register.
        cr: u8,
        /// The destination register.
        gpr: usize,
    },
    /// `CLTS`.
    Clts,
    /// `LMSW` with its 16-bit source.
    Lmsw(u16),
}

impl CrAccess {
    /// Decodes the exit qualification: bits 3:0 the register, 5:4 the access type,
    /// 11:8 the general register, 31:16 the `LMSW` source.
    #[must_use]
    pub const fn decode(qual: u64) -> Self {
        let cr = (qual & 0xf) as u8;
        let gpr = ((qual >> 8) & 0xf) as usize;
        match (qual >> 4) & 0b11 {
            0 => Self::MovTo { cr, gpr },
            1 => Self::MovFrom { cr, gpr },
            2 => Self::Clts,
            _ => Self::Lmsw((qual >> 16) as u16),
        }
    }
}

/// The valid bit of an interruption-information field.
pub const INTR_INFO_VALID: u32 = 1 << 31;
/// "Deliver error code" (bit 11).
pub const INTR_INFO_ERROR_CODE: u32 = 1 << 11;
/// Event type external interrupt (bits 10:8 = 0).
pub const INTR_TYPE_EXTERNAL: u32 = 0;
/// Event type hardware exception (bits 10:8 = 3).
pub const INTR_TYPE_HARDWARE_EXCEPTION: u32 = 3 << 8;
/// `#UD`.
pub const VECTOR_UD: u8 = 6;
/// `#GP`.
pub const VECTOR_GP: u8 = 13;

/// The interruption information that injects external interrupt `vector`.
#[must_use]
pub const fn external_interrupt(vector: u8) -> u32 {
    INTR_INFO_VALID | INTR_TYPE_EXTERNAL | vector as u32
}

/// The interruption information that injects hardware exception `vector`, with an
/// error code when `error_code`.
#[must_use]
pub const fn hardware_exception(vector: u8, error_code: bool) -> u32 {
    let info = INTR_INFO_VALID | INTR_TYPE_HARDWARE_EXCEPTION | vector as u32;
    if error_code {
        info | INTR_INFO_ERROR_CODE
    } else {
        info
    }
}

/// Whether an event of interruption information `info` (IDT-vectoring) is a
/// software interrupt or exception, whose re-injection needs the instruction length
/// (types 4, 5 and 6).
#[must_use]
pub const fn needs_instruction_length(info: u32) -> bool {
    matches!((info >> 8) & 0b111, 4..=6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_qualifications() {
        // out dx, al to 0x3f8.
        let out = IoQual(0x03f8_0000);
        assert_eq!(out.width(), Some(AccessWidth::Byte));
        assert!(!out.is_in() && !out.is_string() && !out.is_rep());
        assert_eq!(out.port(), 0x3f8);
        // in eax, 0x40 (immediate operand, bit 6).
        let inl = IoQual(0x0040_004b);
        assert_eq!(inl.width(), Some(AccessWidth::Dword));
        assert!(inl.is_in());
        // rep outsw.
        let rep = IoQual(0x0060_0031);
        assert!(rep.is_string() && rep.is_rep());
        assert_eq!(IoQual(2).width(), None);
    }

    #[test]
    fn ept_qualifications() {
        // A write to a read-only page through a final translation.
        let q = EptQual(0x18a);
        assert!(q.write() && !q.read() && !q.fetch());
        assert_eq!(q.permissions(), MappingFlags::READ);
        assert!(q.final_translation());
        assert_eq!(q.access_flags(), MappingFlags::WRITE);
        // A fetch from an unmapped page.
        let f = EptQual(0x184);
        assert_eq!(f.access_flags(), MappingFlags::EXECUTE);
        assert!(f.permissions().is_empty());
        // A read during the guest's page walk.
        let walk = EptQual(0x81);
        assert!(walk.linear_valid() && !walk.final_translation());
        assert_eq!(walk.access_flags(), MappingFlags::READ);
        assert!(!EptQual(0x100).final_translation());
    }

    #[test]
    fn cr_qualifications() {
        assert_eq!(CrAccess::decode(0x0300), CrAccess::MovTo { cr: 0, gpr: 3 });
        assert_eq!(
            CrAccess::decode(0x0f14),
            CrAccess::MovFrom { cr: 4, gpr: 15 }
        );
        assert_eq!(CrAccess::decode(0x20), CrAccess::Clts);
        assert_eq!(CrAccess::decode(0x0011_0030), CrAccess::Lmsw(0x11));
    }

    #[test]
    fn interruption_information() {
        assert_eq!(external_interrupt(0x20), 0x8000_0020);
        assert_eq!(hardware_exception(VECTOR_GP, true), 0x8000_0b0d);
        assert_eq!(hardware_exception(6, false), 0x8000_0306);
        assert!(needs_instruction_length(0x8000_0403));
        assert!(!needs_instruction_length(0x8000_0b0d));
    }
}
