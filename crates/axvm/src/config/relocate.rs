//! Moving images and memory: where the kernel goes when the host places an
//! identical region somewhere other than the config said.

use axvm_types::{AxVmError, AxVmResult, GuestPhysAddr};

use super::{AxVCpuConfig, AxVMConfig};

/// How far above an identical region's start the kernel goes when a BIOS sits below it.
const KERNEL_OFFSET_WITH_BIOS: usize = 0x20_0000;

impl AxVMConfig {
    /// Moves the kernel to `new_load`, keeping each entry point's offset from the load
    /// address.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when an entry point lies below the current load address (no
    /// offset to keep) or the moved entry would overflow; nothing changes then.
    pub fn relocate_kernel_image(&mut self, new_load: GuestPhysAddr) -> AxVmResult {
        let old_load = self.image_config.kernel_load_gpa.as_usize();
        let moved = |entry: GuestPhysAddr| {
            entry
                .as_usize()
                .checked_sub(old_load)
                .and_then(|offset| new_load.as_usize().checked_add(offset))
                .map(GuestPhysAddr::from)
                .ok_or(AxVmError::InvalidInput)
        };
        let bsp_entry = moved(self.cpu_config.bsp_entry)?;
        let ap_entry = moved(self.cpu_config.ap_entry)?;
        self.cpu_config = AxVCpuConfig {
            bsp_entry,
            ap_entry,
        };
        self.image_config.kernel_load_gpa = new_load;
        Ok(())
    }

    /// Relocates the kernel into an identity-mapped main memory region placed at
    /// `region_start`: the kernel goes to the region's start, or 2 MiB above it when a
    /// BIOS is present.
    ///
    /// # Errors
    ///
    /// As [`relocate_kernel_image`](Self::relocate_kernel_image).
    pub fn relocate_to_identical_region(&mut self, region_start: GuestPhysAddr) -> AxVmResult {
        let offset = if self.image_config.bios_load_gpa.is_some() {
            KERNEL_OFFSET_WITH_BIOS
        } else {
            0
        };
        let load = region_start
            .as_usize()
            .checked_add(offset)
            .ok_or(AxVmError::InvalidInput)?;
        self.relocate_kernel_image(GuestPhysAddr::from(load))
    }

    /// Moves memory region `index` to `new_gpa` (where the host placed an identical
    /// region), and with it everything the config puts inside it: the kernel, BIOS,
    /// DTB and ramdisk load addresses and the entry points each keep their offset
    /// from the region's start, so images that did not overlap still do not, and an
    /// image outside the region stays where it is.
    ///
    /// [`AxVM::new`](crate::AxVM::new) does this for each identical region the host
    /// places elsewhere.
    ///
    /// # Errors
    ///
    /// `NotFound` when there is no region `index`; `InvalidInput` when the moved
    /// region or an address in it would overflow. Nothing changes then.
    pub fn relocate_region(&mut self, index: usize, new_gpa: GuestPhysAddr) -> AxVmResult {
        let region = *self.memory_regions.get(index).ok_or(AxVmError::NotFound)?;
        let old_start = region.gpa;
        let new_start = new_gpa.as_usize();
        new_start
            .checked_add(region.size)
            .ok_or(AxVmError::InvalidInput)?;
        let moved = |addr: GuestPhysAddr| -> AxVmResult<GuestPhysAddr> {
            if !region.contains(addr.as_usize()) {
                return Ok(addr);
            }
            addr.as_usize()
                .checked_sub(old_start)
                .and_then(|offset| new_start.checked_add(offset))
                .map(GuestPhysAddr::from)
                .ok_or(AxVmError::InvalidInput)
        };
        let images = &self.image_config;
        let kernel_load_gpa = moved(images.kernel_load_gpa)?;
        let bios_load_gpa = images.bios_load_gpa.map(moved).transpose()?;
        let dtb_load_gpa = images.dtb_load_gpa.map(moved).transpose()?;
        let mut ramdisk = images.ramdisk;
        if let Some(info) = &mut ramdisk {
            info.load_gpa = moved(info.load_gpa)?;
        }
        let cpu_config = AxVCpuConfig {
            bsp_entry: moved(self.cpu_config.bsp_entry)?,
            ap_entry: moved(self.cpu_config.ap_entry)?,
        };
        self.image_config.kernel_load_gpa = kernel_load_gpa;
        self.image_config.bios_load_gpa = bios_load_gpa;
        self.image_config.dtb_load_gpa = dtb_load_gpa;
        self.image_config.ramdisk = ramdisk;
        self.cpu_config = cpu_config;
        if let Some(region) = self.memory_regions.get_mut(index) {
            region.gpa = new_start;
        }
        Ok(())
    }
}
