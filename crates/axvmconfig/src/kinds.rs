//! The kinds of errors and warnings a config can have. Each message is the
//! variant's `#[error]` text; the field path and location are added around it.

use alloc::string::String;
use core::fmt;

/// Why a config is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text is not valid TOML.
    #[error("invalid TOML: {0}")]
    Syntax(String),
    /// A value has the wrong TOML type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What the field needs.
        expected: &'static str,
        /// The TOML type given.
        found: &'static str,
    },
    /// A key this table does not have.
    #[error("unknown key `{key}`{hint}")]
    UnknownKey {
        /// The key as written.
        key: String,
        /// A suggestion, or the list of valid keys.
        hint: KeyHint,
    },
    /// A required key is absent.
    #[error("missing required key `{0}`")]
    MissingKey(&'static str),
    /// An integer outside the field's range.
    #[error("{value} is out of range; expected {min}..={max}")]
    OutOfRange {
        /// The value given.
        value: i64,
        /// The smallest valid value.
        min: u64,
        /// The largest valid value.
        max: u64,
    },
    /// A name or code that is not one of the field's values.
    #[error("unknown {what} {value}; valid: {valid}")]
    UnknownValue {
        /// What the field names (`map_type`, `emu_type`, ...).
        what: &'static str,
        /// The value as written.
        value: String,
        /// The valid values.
        valid: String,
    },
    /// A positional array with the wrong number of elements.
    #[error("expected {expected} elements, found {found}")]
    ArrayLength {
        /// The valid element counts.
        expected: &'static str,
        /// The element count given.
        found: usize,
    },
    /// `phys_cpu_ids` / `phys_cpu_sets` does not have one entry per vCPU.
    #[error("has {len} entries but cpu_num is {cpu_num}")]
    CpuListLength {
        /// The list's length.
        len: usize,
        /// `base.cpu_num`.
        cpu_num: usize,
    },
    /// A `phys_cpu_sets` mask with no CPU in it.
    #[error("the CPU set is empty: the vCPU could run nowhere")]
    EmptyCpuSet,
    /// A region, window or range of size zero.
    #[error("size must not be zero")]
    ZeroSize,
    /// A value that must be aligned is not.
    #[error("{value:#x} is not aligned to {align:#x} bytes")]
    Unaligned {
        /// The value given.
        value: usize,
        /// The required alignment.
        align: usize,
    },
    /// A range whose end does not fit the address space.
    #[error("{start:#x} + {size:#x} overflows the address space")]
    Overflow {
        /// Start of the range.
        start: usize,
        /// Size of the range.
        size: usize,
    },
    /// Memory-region flags with bits no `MappingFlags` defines.
    #[error(
        "flags {flags:#x} set undefined bits {undefined:#x}; defined: READ 0x1, WRITE 0x2, \
         EXECUTE 0x4, USER 0x8, DEVICE 0x10, UNCACHED 0x20"
    )]
    UndefinedFlags {
        /// The flags given.
        flags: usize,
        /// The undefined bits among them.
        undefined: usize,
    },
    /// RAM flags without READ (write-only, execute-only, none): no nested page table
    /// can map them.
    #[error(
        "flags {flags:#x} lack READ (0x1): guest RAM must be readable (write-only and \
         execute-only mappings cannot be built)"
    )]
    FlagsWithoutRead {
        /// The flags given.
        flags: usize,
    },
    /// An entry point or load address outside every RAM region.
    #[error("{addr:#x} is not inside any RAM region (an alloc or identical memory region)")]
    NotInRam {
        /// The address given.
        addr: usize,
    },
    /// Two device windows, or a device window and RAM, overlap.
    #[error("window {window} overlaps {other_name} {other}")]
    WindowOverlap {
        /// This window.
        window: Window,
        /// The field path of what it overlaps.
        other_name: String,
        /// The other window.
        other: Window,
    },
    /// The BIOS's default load address (x86: 0x8000, used when `enable_bios` names
    /// no `bios_load_addr`) is outside every RAM region.
    #[error(
        "the BIOS goes to its default address {addr:#x} (no `bios_load_addr`), which is not \
         inside any RAM region"
    )]
    DefaultBiosNotInRam {
        /// The default address.
        addr: usize,
    },
    /// Two images (kernel, BIOS, DTB, ramdisk) are loaded at the same address.
    #[error("the {image} would be loaded at {addr:#x}, where the {other} is loaded")]
    ImageOverlap {
        /// The image reported.
        image: &'static str,
        /// The image already at that address.
        other: &'static str,
        /// The shared load address.
        addr: usize,
    },
    /// Two windows that do not share an address share a page once a pass-through
    /// window is widened to the whole pages it is mapped as.
    #[error("window {window}, mapped as the pages {pages}, overlaps {other_name} {other}")]
    PageOverlap {
        /// This window.
        window: Window,
        /// The pages it is mapped as.
        pages: Window,
        /// The field path of what it overlaps.
        other_name: String,
        /// The other window.
        other: Window,
    },
    /// A pass-through device whose guest and host addresses sit at different offsets
    /// in their pages: page mappings cannot take one to the other.
    #[error(
        "base_hpa {hpa:#x} and base_gpa {gpa:#x} have different offsets in their 4 KiB \
         pages, so pages cannot map one onto the other"
    )]
    PageOffsetMismatch {
        /// The guest address.
        gpa: usize,
        /// The host address.
        hpa: usize,
    },
    /// A port window that does not fit the 16-bit I/O port space.
    #[error("port window {window} does not fit the port space 0x0..0x10000")]
    PortRange {
        /// The window given.
        window: Window,
    },
}

