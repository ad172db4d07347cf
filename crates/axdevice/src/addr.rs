//! Address kinds (MMIO, port, system register) and the one half-open range type all three use.

use core::fmt;

use alloc::string::ToString;

use axvm_types::{AccessWidth, EmulatedDeviceConfig, GuestPhysAddr, Port, SysRegAddr};

use crate::error::DeviceError;

/// An address kind a device can be mapped in: [`GuestPhysAddr`] (MMIO), [`Port`] (x86 I/O
/// ports) or [`SysRegAddr`] (trapped system registers).
///
/// The bus works on the raw `usize` value of an address; this trait converts both ways and
/// bounds the space, so one bus engine serves every kind.
pub trait DeviceAddr: Copy + Ord + fmt::Debug + fmt::Display + Send + Sync + 'static {
    /// The kind's name in messages: "MMIO", "port" or "system register".
    const KIND: &'static str;
    /// The exclusive end of the address space. A window must end at or below it.
    const LIMIT: usize;

    /// The raw address.
    fn to_usize(self) -> usize;

    /// The address with raw value `raw`, or `None` if `raw` is outside the space.
    fn from_usize(raw: usize) -> Option<Self>;

    /// How many addresses an access of `width` covers: its size in bytes for memory and
    /// ports.
    fn access_len(width: AccessWidth) -> usize {
        width.size()
    }
}

impl DeviceAddr for GuestPhysAddr {
    const KIND: &'static str = "MMIO";
    // The last byte of the space is given up so that every window end fits a `usize`.
    const LIMIT: usize = usize::MAX;

    fn to_usize(self) -> usize {
        self.as_usize()
    }

    fn from_usize(raw: usize) -> Option<Self> {
        Some(GuestPhysAddr::from(raw))
    }
}

impl DeviceAddr for Port {
    const KIND: &'static str = "port";
    const LIMIT: usize = 0x1_0000;

    fn to_usize(self) -> usize {
        usize::from(self.0)
    }

    fn from_usize(raw: usize) -> Option<Self> {
        u16::try_from(raw).ok().map(Port)
    }
}

impl DeviceAddr for SysRegAddr {
    const KIND: &'static str = "system register";
    const LIMIT: usize = usize::MAX;

    fn to_usize(self) -> usize {
        self.0
    }

    fn from_usize(raw: usize) -> Option<Self> {
        Some(Self(raw))
    }

    /// One: a system-register address names a whole register (the width is the
    /// register's, not a run of neighbouring encodings), so a one-register window serves
    /// the 64-bit accesses hypervisors make.
    fn access_len(_width: AccessWidth) -> usize {
        1
    }
}

/// Why a window cannot be a [`DeviceRange`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeError {
    /// The window has no addresses.
    Empty,
    /// The window runs past the end of its address space.
    OutOfSpace,
}

/// A non-empty half-open window `[start, end)` of addresses of kind `A`.
///
/// The end is kept as a raw `usize` so that a window may end exactly at the top of its
/// space (port 0xffff is the last byte of `[0xfff8, 0x10000)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceRange<A> {
    start: A,
    end: usize,
}

/// A window of guest physical addresses.
pub type MmioRange = DeviceRange<GuestPhysAddr>;
/// A window of x86 I/O ports.
pub type PortRange = DeviceRange<Port>;
/// A window of system-register encodings.
pub type SysRegRange = DeviceRange<SysRegAddr>;

impl<A: DeviceAddr> DeviceRange<A> {
    /// The window of `size` addresses starting at `start`.
    ///
    /// # Errors
    ///
    /// [`RangeError::Empty`] if `size` is 0, [`RangeError::OutOfSpace`] if the window ends
    /// past [`DeviceAddr::LIMIT`].
    pub fn new(start: A, size: usize) -> Result<Self, RangeError> {
        if size == 0 {
            return Err(RangeError::Empty);
        }
        match start.to_usize().checked_add(size) {
            Some(end) if end <= A::LIMIT => Ok(Self { start, end }),
            _ => Err(RangeError::OutOfSpace),
        }
    }

    /// The window of `size` addresses starting at raw address `start`.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new); a `start` outside the space is [`RangeError::OutOfSpace`].
    pub fn from_raw(start: usize, size: usize) -> Result<Self, RangeError> {
        let start = A::from_usize(start).ok_or(RangeError::OutOfSpace)?;
        Self::new(start, size)
    }

