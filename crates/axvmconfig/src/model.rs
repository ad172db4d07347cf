//! The typed form of a VM config file.

use alloc::{string::String, vec::Vec};

use axvm_types::{
    EmulatedDeviceConfig, PassThroughAddressConfig, PassThroughDeviceConfig, PassThroughPortConfig,
    VMBootProtocol, VMInterruptMode, VMType, VmImageLocation, VmMemConfig,
};

/// A whole VM config file: its `[base]`, `[kernel]` and `[devices]` tables.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AxVMCrateConfig {
    /// `[base]`: identity and vCPUs.
    pub base: VMBaseConfig,
    /// `[kernel]`: images, entry point and memory.
    pub kernel: VMKernelConfig,
    /// `[devices]`: emulated and passed-through devices (the table is optional).
    pub devices: VMDevicesConfig,
}

/// The `[base]` table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VMBaseConfig {
    /// The VM's id; any value, 0 included.
    pub id: usize,
    /// A name for logs.
    pub name: String,
    /// The kind of guest (`vm_type`, default [`VMType::VMTRTOS`]).
    pub vm_type: VMType,
    /// The number of vCPUs, 1 to [`axvm_types::MAX_VCPU_NUM`].
    pub cpu_num: usize,
    /// For each vCPU, the id of the physical CPU it runs on.
    pub phys_cpu_ids: Option<Vec<usize>>,
    /// For each vCPU, a bit mask of the physical CPUs it may run on.
    pub phys_cpu_sets: Option<Vec<usize>>,
}

/// The `[kernel]` table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VMKernelConfig {
    /// Guest physical address where the bootstrap vCPU starts.
    pub entry_point: usize,
    /// Path of the kernel image (relative paths are relative to the config file).
    pub kernel_path: String,
    /// Guest physical address the kernel image is loaded at.
    pub kernel_load_addr: usize,
    /// Whether a BIOS image is loaded and run before the kernel.
    pub enable_bios: bool,
    /// How control is handed to the kernel.
    pub boot_protocol: VMBootProtocol,
    /// Path of the BIOS image.
    pub bios_path: Option<String>,
    /// Guest physical address the BIOS is loaded at.
    pub bios_load_addr: Option<usize>,
    /// Path of the device tree blob.
    pub dtb_path: Option<String>,
    /// Guest physical address the device tree blob is loaded at.
    pub dtb_load_addr: Option<usize>,
    /// Path of the initial ramdisk.
    pub ramdisk_path: Option<String>,
    /// Guest physical address the ramdisk is loaded at.
    pub ramdisk_load_addr: Option<usize>,
    /// Where the hypervisor finds the images.
    pub image_location: Option<VmImageLocation>,
    /// The kernel command line.
    pub cmdline: Option<String>,
    /// Path of a disk image for an emulated block device.
    pub disk_path: Option<String>,
    /// The guest's memory regions.
    pub memory_regions: Vec<VmMemConfig>,
}

/// The `[devices]` table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VMDevicesConfig {
    /// Emulated devices.
    pub emu_devices: Vec<EmulatedDeviceConfig>,
    /// Devices passed through to the guest.
    pub passthrough_devices: Vec<PassThroughDeviceConfig>,
    /// Address ranges passed through to the guest (identity-mapped).
    pub passthrough_addresses: Vec<PassThroughAddressConfig>,
    /// x86 I/O port ranges passed through to the guest.
    pub passthrough_ports: Vec<PassThroughPortConfig>,
    /// Host device-tree paths never passed through.
    pub excluded_devices: Vec<Vec<String>>,
    /// How interrupts reach the guest.
    pub interrupt_mode: VMInterruptMode,
}
