//! `AxVMConfig`: a VM config turned into what building the VM needs.

mod apic;
mod relocate;

use alloc::{string::String, vec::Vec};

use axvm_types::{
    Arch, AxVmError, AxVmResult, EmulatedDeviceConfig, GuestPhysAddr, PassThroughAddressConfig,
    PassThroughDeviceConfig, PassThroughPortConfig, VMBootProtocol, VMId, VMInterruptMode, VMType,
    VmMemConfig,
};
use axvmconfig::{AxVMCrateConfig, X86_DEFAULT_BIOS_LOAD_ADDR};

use crate::fdt::FdtOptions;

pub use self::apic::X86_APIC_PAGE;

/// Where the vCPUs start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AxVCpuConfig {
    /// Entry of the bootstrap vCPU.
    pub bsp_entry: GuestPhysAddr,
    /// Entry of the other vCPUs (until the guest starts them elsewhere).
    pub ap_entry: GuestPhysAddr,
}

/// A ramdisk's place in guest memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RamdiskInfo {
    /// Where it is loaded.
    pub load_gpa: GuestPhysAddr,
    /// Its size in bytes (0 until the image is loaded).
    pub size: usize,
}

/// Where the images go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VMImageConfig {
    /// The kernel's load address.
    pub kernel_load_gpa: GuestPhysAddr,
    /// The BIOS's load address; present only when the config enables the BIOS.
    pub bios_load_gpa: Option<GuestPhysAddr>,
    /// The device tree's load address.
    pub dtb_load_gpa: Option<GuestPhysAddr>,
    /// The ramdisk, when the config names one.
    pub ramdisk: Option<RamdiskInfo>,
}

/// The physical CPUs of a VM's vCPUs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PhysCpuList {
    cpu_num: usize,
    phys_cpu_ids: Option<Vec<usize>>,
    phys_cpu_sets: Option<Vec<usize>>,
}

impl PhysCpuList {
    /// A list for `cpu_num` vCPUs. Both lists, when given, need one entry per vCPU.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when a list's length differs from `cpu_num` (upstream only
    /// logged this and then indexed past the end).
    pub fn new(
        cpu_num: usize,
        phys_cpu_ids: Option<Vec<usize>>,
        phys_cpu_sets: Option<Vec<usize>>,
    ) -> AxVmResult<Self> {
        let fits = |list: &Option<Vec<usize>>| list.as_ref().is_none_or(|l| l.len() == cpu_num);
        if !fits(&phys_cpu_ids) || !fits(&phys_cpu_sets) {
            return Err(AxVmError::InvalidInput);
        }
        Ok(Self {
            cpu_num,
            phys_cpu_ids,
            phys_cpu_sets,
        })
    }

    /// The number of vCPUs.
    #[must_use]
    pub const fn cpu_num(&self) -> usize {
        self.cpu_num
    }

    /// The physical CPU each vCPU is pinned to, when the config names them.
    #[must_use]
    pub fn phys_cpu_ids(&self) -> Option<&[usize]> {
        self.phys_cpu_ids.as_deref()
    }

    /// The mask of physical CPUs each vCPU may run on, when the config gives them.
    #[must_use]
    pub fn phys_cpu_sets(&self) -> Option<&[usize]> {
        self.phys_cpu_sets.as_deref()
    }

    /// For each vCPU: `(vcpu_id, allowed physical CPU mask, preferred physical CPU id)`.
    /// Without `phys_cpu_ids`, vCPU `i` prefers physical CPU `i`.
    #[must_use]
    pub fn get_vcpu_affinities_pcpu_ids(&self) -> Vec<(usize, Option<usize>, usize)> {
        (0..self.cpu_num)
            .map(|vcpu| {
                let mask = self
                    .phys_cpu_sets
                    .as_ref()
                    .and_then(|s| s.get(vcpu).copied());
                let phys = self
                    .phys_cpu_ids
                    .as_ref()
                    .and_then(|ids| ids.get(vcpu).copied())
                    .unwrap_or(vcpu);
                (vcpu, mask, phys)
            })
            .collect()
    }
}

/// A VM's configuration, ready to build the VM from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AxVMConfig {
    arch: Arch,
    id: VMId,
    name: String,
    vm_type: VMType,
    /// The physical CPUs of the vCPUs.
    pub phys_cpu_ls: PhysCpuList,
    cpu_config: AxVCpuConfig,
    boot_protocol: VMBootProtocol,
    image_config: VMImageConfig,
    memory_regions: Vec<VmMemConfig>,
    emu_devices: Vec<EmulatedDeviceConfig>,
    pass_through_devices: Vec<PassThroughDeviceConfig>,
    pass_through_addresses: Vec<PassThroughAddressConfig>,
    pass_through_ports: Vec<PassThroughPortConfig>,
    pass_through_spis: Vec<u32>,
    excluded_devices: Vec<Vec<String>>,
    interrupt_mode: VMInterruptMode,
    cmdline: Option<String>,
    dtb_path: Option<String>,
    fdt_options: FdtOptions,
}