/// Why a config is accepted but looks wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WarningKind {
    /// Two RAM regions overlap (some configs do this on purpose). The VM maps each
    /// page of the overlap from the region listed first.
    #[error(
        "region {window} overlaps {other_name} {other}; each page of the overlap is mapped \
         from the region listed first"
    )]
    RamOverlap {
        /// This region.
        window: Window,
        /// The field path of the other region.
        other_name: String,
        /// The other region.
        other: Window,
    },
    /// A BIOS setting that has no effect because `enable_bios` is false.
    #[error("ignored: `enable_bios` is false, so no BIOS is loaded")]
    BiosIgnored,
    /// A pass-through range that is not page aligned; it is widened to whole pages.
    #[error("{value:#x} is not 4 KiB aligned; the mapping will cover whole pages")]
    UnalignedPassthrough {
        /// The value given.
        value: usize,
    },
}

/// A half-open window `[start, end)` as printed in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Window {
    /// First address (or port).
    pub start: usize,
    /// One past the last address (or port).
    pub end: usize,
}

impl Window {
    /// Whether the two windows share an address.
    #[must_use]
    pub const fn overlaps(self, other: Self) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// Whether `addr` is inside the window.
    #[must_use]
    pub const fn contains(self, addr: usize) -> bool {
        self.start <= addr && addr < self.end
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}, {:#x})", self.start, self.end)
    }
}

/// The help attached to an unknown key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyHint {
    /// A valid key of the same table that is close in spelling.
    DidYouMean(&'static str),
    /// The key exists, but in another table.
    OtherTable {
        /// The table that has the key.
        table: &'static str,
    },
    /// No close match: the valid keys of the table.
    ValidKeys(&'static [&'static str]),
}

impl fmt::Display for KeyHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DidYouMean(key) => write!(f, "; did you mean `{key}`?"),
            Self::OtherTable { table } => write!(f, "; it belongs in the `[{table}]` table"),
            Self::ValidKeys(keys) => {
                f.write_str("; valid keys: ")?;
                for (i, key) in keys.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}`{key}`")?;
                }
                Ok(())
            }
        }
    }
}
