//! What every platform's tree has: `/memory@..` for the guest RAM, `/cpus` with a
//! node per vCPU, `/chosen` with what the kernel is told at boot, and the console
//! lines and device windows the platform nodes describe.

use alloc::vec::Vec;

use axvm_types::{
    AxVmError, AxVmResult, EmulatedDeviceConfig, EmulatedDeviceType, VmMemConfig, VmMemMappingType,
};

use super::{
    Initrd,
    tree::{Tree, unit},
};
use crate::AxVMConfig;

/// One `/memory@<start>` node per range of guest RAM: each `alloc` or `identical`
/// region of the config (a `reserved` one is not mapped, so the guest must not
/// use it), regions that overlap merged into one range (node names must differ).
pub(super) fn memory(tree: &mut Tree, regions: &[VmMemConfig]) -> AxVmResult {
    for (start, end) in ram_ranges(regions)? {
        let size = end.checked_sub(start).ok_or(AxVmError::InvalidInput)?;
        tree.node(&unit("memory", start), |tree| {
            tree.string("device_type", "memory")?;
            tree.u64s("reg", &[start, size])
        })?;
    }
    Ok(())
}

/// `/cpus`: `#address-cells = 1`, `#size-cells = 0`, what `props` adds, and a
/// `cpu@<reg>` per entry of `regs` (vCPU 0 first) with `device_type = "cpu"`, its
/// `reg` and what `cpu` adds for that vCPU index.
pub(super) fn cpus(
    tree: &mut Tree,
    regs: &[u32],
    props: impl FnOnce(&mut Tree) -> AxVmResult,
    mut cpu: impl FnMut(&mut Tree, usize) -> AxVmResult,
) -> AxVmResult {
    tree.node("cpus", |tree| {
        tree.u32("#address-cells", 1)?;
        tree.u32("#size-cells", 0)?;
        props(tree)?;
        for (index, &reg) in regs.iter().enumerate() {
            tree.node(&unit("cpu", u64::from(reg)), |tree| {
                tree.string("device_type", "cpu")?;
                tree.u32("reg", reg)?;
                cpu(tree, index)
            })?;
        }
        Ok(())
    })
}

/// The console lines of the config, in config order (the first is `stdout-path`).
pub(super) fn consoles(config: &AxVMConfig) -> Vec<&EmulatedDeviceConfig> {
    config
        .emu_devices()
        .iter()
        .filter(|device| device.emu_type == EmulatedDeviceType::Console)
        .collect()
}

/// The `(base, size)` window of `device`, for its `reg`; `InvalidInput` when it
/// wraps around the address space.
pub(super) fn window(device: &EmulatedDeviceConfig) -> AxVmResult<(u64, u64)> {
    let (base, size) = (device.base_gpa as u64, device.length as u64);
    if base.checked_add(size).is_none() {
        log::warn!(
            "device tree: the window of {} ({base:#x}, +{size:#x}) wraps around",
            device.name
        );
        return Err(AxVmError::InvalidInput);
    }
    Ok((base, size))
}

/// `/chosen`: `bootargs` from the config's command line, `stdout-path` when the
/// platform has a console, and the initrd's `[start, end)` when one is loaded.
pub(super) fn chosen(
    tree: &mut Tree,
    config: &AxVMConfig,
    stdout: Option<&str>,
    initrd: Option<Initrd>,
) -> AxVmResult {
    tree.node("chosen", |tree| {
        if let Some(cmdline) = config.cmdline() {
            tree.string("bootargs", cmdline)?;
        }
        if let Some(path) = stdout {
            tree.string("stdout-path", path)?;
        }
        if let Some(initrd) = initrd {
            let start = initrd.start.as_usize() as u64;
            let end = start
                .checked_add(initrd.size as u64)
                .ok_or(AxVmError::InvalidInput)?;
            tree.u64s("linux,initrd-start", &[start])?;
            tree.u64s("linux,initrd-end", &[end])?;
        }
        Ok(())
    })
}

/// The guest RAM as sorted `[start, end)` ranges, overlapping regions merged and
/// empty ones left out; `InvalidInput` when a region's end overflows.
fn ram_ranges(regions: &[VmMemConfig]) -> AxVmResult<Vec<(u64, u64)>> {
    let mut ranges = regions
        .iter()
        .filter(|region| region.map_type != VmMemMappingType::MapReserved && region.size != 0)
        .map(|region| {
            let end = region.end().ok_or(AxVmError::InvalidInput)?;
            Ok((region.gpa as u64, end as u64))
        })
        .collect::<AxVmResult<Vec<_>>>()?;
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start < last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(gpa: usize, size: usize, map_type: VmMemMappingType) -> VmMemConfig {
        VmMemConfig {
            gpa,
            size,
            flags: 0x7,
            map_type,
        }
    }

    #[test]
    fn ram_ranges_merge_overlaps_and_skip_reserved_and_empty_regions() {
        use VmMemMappingType::{MapAlloc, MapIdentical, MapReserved};
        let regions = [
            region(0x8000_0000, 0x1000_0000, MapAlloc),
            region(0x4000_0000, 0x100_0000, MapIdentical),
            region(0x4080_0000, 0x100_0000, MapAlloc),
            region(0x4100_0000, 0x1000, MapAlloc),
            region(0x9000_0000, 0x1000, MapReserved),
            region(0xa000_0000, 0, MapAlloc),
        ];
        assert_eq!(
            ram_ranges(&regions).unwrap(),
            [(0x4000_0000, 0x4180_0000), (0x8000_0000, 0x9000_0000)]
        );
        let overflowing = [region(usize::MAX, 2, MapAlloc)];
        assert_eq!(ram_ranges(&overflowing), Err(AxVmError::InvalidInput));
    }
}