impl AxVMConfig {
    /// Builds the configuration of a VM for `arch` from a parsed config file, after
    /// checking every rule of `axvmconfig` again (a config built in code has not been).
    ///
    /// BIOS rules: a BIOS address exists only when `enable_bios`; an explicit
    /// `bios_load_addr` wins; on x86_64 it defaults to 0x8000.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when the config breaks a rule, enables a BIOS without a load
    /// address on an architecture that has no default, or (x86_64) maps RAM or a
    /// device over the local APIC page [`X86_APIC_PAGE`], which the vCPUs emulate.
    pub fn new(config: AxVMCrateConfig, arch: Arch) -> AxVmResult<Self> {
        config.validate().map_err(|errors| {
            for error in errors.errors() {
                log::warn!("VM config {}: {error}", config.base.name);
            }
            AxVmError::InvalidInput
        })?;
        if let Some((gpa, size)) = apic::overlap(&config).filter(|_| arch == Arch::X86_64) {
            log::warn!(
                "VM config {}: [{gpa:#x}, +{size:#x}) overlaps the local APIC page {X86_APIC_PAGE:#x?}",
                config.base.name
            );
            return Err(AxVmError::InvalidInput);
        }
        let AxVMCrateConfig {
            base,
            kernel,
            devices,
        } = config;
        let bios_load_gpa = if kernel.enable_bios {
            let default = (arch == Arch::X86_64).then_some(X86_DEFAULT_BIOS_LOAD_ADDR);
            Some(GuestPhysAddr::from(
                kernel
                    .bios_load_addr
                    .or(default)
                    .ok_or(AxVmError::InvalidInput)?,
            ))
        } else {
            None
        };
        let entry = GuestPhysAddr::from(kernel.entry_point);
        Ok(Self {
            arch,
            id: base.id,
            name: base.name,
            vm_type: base.vm_type,
            phys_cpu_ls: PhysCpuList::new(base.cpu_num, base.phys_cpu_ids, base.phys_cpu_sets)?,
            cpu_config: AxVCpuConfig {
                bsp_entry: entry,
                ap_entry: entry,
            },
            boot_protocol: kernel.boot_protocol,
            image_config: VMImageConfig {
                kernel_load_gpa: GuestPhysAddr::from(kernel.kernel_load_addr),
                bios_load_gpa,
                dtb_load_gpa: kernel.dtb_load_addr.map(GuestPhysAddr::from),
                ramdisk: kernel.ramdisk_load_addr.map(|gpa| RamdiskInfo {
                    load_gpa: GuestPhysAddr::from(gpa),
                    size: 0,
                }),
            },
            memory_regions: kernel.memory_regions,
            emu_devices: devices.emu_devices,
            pass_through_devices: devices.passthrough_devices,
            pass_through_addresses: devices.passthrough_addresses,
            pass_through_ports: devices.passthrough_ports,
            pass_through_spis: Vec::new(),
            excluded_devices: devices.excluded_devices,
            interrupt_mode: devices.interrupt_mode,
            cmdline: kernel.cmdline,
            dtb_path: kernel.dtb_path,
            fdt_options: FdtOptions::default(),
        })
    }

    /// The architecture the VM is built for.
    #[must_use]
    pub const fn arch(&self) -> Arch {
        self.arch
    }

    /// The VM's id.
    #[must_use]
    pub const fn id(&self) -> VMId {
        self.id
    }

    /// The VM's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The kind of guest.
    #[must_use]
    pub const fn vm_type(&self) -> VMType {
        self.vm_type
    }

    /// The number of vCPUs.
    #[must_use]
    pub const fn cpu_num(&self) -> usize {
        self.phys_cpu_ls.cpu_num()
    }

    /// How control reaches the guest (`[kernel] boot_protocol`). On x86_64 it
    /// decides the vCPUs' start mode, which the hypervisor chooses: `direct` and
    /// `uefi` start in real mode at the entry (a BIOS, firmware or real-mode boot
    /// stub), `multiboot` in 32-bit flat protected mode with paging off (in real
    /// mode when a BIOS runs first), with the Multiboot hand-off that
    /// [`AxVM::boot`](crate::AxVM::boot) writes. Other architectures ignore it.
    #[must_use]
    pub const fn boot_protocol(&self) -> VMBootProtocol {
        self.boot_protocol
    }

