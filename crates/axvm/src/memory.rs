//! Building a VM's guest memory from its config: the RAM regions (overlapping ones
//! included) and the pass-through ranges.

use alloc::vec::Vec;

use axaddrspace::{AddrSpace, NestedFormat, NestedTlb};
use axvm_types::{
    AxVmError, AxVmResult, GuestPhysAddr, HostPhysAddr, MappingFlags, VmMemMappingType,
};

use crate::{AxVMConfig, AxVMHal};

/// The granule of guest memory mappings.
const PAGE_SIZE: usize = 0x1000;

/// Maps the configured memory and pass-through ranges; records identical regions
/// reserved from the host in `identical` (released by the caller on error).
///
/// - `alloc` regions get frames lazily, on nested page faults.
/// - `identical` regions are reserved from the host with
///   [`AxVMHal::alloc_identical_region`]; one the host places elsewhere moves there
///   with everything inside it ([`AxVMConfig::relocate_region`]).
/// - `reserved` regions are not mapped: the guest knows of them, the VM maps nothing.
/// - Where RAM regions overlap, each page is mapped from the first region (in config
///   order) that covers it; a later region maps only the pages not yet mapped.
/// - Pass-through devices map `base_gpa` to `base_hpa`, pass-through addresses to
///   the same host address, as whole pages with device attributes, each only after
///   `AxMmHal::linear_memory` accepted the host range (`PermissionDenied`
///   otherwise).
pub(crate) fn map_memory<H: AxVMHal, F: NestedFormat, T: NestedTlb>(
    config: &mut AxVMConfig,
    space: &mut AddrSpace<H, F, T>,
    identical: &mut Vec<(HostPhysAddr, usize)>,
) -> AxVmResult {
    let mut ram = Covered::default();
    for index in 0..config.memory_regions().len() {
        let Some(region) = config.memory_regions().get(index).copied() else {
            break;
        };
        let flags = region.mapping_flags().ok_or(AxVmError::InvalidInput)?;
        match region.map_type {
            VmMemMappingType::MapReserved => {}
            VmMemMappingType::MapAlloc => {
                for (start, end) in ram.claim(region.gpa, region.size)? {
                    let size = end.checked_sub(start).ok_or(AxVmError::InvalidInput)?;
                    space.map_alloc(GuestPhysAddr::from(start), size, flags, false)?;
                }
            }
            VmMemMappingType::MapIdentical => {
                let gpa = GuestPhysAddr::from(region.gpa);
                let hpa = H::alloc_identical_region(gpa, region.size).ok_or(AxVmError::NoMemory)?;
                identical.push((hpa, region.size));
                let base = hpa.as_usize();
                if base != region.gpa {
                    config.relocate_region(index, GuestPhysAddr::from(base))?;
                }
                for (start, end) in ram.claim(base, region.size)? {
                    let offset = start.checked_sub(base).ok_or(AxVmError::InvalidInput)?;
                    let size = end.checked_sub(start).ok_or(AxVmError::InvalidInput)?;
                    let host = base.checked_add(offset).ok_or(AxVmError::InvalidInput)?;
                    map_host(space, start, HostPhysAddr::from(host), size, flags)?;
                }
            }
        }
    }
    map_passthrough(config, space)
}

/// Gives the host back the identical regions it reserved for a VM.
pub(crate) fn release_identical<H: AxVMHal>(identical: &[(HostPhysAddr, usize)]) {
    for &(hpa, size) in identical {
        H::dealloc_identical_region(hpa, size);
    }
}

/// Maps every pass-through range the host vouches for.
fn map_passthrough<H: AxVMHal, F: NestedFormat, T: NestedTlb>(
    config: &AxVMConfig,
    space: &mut AddrSpace<H, F, T>,
) -> AxVmResult {
    let device = MappingFlags::READ | MappingFlags::WRITE | MappingFlags::DEVICE;
    let addresses = config
        .pass_through_addresses()
        .iter()
        .map(|range| (range.base_gpa, range.base_gpa, range.length));
    let devices = config
        .pass_through_devices()
        .iter()
        .filter(|dev| dev.length != 0)
        .map(|dev| (dev.base_gpa, dev.base_hpa, dev.length));
    for (gpa, hpa, length) in addresses.chain(devices) {
        // Pages take the guest page to the host page: both need the same offset in it.
        if gpa % PAGE_SIZE != hpa % PAGE_SIZE {
            return Err(AxVmError::InvalidInput);
        }
        let (gpa_start, size) = pages(gpa, length)?;
        let (hpa_start, _) = pages(hpa, length)?;
        let host = HostPhysAddr::from(hpa_start);
        // The host vouches for the range (`AxMmHal::linear_memory`) or refuses it.
        map_host(space, gpa_start, host, size, device).inspect_err(|error| {
            if *error == AxVmError::PermissionDenied {
                log::warn!(
                    "VM {}: the host refuses to pass through {host:?} (+{size:#x}) at GPA \
                     {gpa_start:#x}",
                    config.id()
                );
            }
        })?;
    }
    Ok(())
}

