//! The device bus: an ordered set of non-overlapping windows with predecessor lookup.

use alloc::{string::ToString, vec::Vec};

use axvm_types::AccessWidth;

use self::index::StartIndex;
use crate::{
    addr::{DeviceAddr, DeviceRange},
    error::DeviceError,
    traits::{BaseDeviceOps, SharedDevice},
};

mod index;
#[cfg(test)]
mod tests;

/// Up to this many devices, a scan of the windows (one or two cache lines, no table) is
/// the fastest lookup.
const SCAN_MAX: usize = 8;

/// The devices of one address kind, sorted by window start.
///
/// Lookup is a predecessor search: the last window starting at or below the address is
/// the only candidate, since windows never overlap. The search runs over a dense array of
/// window starts narrowed by a bucket table (see `index.rs`): O(1) for typical layouts,
/// O(log n) at worst; a bus of a few devices is simply scanned. The windows are kept in their own dense array too, so a lookup
/// touches few cache lines; registration, which is rare, pays for the rebuild.
pub struct DeviceBus<A: DeviceAddr> {
    index: StartIndex,
    ranges: Vec<DeviceRange<A>>,
    devices: Vec<SharedDevice<A>>,
}

impl<A: DeviceAddr> Default for DeviceBus<A> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: DeviceAddr> core::fmt::Debug for DeviceBus<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_map()
            .entries(
                self.iter_ranges()
                    .map(|(range, device)| (range, device.name())),
            )
            .finish()
    }
}

impl<A: DeviceAddr> DeviceBus<A> {
    /// An empty bus.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            index: StartIndex::new(),
            ranges: Vec::new(),
            devices: Vec::new(),
        }
    }

    /// The number of registered devices.
    #[must_use]
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// Whether no device is registered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// Registers `device` at its [`address_range`](BaseDeviceOps::address_range).
    ///
    /// # Errors
    ///
    /// [`DeviceError::Overlap`] naming both devices if the window overlaps a registered one.
    pub fn insert(&mut self, device: SharedDevice<A>) -> Result<(), DeviceError> {
        let range = device.address_range();
        let start = range.start().to_usize();
        let at = self.index.insertion_point(start);
        for neighbour in [at.checked_sub(1), Some(at)].into_iter().flatten() {
            let (Some(existing), Some(other)) =
                (self.ranges.get(neighbour), self.devices.get(neighbour))
            else {
                continue;
            };
            if existing.overlaps(&range) {
                return Err(DeviceError::Overlap {
                    kind: A::KIND,
                    name: device.name().to_string(),
                    start,
                    end: range.end(),
                    existing: other.name().to_string(),
                    existing_start: existing.start().to_usize(),
                    existing_end: existing.end(),
                });
            }
        }
        self.index.insert(at, start);
        self.ranges.insert(at, range);
        self.devices.insert(at, device);
        Ok(())
    }

    /// Removes the device whose window contains `addr` and returns it.
    pub fn remove(&mut self, addr: A) -> Option<SharedDevice<A>> {
        let at = self.position(addr)?;
        if at < self.devices.len() && at < self.ranges.len() {
            self.index.remove(at);
            self.ranges.remove(at);
            Some(self.devices.remove(at))
        } else {
            None
        }
    }

    fn position(&self, addr: A) -> Option<usize> {
        let raw = addr.to_usize();
        let at = self.index.upper_bound(raw).checked_sub(1)?;
        (raw < self.ranges.get(at)?.end()).then_some(at)
    }

    /// The device whose window contains `addr`, with that window.
    #[must_use]
    #[inline]
    pub fn find(&self, addr: A) -> Option<(DeviceRange<A>, &SharedDevice<A>)> {
        let at = if self.ranges.len() <= SCAN_MAX {
            self.ranges.iter().position(|range| range.contains(addr))?
        } else {
            self.position(addr)?
        };
        Some((*self.ranges.get(at)?, self.devices.get(at)?))
    }

    /// The registered devices in window order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &SharedDevice<A>> + '_ {
        self.devices.iter()
    }

    /// The registered windows in order, each with its device.
    pub fn iter_ranges(
        &self,
    ) -> impl ExactSizeIterator<Item = (DeviceRange<A>, &SharedDevice<A>)> + '_ {
        self.ranges.iter().copied().zip(self.devices.iter())
    }

    /// The device that takes a `width` access at `addr`: on every guest access, so the
    /// errors are built out of line, only for a miss.
    #[inline]
    fn target(&self, addr: A, width: AccessWidth) -> Result<&SharedDevice<A>, DeviceError> {
        match self.find(addr) {
            Some((range, device)) if range.contains_access(addr, A::access_len(width)) => {
                Ok(device)
            }
            found => Err(miss(addr, width, found)),
        }
    }

    /// Reads `width` bytes at `addr` from the device there.
    ///
    /// # Errors
    ///
    /// [`DeviceError::Unmapped`] if no window contains `addr`,
    /// [`DeviceError::CrossesWindow`] if the access runs past the window's end,
    /// [`DeviceError::Device`] if the device fails it.
    pub fn read(&self, addr: A, width: AccessWidth) -> Result<usize, DeviceError> {
        let device = self.target(addr, width)?;
        device
            .handle_read(addr, width)
            .map(|value| value & width_mask(width))
            .map_err(|error| device_error(device.as_ref(), addr, error))
    }

    /// Writes the low `width` bytes of `val` at `addr` to the device there.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    pub fn write(&self, addr: A, width: AccessWidth, val: usize) -> Result<(), DeviceError> {
        let device = self.target(addr, width)?;
        device
            .handle_write(addr, width, val & width_mask(width))
            .map_err(|error| device_error(device.as_ref(), addr, error))
    }
}

/// Why an access at `addr` found no device to take it: none there (`found` is `None`),
/// or the one there ends before the access does.
#[cold]
#[inline(never)]
fn miss<A: DeviceAddr>(
    addr: A,
    width: AccessWidth,
    found: Option<(DeviceRange<A>, &SharedDevice<A>)>,
) -> DeviceError {
    match found {
        None => DeviceError::Unmapped {
            kind: A::KIND,
            addr: addr.to_usize(),
            width,
        },
        Some((range, device)) => DeviceError::CrossesWindow {
            kind: A::KIND,
            name: device.name().to_string(),
            addr: addr.to_usize(),
            width,
            end: range.end(),
        },
    }
}

fn width_mask(width: AccessWidth) -> usize {
    usize::try_from(width.mask()).unwrap_or(usize::MAX)
}

#[cold]
#[inline(never)]
fn device_error<A: DeviceAddr>(
    device: &dyn BaseDeviceOps<A>,
    addr: A,
    error: axvm_types::AxVmError,
) -> DeviceError {
    DeviceError::Device {
        kind: A::KIND,
        name: device.name().to_string(),
        addr: addr.to_usize(),
        error,
    }
}