    /// The kernel command line (`[kernel] cmdline`): the generated device tree's
    /// `/chosen/bootargs`.
    #[must_use]
    pub fn cmdline(&self) -> Option<&str> {
        self.cmdline.as_deref()
    }

    /// The device tree blob the config names (`[kernel] dtb_path`); without one, an
    /// aarch64 or riscv64 VM with an interrupt controller gets a generated device
    /// tree at [`AxVM::boot`](crate::AxVM::boot).
    #[must_use]
    pub fn dtb_path(&self) -> Option<&str> {
        self.dtb_path.as_deref()
    }

    /// What a generated device tree says about the vCPUs beyond the config file
    /// (see [`FdtOptions`]); [`FdtOptions::default`] until
    /// [`set_fdt_options`](Self::set_fdt_options).
    #[must_use]
    pub const fn fdt_options(&self) -> &FdtOptions {
        &self.fdt_options
    }

    /// Sets what a generated device tree says about the vCPUs: the hypervisor
    /// knows what its vCPU backend offers (e.g. riscv64 `sstc` only when the
    /// backend enables Sstc). Set it before the VM is built.
    pub fn set_fdt_options(&mut self, options: FdtOptions) {
        self.fdt_options = options;
    }

    /// Where the images go.
    #[must_use]
    pub const fn image_config(&self) -> &VMImageConfig {
        &self.image_config
    }

    /// Records the ramdisk's size once its image is known.
    pub const fn set_ramdisk_size(&mut self, size: usize) {
        if let Some(ramdisk) = &mut self.image_config.ramdisk {
            ramdisk.size = size;
        }
    }

    /// The bootstrap vCPU's entry point.
    #[must_use]
    pub const fn bsp_entry(&self) -> GuestPhysAddr {
        self.cpu_config.bsp_entry
    }

    /// The other vCPUs' entry point.
    #[must_use]
    pub const fn ap_entry(&self) -> GuestPhysAddr {
        self.cpu_config.ap_entry
    }

    /// The memory regions.
    #[must_use]
    pub fn memory_regions(&self) -> &[VmMemConfig] {
        &self.memory_regions
    }

    /// The emulated devices.
    #[must_use]
    pub fn emu_devices(&self) -> &[EmulatedDeviceConfig] {
        &self.emu_devices
    }

    /// The passed-through devices.
    #[must_use]
    pub fn pass_through_devices(&self) -> &[PassThroughDeviceConfig] {
        &self.pass_through_devices
    }

    /// Adds a passed-through device.
    pub fn add_pass_through_device(&mut self, device: PassThroughDeviceConfig) {
        self.pass_through_devices.push(device);
    }

    /// Removes every passed-through device equal to `device`, keeping all the others
    /// (upstream kept only the removed one).
    pub fn remove_pass_through_device(&mut self, device: &PassThroughDeviceConfig) {
        self.pass_through_devices.retain(|d| d != device);
    }

    /// Removes every passed-through device.
    pub fn clear_pass_through_devices(&mut self) {
        self.pass_through_devices.clear();
    }

    /// Adds a passed-through shared peripheral interrupt.
    pub fn add_pass_through_spi(&mut self, spi: u32) {
        self.pass_through_spis.push(spi);
    }

    /// The passed-through shared peripheral interrupts.
    #[must_use]
    pub fn pass_through_spis(&self) -> &[u32] {
        &self.pass_through_spis
    }

    /// The passed-through address ranges.
    #[must_use]
    pub fn pass_through_addresses(&self) -> &[PassThroughAddressConfig] {
        &self.pass_through_addresses
    }

    /// The passed-through x86 port ranges.
    #[must_use]
    pub fn pass_through_ports(&self) -> &[PassThroughPortConfig] {
        &self.pass_through_ports
    }

    /// Host device-tree paths never passed through.
    #[must_use]
    pub fn excluded_devices(&self) -> &[Vec<String>] {
        &self.excluded_devices
    }

    /// How interrupts reach the guest.
    #[must_use]
    pub const fn interrupt_mode(&self) -> VMInterruptMode {
        self.interrupt_mode
    }
}

impl TryFrom<(AxVMCrateConfig, Arch)> for AxVMConfig {
    type Error = AxVmError;

    fn try_from((config, arch): (AxVMCrateConfig, Arch)) -> AxVmResult<Self> {
        Self::new(config, arch)
    }
}

#[cfg(test)]
mod tests;