/// Maps guest `[gpa, gpa + size)` linearly onto host physical memory the host handed
/// out ([`AxVMHal::alloc_identical_region`]) or vouches for as guest memory
/// ([`AxMmHal::linear_memory`](axaddrspace::AxMmHal::linear_memory), which
/// `map_linear` asks): the one place a VM maps host memory it does not own.
fn map_host<H: AxVMHal, F: NestedFormat, T: NestedTlb>(
    space: &mut AddrSpace<H, F, T>,
    gpa: usize,
    hpa: HostPhysAddr,
    size: usize,
    flags: MappingFlags,
) -> AxVmResult {
    space.map_linear(GuestPhysAddr::from(gpa), hpa, size, flags)
}

/// The whole pages `[start, start + length)` touches: their start and total size.
fn pages(start: usize, length: usize) -> AxVmResult<(usize, usize)> {
    let mask = PAGE_SIZE.wrapping_sub(1);
    let first = start & !mask;
    let end = start
        .checked_add(length)
        .and_then(|end| end.checked_add(mask))
        .ok_or(AxVmError::InvalidInput)?
        & !mask;
    let size = end.checked_sub(first).ok_or(AxVmError::InvalidInput)?;
    Ok((first, size))
}

/// Guest-physical ranges already given to RAM: sorted, disjoint `[start, end)` pairs.
#[derive(Debug, Default)]
struct Covered(Vec<(usize, usize)>);

impl Covered {
    /// Claims `[start, start + size)` and returns the parts of it not claimed before,
    /// in order: what the region that asks still has to map.
    fn claim(&mut self, start: usize, size: usize) -> AxVmResult<Vec<(usize, usize)>> {
        let end = start.checked_add(size).ok_or(AxVmError::InvalidInput)?;
        // The claimed ranges that overlap [start, end) are `first..last`.
        let first = self.0.partition_point(|&(_, e)| e <= start);
        let rest = self.0.get(first..).unwrap_or_default();
        let last = first.saturating_add(rest.partition_point(|&(s, _)| s < end));
        let overlapping = self.0.get(first..last).unwrap_or_default();
        let mut free = Vec::new();
        let mut at = start;
        for &(s, e) in overlapping {
            if s > at {
                free.push((at, s));
            }
            at = at.max(e);
        }
        if at < end {
            free.push((at, end));
        }
        let merged = (
            overlapping.first().map_or(start, |&(s, _)| s.min(start)),
            overlapping.last().map_or(end, |&(_, e)| e.max(end)),
        );
        self.0.splice(first..last, [merged]);
        Ok(free)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_region_gets_only_what_is_left() {
        let mut covered = Covered::default();
        assert_eq!(covered.claim(0x1000, 0x1000).unwrap(), [(0x1000, 0x2000)]);
        assert_eq!(covered.claim(0x4000, 0x1000).unwrap(), [(0x4000, 0x5000)]);
        assert_eq!(
            covered.claim(0, 0x8000).unwrap(),
            [(0, 0x1000), (0x2000, 0x4000), (0x5000, 0x8000)]
        );
        assert_eq!(covered.claim(0x3000, 0x2000).unwrap(), []);
        assert_eq!(covered.0, [(0, 0x8000)]);
        assert_eq!(covered.claim(usize::MAX, 2), Err(AxVmError::InvalidInput));
    }

    #[test]
    fn pass_through_ranges_cover_whole_pages() {
        assert_eq!(pages(0x1000_0100, 0x100), Ok((0x1000_0000, 0x1000)));
        assert_eq!(pages(0x1000_0f00, 0x200), Ok((0x1000_0000, 0x2000)));
        assert_eq!(pages(usize::MAX - 0x10, 0x8), Err(AxVmError::InvalidInput));
    }
}
