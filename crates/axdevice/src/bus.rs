//! The device bus: an ordered set of non-overlapping windows with predecessor lookup.

use alloc::{string::ToString, vec::Vec};

use axvm_types::AccessWidth;

use crate::{
    addr::{DeviceAddr, DeviceRange},
    error::DeviceError,
    traits::{BaseDeviceOps, SharedDevice},
};

#[cfg(test)]
mod tests;

/// A registered device with the window it had when registered.
struct Entry<A: DeviceAddr> {
    range: DeviceRange<A>,
    device: SharedDevice<A>,
}

/// The devices of one address kind, sorted by window start.
///
/// Lookup is a binary search for the last window starting at or below the address
/// (O(log n)); the window starts live in their own dense array so the search touches as
/// few cache lines as possible. Windows never overlap, so that window is the only
/// candidate.
pub struct DeviceBus<A: DeviceAddr> {
    starts: Vec<usize>,
    entries: Vec<Entry<A>>,
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
                self.entries
                    .iter()
                    .map(|entry| (entry.range, entry.device.name())),
            )
            .finish()
    }
}

impl<A: DeviceAddr> DeviceBus<A> {
    /// An empty bus.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            starts: Vec::new(),
            entries: Vec::new(),
        }
    }

    /// The number of registered devices.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no device is registered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Registers `device` at its [`address_range`](BaseDeviceOps::address_range).
    ///
    /// # Errors
    ///
    /// [`DeviceError::Overlap`] naming both devices if the window overlaps a registered one.
    pub fn insert(&mut self, device: SharedDevice<A>) -> Result<(), DeviceError> {
        let range = device.address_range();
        let start = range.start().to_usize();
        let index = self.starts.partition_point(|&s| s <= start);
        let neighbours = [index.checked_sub(1), Some(index)];
        for entry in neighbours
            .into_iter()
            .flatten()
            .filter_map(|i| self.entries.get(i))
        {
            if entry.range.overlaps(&range) {
                return Err(DeviceError::Overlap {
                    kind: A::KIND,
                    name: device.name().to_string(),
                    start,
                    end: range.end(),
                    existing: entry.device.name().to_string(),
                    existing_start: entry.range.start().to_usize(),
                    existing_end: entry.range.end(),
                });
            }
        }
        self.starts.insert(index, start);
        self.entries.insert(index, Entry { range, device });
        Ok(())
    }

    /// Removes the device whose window contains `addr` and returns it.
    pub fn remove(&mut self, addr: A) -> Option<SharedDevice<A>> {
        let index = self.index_of(addr)?;
        if index < self.entries.len() {
            self.starts.remove(index);
            Some(self.entries.remove(index).device)
        } else {
            None
        }
    }

    fn index_of(&self, addr: A) -> Option<usize> {
        let raw = addr.to_usize();
        let index = self.starts.partition_point(|&s| s <= raw).checked_sub(1)?;
        let entry = self.entries.get(index)?;
        (raw < entry.range.end()).then_some(index)
    }

    /// The device whose window contains `addr`, with that window.
    #[must_use]
    pub fn find(&self, addr: A) -> Option<(DeviceRange<A>, &SharedDevice<A>)> {
        let entry = self.entries.get(self.index_of(addr)?)?;
        Some((entry.range, &entry.device))
    }

    /// The registered devices in window order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &SharedDevice<A>> + '_ {
        self.entries.iter().map(|entry| &entry.device)
    }

    /// The registered windows in order, each with its device.
    pub fn iter_ranges(
        &self,
    ) -> impl ExactSizeIterator<Item = (DeviceRange<A>, &SharedDevice<A>)> + '_ {
        self.entries
            .iter()
            .map(|entry| (entry.range, &entry.device))
    }

    fn target(&self, addr: A, width: AccessWidth) -> Result<&SharedDevice<A>, DeviceError> {
        let (range, device) = self.find(addr).ok_or(DeviceError::Unmapped {
            kind: A::KIND,
            addr: addr.to_usize(),
            width,
        })?;
        if range.contains_access(addr, width.size()) {
            Ok(device)
        } else {
            Err(DeviceError::CrossesWindow {
                kind: A::KIND,
                name: device.name().to_string(),
                addr: addr.to_usize(),
                width,
                end: range.end(),
            })
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

fn width_mask(width: AccessWidth) -> usize {
    usize::try_from(width.mask()).unwrap_or(usize::MAX)
}

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