    /// The window `[base_gpa, base_gpa + length)` of a device config, read as addresses of
    /// kind `A`.
    ///
    /// # Errors
    ///
    /// [`DeviceError::EmptyWindow`] or [`DeviceError::WindowOutOfSpace`], naming the device.
    pub fn for_config(config: &EmulatedDeviceConfig) -> Result<Self, DeviceError> {
        Self::from_raw(config.base_gpa, config.length).map_err(|error| match error {
            RangeError::Empty => DeviceError::EmptyWindow {
                kind: A::KIND,
                name: config.name.to_string(),
            },
            RangeError::OutOfSpace => DeviceError::WindowOutOfSpace {
                kind: A::KIND,
                name: config.name.to_string(),
                base: config.base_gpa,
                length: config.length,
                limit: A::LIMIT,
            },
        })
    }

    /// The first address.
    #[must_use]
    pub const fn start(&self) -> A {
        self.start
    }

    /// The raw exclusive end.
    #[must_use]
    pub const fn end(&self) -> usize {
        self.end
    }

    /// The number of addresses in the window (never 0).
    #[must_use]
    pub fn size(&self) -> usize {
        // `end > start` is the type's invariant, so this never saturates.
        self.end.saturating_sub(self.start.to_usize())
    }

    /// Whether `addr` lies in the window.
    #[must_use]
    pub fn contains(&self, addr: A) -> bool {
        self.start <= addr && addr.to_usize() < self.end
    }

    /// Whether all `len` addresses from `addr` on lie in the window.
    #[must_use]
    pub fn contains_access(&self, addr: A, len: usize) -> bool {
        self.start <= addr
            && addr
                .to_usize()
                .checked_add(len)
                .is_some_and(|end| end <= self.end)
    }

    /// The offset of `addr` from the start, or `None` if `addr` is outside the window.
    #[must_use]
    pub fn offset_of(&self, addr: A) -> Option<usize> {
        if self.contains(addr) {
            addr.to_usize().checked_sub(self.start.to_usize())
        } else {
            None
        }
    }

    /// Whether the two windows share an address.
    #[must_use]
    pub fn overlaps(&self, other: &Self) -> bool {
        self.start.to_usize() < other.end && other.start.to_usize() < self.end
    }
}

impl<A: DeviceAddr> fmt::Display for DeviceRange<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {:#x})", self.start, self.end)
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use super::*;

    #[test]
    fn ranges_are_half_open_and_never_empty() {
        let range = PortRange::new(Port(0x3f8), 8).unwrap();
        assert!(range.contains(Port(0x3f8)));
        assert!(range.contains(Port(0x3ff)));
        assert!(!range.contains(Port(0x400)));
        assert!(!range.contains(Port(0x3f7)));
        assert_eq!(range.size(), 8);
        assert_eq!(range.offset_of(Port(0x3fa)), Some(2));
        assert_eq!(range.offset_of(Port(0x400)), None);
        assert_eq!(PortRange::new(Port(0x3f8), 0), Err(RangeError::Empty));
        assert_eq!(range.to_string(), "[Port:0x3f8, 0x400)");
    }

    #[test]
    fn a_window_may_end_at_the_top_of_its_space_but_not_past_it() {
        let top = PortRange::new(Port(0xfff8), 8).unwrap();
        assert!(top.contains(Port(0xffff)));
        assert_eq!(top.end(), 0x1_0000);
        assert_eq!(PortRange::new(Port(0xfff8), 9), Err(RangeError::OutOfSpace));
        assert_eq!(
            PortRange::from_raw(0x1_0000, 1),
            Err(RangeError::OutOfSpace)
        );
        assert_eq!(
            MmioRange::from_raw(usize::MAX - 1, 2),
            Err(RangeError::OutOfSpace)
        );
        assert!(MmioRange::from_raw(usize::MAX - 1, 1).is_ok());
    }

    #[test]
    fn accesses_must_fit_entirely() {
        let range = MmioRange::from_raw(0x1000, 0x10).unwrap();
        assert!(range.contains_access(GuestPhysAddr::from(0x100c), 4));
        assert!(!range.contains_access(GuestPhysAddr::from(0x100d), 4));
        assert!(!range.contains_access(GuestPhysAddr::from(0xfff), 1));
        assert!(!range.contains_access(GuestPhysAddr::from(usize::MAX), 8));
    }

    #[test]
    fn overlap_is_symmetric_and_touching_windows_do_not_overlap() {
        let a = SysRegRange::from_raw(10, 10).unwrap();
        let b = SysRegRange::from_raw(19, 5).unwrap();
        let c = SysRegRange::from_raw(20, 5).unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c) && !c.overlaps(&a));
    }
}
