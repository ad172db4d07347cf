//! Where images go when the config's address is only a wish: an arm64 or riscv64
//! Linux `Image` at the address its header allows, and a device tree the config
//! gives no address for.

use axvm_types::{Arch, AxVmError, AxVmResult, VmMemConfig, VmMemMappingType};

use crate::{AxVMConfig, fdt::DTB_MAX_SIZE, kernel_image::KernelImage};

/// The alignment of a device tree placed by default: a 2 MiB block that holds all
/// of it, since the kernel maps it with blocks of up to 2 MiB.
const DTB_ALIGN_MASK: usize = !(0x20_0000 - 1);

/// Where a kernel image goes and what it occupies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KernelPlacement {
    /// Its load address.
    pub load: usize,
    /// Bytes kept free for it from `load` (an `Image`'s `image_size`, `.bss`
    /// included), at least the file's length.
    pub reserved: usize,
    /// The entry point it needs (an `Image` starts at its first byte), or `None` to
    /// keep the config's.
    pub entry: Option<usize>,
}

/// Where `image` goes in a VM built from `config`.
///
/// A raw binary (or any kernel on x86_64) goes to the config's `kernel_load_addr`
/// and keeps its entry point. A Linux `Image` of the VM's architecture goes to the
/// first address at or above `kernel_load_addr` that its header allows (see
/// [`KernelImage::load_address`]: arm64 a 2 MiB-aligned base plus its
/// `text_offset`; riscv64 a 2 MiB boundary at least `text_offset` past the start of
/// the region), inside the RAM region that holds `kernel_load_addr`, with its whole
/// `image_size` in that region; it is entered at its load address.
///
/// # Errors
///
/// `BadAddress` (logged) when no RAM region holds `kernel_load_addr`, or the
/// `Image`'s reserved size does not fit the region from the aligned address.
pub(crate) fn place_kernel(config: &AxVMConfig, image: &[u8]) -> AxVmResult<KernelPlacement> {
    let requested = config.image_config().kernel_load_gpa.as_usize();
    let header = match config.arch() {
        Arch::Aarch64 => KernelImage::parse_arm64(image),
        Arch::Riscv64 => KernelImage::parse_riscv64(image),
        Arch::X86_64 => None,
    };
    let Some(header) = header else {
        return Ok(KernelPlacement {
            load: requested,
            reserved: image.len(),
            entry: None,
        });
    };
    let region = config
        .memory_regions()
        .iter()
        .find(|region| is_ram(region) && region.contains(requested))
        .ok_or_else(|| {
            log::error!(
                "VM {}: no RAM region holds the kernel load address {requested:#x}",
                config.id()
            );
            AxVmError::BadAddress
        })?;
    let footprint = usize::try_from(header.footprint()).map_err(|_| AxVmError::BadAddress)?;
    let reserved = footprint.max(image.len());
    let load = header
        .load_address(region.gpa as u64, requested as u64)
        .and_then(|load| usize::try_from(load).ok());
    let fits = load
        .and_then(|load| load.checked_add(reserved))
        .zip(region.end())
        .is_some_and(|(end, region_end)| end <= region_end);
    match load {
        Some(load) if fits => Ok(KernelPlacement {
            load,
            reserved,
            entry: Some(load),
        }),
        _ => {
            log::error!(
                "VM {}: the {:?} Image (text offset {:#x}, {reserved:#x} bytes) does not fit \
                 the RAM region at {:#x} (+{:#x}) from {requested:#x}",
                config.id(),
                header.arch,
                header.text_offset,
                region.gpa,
                region.size
            );
            Err(AxVmError::BadAddress)
        }
    }
}

/// Where a device tree of `len` bytes goes when the config gives no
/// `dtb_load_addr`: the highest 2 MiB-aligned address in the first RAM region
/// (in config order) from which all `len` bytes stay in the region and touch none
/// of the `occupied` `(gpa, len)` ranges (the kernel with its reserved size, the
/// ramdisk, ...). `None` when there is no such address or `len` is 0 or over
/// [`DTB_MAX_SIZE`].
pub(crate) fn default_dtb_gpa(
    regions: &[VmMemConfig],
    occupied: &[(usize, usize)],
    len: usize,
) -> Option<usize> {
    if len == 0 || len > DTB_MAX_SIZE {
        return None;
    }
    let region = regions.iter().find(|region| is_ram(region))?;
    let start = region.gpa;
    let end = region.end()?;
    let free = |at: usize| {
        at >= start
            && at.checked_add(len).is_some_and(|dtb_end| {
                dtb_end <= end
                    && occupied
                        .iter()
                        .all(|&(gpa, size)| dtb_end <= gpa || gpa.saturating_add(size) <= at)
            })
    };
    // The best address is just below the region's end or just below an occupied
    // range: only those can be the highest free one.
    core::iter::once(end)
        .chain(occupied.iter().map(|&(gpa, _)| gpa))
        .filter_map(|limit| limit.checked_sub(len))
        .map(|at| at & DTB_ALIGN_MASK)
        .filter(|&at| free(at))
        .max()
}

/// Whether the VM maps RAM for `region` (a `reserved` one it does not).
fn is_ram(region: &VmMemConfig) -> bool {
    region.map_type != VmMemMappingType::MapReserved && region.size != 0
}

#[cfg(test)]
mod tests;
