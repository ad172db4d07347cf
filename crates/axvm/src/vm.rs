//! `AxVM`: a virtual machine built from an [`AxVMConfig`].

use alloc::{sync::Arc, vec::Vec};
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use axaddrspace::{AddrSpace, ArchTlb, NativeFormat, NestedFormat, NestedTlb};
use axdevice::{AxVmDevices, DeviceError, VirtualInterruptController};
use axvcpu::{AxArchVCpu, AxVCpu, AxVCpuExitReason, ExitKind};
use axvm_types::{
    Arch, AxVmError, AxVmResult, GuestPhysAddr, HostPhysAddr, MappingFlags, MemoryAddr,
    NestedPagingConfig, VCpuId, VCpuSet, VMBootProtocol, VMId,
};
use spin::{Mutex, MutexGuard};

use crate::{
    AxVMConfig, AxVMHal, GuestFault,
    boot::{boot_registers, multiboot_registers},
    fdt,
    ipi::{self, IpiRefused, IpiRequest, PendingIpis},
    irq::{self, HostNotifier},
    memory::{map_memory, release_identical},
    multiboot,
    placement::{default_dtb_gpa, place_kernel},
};

/// The granule of guest memory mappings.
const PAGE_SIZE: usize = 0x1000;

/// Where a VM is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum VMState {
    /// Being built: memory, images and devices are set up.
    Loading,
    /// Built and ready to boot.
    Ready,
    /// Booted; its vCPUs may run.
    Running,
    /// Paused by the hypervisor.
    Suspended,
    /// Shutting down: no vCPU may enter the guest any more.
    Stopping,
    /// Stopped, by the guest (power off) or because of a fault.
    Stopped,
}

impl VMState {
    const ALL: [Self; 6] = [
        Self::Loading,
        Self::Ready,
        Self::Running,
        Self::Suspended,
        Self::Stopping,
        Self::Stopped,
    ];

    fn from_u8(value: u8) -> Self {
        Self::ALL
            .get(usize::from(value))
            .copied()
            .unwrap_or(Self::Stopped)
    }
}

/// What the run loop does after the hypervisor's exit handler saw an exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitAction {
    /// The handler dealt with the exit: run the guest again.
    Resume,
    /// Return the exit from [`AxVM::run_vcpu_with`].
    Return,
}

/// What [`AxVM::new`] needs for each vCPU: the backend's create and setup configs.
pub struct VCpuConfigs<A: AxArchVCpu> {
    /// One `(create, setup)` pair per vCPU, in vCPU order.
    pub per_vcpu: Vec<(A::CreateConfig, A::SetupConfig)>,
}

/// A virtual machine: its configuration, guest memory, devices and vCPUs, and the
/// run loop that emulates what the guest touches.
///
/// `H` provides host memory, `A` is the architecture's vCPU backend, and `F`/`T`
/// the nested page-table format and its TLB maintenance (the build target's by
/// default).
pub struct AxVM<H: AxVMHal, A: AxArchVCpu, F: NestedFormat = NativeFormat, T: NestedTlb = ArchTlb> {
    config: AxVMConfig,
    space: Mutex<AddrSpace<H, F, T>>,
    paging: NestedPagingConfig,
    devices: AxVmDevices,
    /// The devices' interrupt controller, if the VM has one.
    irq: Option<Arc<dyn VirtualInterruptController>>,
    vcpus: Vec<Mutex<AxVCpu<A>>>,
    /// IPIs sent to each vCPU and not yet injected.
    ipis: PendingIpis,
    state: AtomicU8,
    fault: Mutex<Option<GuestFault>>,
    exits: [AtomicU64; ExitKind::ALL.len()],
    identical: Vec<(HostPhysAddr, usize)>,
    /// Every image loaded so far: what it is and the `(gpa, length)` it occupies
    /// (for a Linux `Image`, its whole reserved size).
    loaded: Mutex<Vec<(Image, usize, usize)>>,
}

impl<H: AxVMHal, A: AxArchVCpu, F: NestedFormat, T: NestedTlb> AxVM<H, A, F, T> {
    /// Builds a VM: maps its memory regions and pass-through ranges into `space`,
    /// takes its `devices`, and creates and sets up one vCPU per config entry with
    /// the boot registers of the config's architecture.
    ///
    /// Memory: `alloc` regions are populated lazily, on nested page faults (image
    /// loading populates what it writes); `identical` regions are reserved from the
    /// host with [`AxVMHal::alloc_identical_region`] and, if the host places one
    /// elsewhere, the region moves there with the images and entry points inside it
    /// ([`AxVMConfig::relocate_region`]); `reserved` regions are not mapped. Where RAM
    /// regions overlap, each page comes from the first region (in config order) that
    /// covers it. Pass-through devices map `base_gpa` to `base_hpa` (pass-through
    /// addresses to the same host address), as whole device pages, once
    /// `AxMmHal::linear_memory` accepted the host range.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when `vcpus` does not have one entry per configured vCPU or a
    /// region's flags are invalid; `PermissionDenied` when the host refuses a
    /// pass-through range; otherwise the address space's, the host's or the
    /// backend's error. Nothing is leaked on error.
    pub fn new(
        mut config: AxVMConfig,
        mut space: AddrSpace<H, F, T>,
        devices: AxVmDevices,
        vcpus: VCpuConfigs<A>,
    ) -> AxVmResult<Arc<Self>>
    where
        // The controller keeps a notifier that calls the host: a type, never a borrow.
        H: 'static,
    {
        if vcpus.per_vcpu.len() != config.cpu_num() {
            return Err(AxVmError::InvalidInput);
        }
        let mut identical = Vec::new();
        let mapped = map_memory::<H, F, T>(&mut config, &mut space, &mut identical);
        if let Err(error) = mapped {
            release_identical::<H>(&identical);
            return Err(error);
        }
        let paging = space.paging_config();
        let irq = devices.interrupt_controller();
        if irq.is_some() {
            devices.set_vcpu_notifier(HostNotifier::<H>::new(config.id()));
        }
        let ipis = PendingIpis::new(config.cpu_num());
        let mut vm = Self {
            config,
            space: Mutex::new(space),
            paging,
            devices,
            irq,
            vcpus: Vec::new(),
            ipis,
            state: AtomicU8::new(VMState::Loading as u8),
            fault: Mutex::new(None),
            exits: core::array::from_fn(|_| AtomicU64::new(0)),
            identical,
            loaded: Mutex::new(Vec::new()),
        };
        vm.create_vcpus(vcpus)?;
        vm.state.store(VMState::Ready as u8, Ordering::Release);
        Ok(Arc::new(vm))
    }

    fn create_vcpus(&mut self, configs: VCpuConfigs<A>) -> AxVmResult {
        let affinities = self.config.phys_cpu_ls.get_vcpu_affinities_pcpu_ids();
        let dtb = self.config.image_config().dtb_load_gpa;
        for ((vcpu_id, mask, phys), (create, setup)) in affinities.into_iter().zip(configs.per_vcpu)
        {
            let set = mask.map(|mask| VCpuSet::from_value(mask as u64));
            let mut vcpu = AxVCpu::new(self.config.id(), vcpu_id, phys, set, create)?;
            let entry = if vcpu.is_bsp() {
                self.config.bsp_entry()
            } else {
                self.config.ap_entry()
            };
            vcpu.setup(entry, self.paging, setup)?;
            if vcpu.is_bsp() {
                for (reg, value) in boot_registers(self.config.arch(), vcpu_id, dtb) {
                    vcpu.set_gpr(reg, value)?;
                }
            }
            self.vcpus.push(Mutex::new(vcpu));
        }
        Ok(())
    }

    /// The VM's id.
    #[must_use]
    pub const fn id(&self) -> VMId {
        self.config.id()
    }

    /// The VM's configuration (after any relocation).
    #[must_use]
    pub const fn config(&self) -> &AxVMConfig {
        &self.config
    }

    /// The nested paging the vCPUs use.
    #[must_use]
    pub const fn paging_config(&self) -> NestedPagingConfig {
        self.paging
    }

    /// The host physical address guest address `gpa` is mapped to, if its page is
    /// present (a lazily mapped RAM page is present once touched).
    #[must_use]
    pub fn translate(&self, gpa: GuestPhysAddr) -> Option<HostPhysAddr> {
        self.space.lock().translate(gpa)
    }

    /// The flags of the mapping that covers `gpa`, present or still to be faulted
    /// in; `None` where the VM maps nothing (e.g. a `reserved` region).
    #[must_use]
    pub fn mapping_flags(&self, gpa: GuestPhysAddr) -> Option<MappingFlags> {
        self.space.lock().mapping_flags(gpa)
    }

    /// The VM's emulated devices.
    #[must_use]
    pub const fn devices(&self) -> &AxVmDevices {
        &self.devices
    }

    /// The VM's interrupt controller model, if its devices have one: hosts feed it
    /// interrupts that arrive outside device emulation (the aarch64 virtual timer).
    #[must_use]
    pub fn interrupt_controller(&self) -> Option<&Arc<dyn VirtualInterruptController>> {
        self.irq.as_ref()
    }

    /// Whether vCPU `id` has an interrupt it could take now: one its VM's interrupt
    /// controller holds for it, or an IPI another vCPU sent it that its next entry
    /// injects. A host keeps a vCPU that waits for interrupts (a `Halt` exit) asleep
    /// until this holds (or the backend has one pending itself).
    #[must_use]
    pub fn has_deliverable_irq(&self, id: VCpuId) -> bool {
        self.ipis.is_pending(id)
            || self
                .irq
                .as_ref()
                .is_some_and(|controller| controller.has_deliverable(id))
    }

    /// The number of vCPUs.
    #[must_use]
    pub fn vcpu_num(&self) -> usize {
        self.vcpus.len()
    }

    /// Locks vCPU `id` for direct use (start it at an entry point, answer a
    /// hypercall, bind it to this physical CPU, ...).
    ///
    /// # Errors
    ///
    /// `NotFound` when the VM has no such vCPU.
    pub fn vcpu(&self, id: VCpuId) -> AxVmResult<MutexGuard<'_, AxVCpu<A>>> {
        self.vcpus
            .get(id)
            .map(Mutex::lock)
            .ok_or(AxVmError::NotFound)
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> VMState {
        VMState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Moves from one of `from` to `to`; `BadState` from any other state.
    fn transition(&self, from: &[VMState], to: VMState) -> AxVmResult {
        self.state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| {
                from.contains(&VMState::from_u8(current))
                    .then_some(to as u8)
            })
            .map(|_| ())
            .map_err(|_| AxVmError::BadState)
    }

    /// Starts the VM: Ready (or Suspended) → Running.
    ///
    /// From Ready, an x86_64 VM with `boot_protocol = "multiboot"` first gets its
    /// Multiboot hand-off: the information structure (see [`multiboot`]) is
    /// written into a RAM page no loaded image touches, and vCPU 0 gets
    /// EAX = 0x2BADB002 and EBX = its address. An aarch64 or riscv64 VM with an
    /// interrupt controller (a GIC; a PLIC) whose config names no `dtb_path` and
    /// that had no DTB loaded gets the [generated](Self::generate_dtb) device tree,
    /// loaded as by [`load_dtb`](Self::load_dtb). Load the images before booting.
    ///
    /// # Errors
    ///
    /// `BadState` from any other state; `NoMemory` (logged) when a Multiboot VM has
    /// no free RAM page for the information structure, or there is no room for the
    /// generated device tree; otherwise [`generate_dtb`](Self::generate_dtb)'s and
    /// [`load_dtb`](Self::load_dtb)'s errors. The VM stays Ready on error.
    pub fn boot(&self) -> AxVmResult {
        if self.state() == VMState::Ready {
            let multiboot = self.config.arch() == Arch::X86_64
                && self.config.boot_protocol() == VMBootProtocol::Multiboot;
            if multiboot {
                self.multiboot_hand_off()?;
            }
            if self.needs_generated_dtb() {
                self.load_dtb(&self.generate_dtb()?)?;
            }
        }
        self.transition(&[VMState::Ready, VMState::Suspended], VMState::Running)
    }

    /// Whether [`boot`](Self::boot) generates the device tree: an aarch64 or
    /// riscv64 VM with an interrupt controller (a VM without one is no Linux
    /// guest), no `dtb_path` and no DTB loaded.
    fn needs_generated_dtb(&self) -> bool {
        fdt::suits(&self.config) && self.config.dtb_path().is_none() && self.dtb_address().is_none()
    }

    /// The device tree of this VM, generated from its config (see [`fdt`]), with
    /// the loaded ramdisk, where it actually is, as the initrd.
    ///
    /// # Errors
    ///
    /// As [`fdt::generate`].
    pub fn generate_dtb(&self) -> AxVmResult<Vec<u8>> {
        let initrd = self
            .loaded_range(Image::Ramdisk)
            .map(|(gpa, size)| fdt::Initrd {
                start: GuestPhysAddr::from(gpa),
                size,
            });
        fdt::generate(&self.config, initrd)
    }

    /// Where the device tree was loaded, if it was.
    #[must_use]
    pub fn dtb_address(&self) -> Option<GuestPhysAddr> {
        self.loaded_range(Image::Dtb)
            .map(|(gpa, _)| GuestPhysAddr::from(gpa))
    }

    /// The `(gpa, length)` image `image` occupies, if loaded.
    fn loaded_range(&self, image: Image) -> Option<(usize, usize)> {
        self.loaded
            .lock()
            .iter()
            .find(|&&(kind, _, _)| kind == image)
            .map(|&(_, gpa, len)| (gpa, len))
    }

    /// Writes the Multiboot information and sets vCPU 0's hand-off registers.
    fn multiboot_hand_off(&self) -> AxVmResult {
        let regions = self.config.memory_regions();
        let kernel = self.config.image_config().kernel_load_gpa.as_usize();
        let occupied: Vec<(usize, usize)> = self
            .loaded
            .lock()
            .iter()
            .map(|&(_, gpa, len)| (gpa, len))
            .collect();
        let Some(info) = multiboot::place_info(regions, kernel, &occupied) else {
            log::error!(
                "VM {}: no free RAM page for the Multiboot information (below the kernel \
                 at {kernel:#x}, or in 0x1000..0xa0000)",
                self.id()
            );
            return Err(AxVmError::NoMemory);
        };
        self.load(
            Image::MultibootInfo,
            GuestPhysAddr::from(info),
            &multiboot::info_bytes(info, regions),
        )?;
        let mut bsp = self.vcpu(0)?;
        for (reg, value) in multiboot_registers(GuestPhysAddr::from(info)) {
            bsp.set_gpr(reg, value)?;
        }
        Ok(())
    }

    /// Pauses a running VM: its vCPUs no longer enter the guest until [`boot`](Self::boot).
    ///
    /// # Errors
    ///
    /// `BadState` unless Running.
    pub fn suspend(&self) -> AxVmResult {
        self.transition(&[VMState::Running], VMState::Suspended)
    }

    /// Stops the VM for good; its vCPUs no longer enter the guest.
    pub fn shutdown(&self) {
        self.state.store(VMState::Stopping as u8, Ordering::Release);
        self.state.store(VMState::Stopped as u8, Ordering::Release);
    }

    /// The fault that stopped the VM, if one did.
    #[must_use]
    pub fn fault(&self) -> Option<GuestFault> {
        *self.fault.lock()
    }

    /// How many exits of `kind` the VM's vCPUs took.
    #[must_use]
    pub fn exit_count(&self, kind: ExitKind) -> u64 {
        self.exits
            .get(kind as usize)
            .map_or(0, |count| count.load(Ordering::Relaxed))
    }

    /// Every exit kind with its count.
    pub fn exit_counts(&self) -> impl Iterator<Item = (ExitKind, u64)> + '_ {
        ExitKind::ALL
            .into_iter()
            .map(|kind| (kind, self.exit_count(kind)))
    }

    /// Copies the kernel image to its load address. Loading it again replaces it.
    ///
    /// A raw binary goes to the config's `kernel_load_addr`. A Linux `Image` of the
    /// VM's architecture (see [`kernel_image`](crate::kernel_image)) goes to the
    /// first address at or above `kernel_load_addr` in the RAM region holding it
    /// that its header allows — arm64: a 2 MiB-aligned base plus its `text_offset`
    /// (Linux's `booting.rst`); riscv64: a 2 MiB boundary at least `text_offset`
    /// past the region's start — keeps its whole `image_size` (`.bss` included)
    /// free of the other images, and (before the VM boots) vCPU 0 is entered at its
    /// load address.
    ///
    /// # Errors
    ///
    /// `BadAddress` when the image (an `Image` with its reserved size) does not fit
    /// the VM's RAM at its load address; `InvalidInput` (logged) when it would
    /// overlap another image already loaded (BIOS, DTB, ramdisk): the config's
    /// addresses leave it too little room; `NoMemory` when the host has no memory
    /// for it.
    pub fn load_kernel_image(&self, image: &[u8]) -> AxVmResult {
        let placed = place_kernel(&self.config, image)?;
        let load = GuestPhysAddr::from(placed.load);
        self.load_reserving(Image::Kernel, load, image, placed.reserved)?;
        // vCPU 0 starts there when the VM boots; a running VM's vCPUs are the guest's.
        if let Some(entry) = placed.entry.filter(|_| self.state() == VMState::Ready) {
            log::info!(
                "VM {}: Linux Image at {load:?} ({:#x} bytes reserved), entered there",
                self.id(),
                placed.reserved
            );
            self.vcpu(0)?.set_entry(GuestPhysAddr::from(entry))?;
        }
        Ok(())
    }

    /// Copies the BIOS image to its load address.
    ///
    /// # Errors
    ///
    /// `BadState` when the config has no BIOS; otherwise as for the kernel.
    pub fn load_bios_image(&self, image: &[u8]) -> AxVmResult {
        let gpa = self
            .config
            .image_config()
            .bios_load_gpa
            .ok_or(AxVmError::BadState)?;
        self.load(Image::Bios, gpa, image)
    }

    /// Copies a device tree blob to its load address and, before the VM boots,
    /// hands its address to vCPU 0 (aarch64 x0, x1-x3 = 0; riscv a1).
    ///
    /// The load address is the config's `dtb_load_addr`, or else the highest
    /// 2 MiB-aligned address in the first RAM region (in config order) from which
    /// the whole blob stays in the region and clear of every image loaded so far
    /// (the kernel with its reserved size, the ramdisk, the BIOS): load those
    /// first.
    ///
    /// # Errors
    ///
    /// `NoMemory` (logged) when the config has no DTB address and there is no such
    /// room (or the blob is empty or over [`fdt::DTB_MAX_SIZE`]); otherwise as for
    /// the kernel.
    pub fn load_dtb(&self, dtb: &[u8]) -> AxVmResult {
        let gpa = match self.config.image_config().dtb_load_gpa {
            Some(gpa) => gpa,
            None => self.default_dtb_gpa(dtb.len())?,
        };
        self.load(Image::Dtb, gpa, dtb)?;
        if self.state() != VMState::Ready {
            return Ok(());
        }
        let mut bsp = self.vcpu(0)?;
        for (reg, value) in boot_registers(self.config.arch(), 0, Some(gpa)) {
            bsp.set_gpr(reg, value)?;
        }
        Ok(())
    }

    /// Where a DTB of `len` bytes goes when the config does not say.
    fn default_dtb_gpa(&self, len: usize) -> AxVmResult<GuestPhysAddr> {
        let occupied: Vec<(usize, usize)> = self
            .loaded
            .lock()
            .iter()
            .filter(|&&(kind, _, _)| kind != Image::Dtb)
            .map(|&(_, gpa, len)| (gpa, len))
            .collect();
        default_dtb_gpa(self.config.memory_regions(), &occupied, len)
            .map(GuestPhysAddr::from)
            .ok_or_else(|| {
                log::error!(
                    "VM {}: no room for a {len:#x}-byte device tree in the first RAM region",
                    self.id()
                );
                AxVmError::NoMemory
            })
    }

    /// Copies a ramdisk to its load address.
    ///
    /// # Errors
    ///
    /// `BadState` when the config has no ramdisk address; otherwise as for the kernel.
    pub fn load_ramdisk(&self, ramdisk: &[u8]) -> AxVmResult {
        let info = self
            .config
            .image_config()
            .ramdisk
            .ok_or(AxVmError::BadState)?;
        self.load(Image::Ramdisk, info.load_gpa, ramdisk)
    }

    /// Writes `data` to guest memory at `gpa`, populating lazily mapped RAM first,
    /// and records the range as loaded (replacing an earlier load of `image`).
    /// `NoMemory` when the host has no memory for it, `BadAddress` when the range is
    /// not RAM the VM may write, `InvalidInput` when it overlaps another image.
    fn load(&self, image: Image, gpa: GuestPhysAddr, data: &[u8]) -> AxVmResult {
        self.load_reserving(image, gpa, data, data.len())
    }

    /// As [`load`](Self::load), keeping `reserved` bytes from `gpa` (at least
    /// `data`'s length) free of the other images: what a kernel needs beyond its
    /// file. The part past the file is left as it is (lazy RAM stays unpopulated).
    fn load_reserving(
        &self,
        image: Image,
        gpa: GuestPhysAddr,
        data: &[u8],
        reserved: usize,
    ) -> AxVmResult {
        let reserved = reserved.max(data.len());
        let mut space = self.space.lock();
        let data_end = gpa
            .as_usize()
            .checked_add(data.len())
            .ok_or(AxVmError::BadAddress)?;
        let end = gpa
            .as_usize()
            .checked_add(reserved)
            .ok_or(AxVmError::BadAddress)?;
        let mut loaded = self.loaded.lock();
        // Loading an image again replaces it; it must not land on another one.
        if let Some(&(other, at, len)) = loaded.iter().find(|&&(kind, at, len)| {
            kind != image && gpa.as_usize() < at.saturating_add(len) && at < end
        }) {
            log::error!(
                "VM {}: the {image:?} image at {gpa:?} (+{reserved:#x}) overlaps the {other:?} \
                 image at {at:#x} (+{len:#x})",
                self.id()
            );
            return Err(AxVmError::InvalidInput);
        }
        let mut page = gpa.align_down_4k().as_usize();
        while page < data_end {
            // A populated page answers true at once; only the first touch of a lazy
            // block allocates. The host running out of memory is its own error.
            let page_gpa = GuestPhysAddr::from(page);
            if !space.try_handle_page_fault(page_gpa, MappingFlags::WRITE)?
                && space.translate(page_gpa).is_none()
            {
                return Err(AxVmError::BadAddress);
            }
            page = page.checked_add(PAGE_SIZE).ok_or(AxVmError::BadAddress)?;
        }
        space.write(gpa, data)?;
        loaded.retain(|&(kind, _, _)| kind != image);
        loaded.push((image, gpa.as_usize(), reserved));
        Ok(())
    }

    /// Reads guest memory, with atomic elements: running vCPUs may write it meanwhile.
    ///
    /// # Errors
    ///
    /// `BadAddress` when part of the range is not mapped RAM that the host vouched
    /// for (allocated, or [`LinearMemory::Ram`](axaddrspace::LinearMemory::Ram)).
    pub fn read_guest(&self, gpa: GuestPhysAddr, buf: &mut [u8]) -> AxVmResult {
        self.space.lock().read(gpa, buf)
    }

    /// Writes guest memory, with atomic elements.
    ///
    /// # Errors
    ///
    /// As [`read_guest`](Self::read_guest).
    pub fn write_guest(&self, gpa: GuestPhysAddr, data: &[u8]) -> AxVmResult {
        self.space.lock().write(gpa, data)
    }

    /// Runs vCPU `id` until an exit the hypervisor must see.
    ///
    /// MMIO, port and system-register accesses to emulated devices, and nested page
    /// faults in lazily mapped RAM, are handled here and the guest resumed. Unclaimed
    /// x86 ports read as all ones and ignore writes, as on a PC. Anything else the
    /// guest cannot be allowed to do (an access with neither RAM nor a device behind
    /// it, a write to read-only memory, an exit the backend cannot decode) stops the
    /// VM: the fault is recorded ([`fault`](Self::fault)) and `PermissionDenied`
    /// returned. Other exits (hypercalls, halts, CPU up/down, power off, interrupts)
    /// are returned for the hypervisor to handle; a `SystemDown` also stops the VM.
    ///
    /// The vCPU is bound to the current physical CPU first if it is not; to run
    /// another vCPU here afterwards, [`unbind`](AxVCpu::unbind) this one.
    ///
    /// # Errors
    ///
    /// `BadState` unless the VM is Running, or when the vCPU is bound to another
    /// physical CPU; `ResourceBusy` when another vCPU is bound to this one (see
    /// [`AxVCpu::bind`]); `NotFound` for an unknown vCPU; `NoMemory` when the host
    /// had no memory for a nested page fault (running the vCPU again retries the
    /// access); `PermissionDenied` when the guest faulted (see above). Only
    /// `PermissionDenied` stops the VM: the other errors are the host's and leave
    /// it as it was, with no fault recorded.
    pub fn run_vcpu(&self, id: VCpuId) -> AxVmResult<AxVCpuExitReason> {
        self.run_vcpu_with(id, |_, _| ExitAction::Return)
    }

    /// As [`run_vcpu`](Self::run_vcpu), but every exit this loop does not handle
    /// itself goes first to `on_exit`, with the (locked) vCPU: the hypervisor answers
    /// hypercalls and similar exits there and resumes the guest without leaving the
    /// loop, which is the cheap path for frequent exits.
    ///
    /// # Errors
    ///
    /// As [`run_vcpu`](Self::run_vcpu).
    pub fn run_vcpu_with(
        &self,
        id: VCpuId,
        mut on_exit: impl FnMut(&mut AxVCpu<A>, &AxVCpuExitReason) -> ExitAction,
    ) -> AxVmResult<AxVCpuExitReason> {
        let mut vcpu = self.vcpu(id)?;
        if vcpu.state() == axvcpu::VCpuState::Free {
            vcpu.bind()?;
        }
        // The host's mistake, not the guest's: the VM keeps running.
        if !vcpu.is_loaded_here() {
            return Err(AxVmError::BadState);
        }
        // Room for a full list, so that no interrupt's delivery waits for an allocation.
        let mut irqs = Vec::with_capacity(vcpu.irq_slots());
        // IPIs sent to the vCPU are injected before its first entry and after the
        // exits a kick ends with (see `ipi`).
        let ipis = self.ipis.slot(id).unwrap_or(&ipi::NONE);
        self.inject_ipis(&mut vcpu, ipis)?;
        loop {
            if self.state() != VMState::Running {
                return Err(AxVmError::BadState);
            }
            if let Some(controller) = &self.irq {
                irq::load(controller.as_ref(), &mut vcpu, id, &mut irqs)
                    .map_err(|error| self.stop_on(GuestFault::Undecodable(error)))?;
            }
            // Work on the exit where the backend wrote it: moving it out costs a
            // copy on every exit.
            let result = vcpu.run();
            if let Some(controller) = &self.irq {
                irq::sync(controller.as_ref(), &vcpu, id, &irqs);
            }
            let exit = match &result {
                Ok(exit) => exit,
                Err(error) => return Err(self.stop_on(GuestFault::Undecodable(*error))),
            };
            if let Some(count) = self.exits.get(exit.kind() as usize) {
                count.fetch_add(1, Ordering::Relaxed);
            }
            match self.handle_exit(&mut vcpu, exit) {
                Handled::Resume => {}
                Handled::Return => {
                    if *exit == AxVCpuExitReason::SystemDown {
                        self.shutdown();
                        return result;
                    }
                    if on_exit(&mut vcpu, exit) == ExitAction::Return {
                        return result;
                    }
                    // Where a kick lands: a running vCPU's interrupt exit, or the
                    // hypervisor's wait on a halted one.
                    if matches!(
                        exit,
                        AxVCpuExitReason::ExternalInterrupt { .. } | AxVCpuExitReason::Halt
                    ) {
                        self.inject_ipis(&mut vcpu, ipis)?;
                    }
                }
                Handled::Fault(fault) => return Err(self.stop_on(fault)),
                Handled::Host(error) => return Err(error),
            }
        }
    }

    fn handle_exit(&self, vcpu: &mut AxVCpu<A>, exit: &AxVCpuExitReason) -> Handled {
        let completed = match *exit {
            AxVCpuExitReason::MmioRead { addr, width, .. } => {
                match self.devices.handle_mmio_read(addr, width) {
                    Ok(value) => vcpu.complete_read(exit, value as u64),
                    Err(error) => return self.unclaimed(addr, MappingFlags::READ, &error),
                }
            }
            AxVCpuExitReason::MmioWrite { addr, width, data } => {
                match self.devices.handle_mmio_write(addr, width, data as usize) {
                    Ok(()) => vcpu.complete_write(exit),
                    Err(error) => return self.unclaimed(addr, MappingFlags::WRITE, &error),
                }
            }
            AxVCpuExitReason::IoRead { port, width } => {
                let value = self
                    .devices
                    .handle_port_read(port, width)
                    .map_or(width.mask(), |value| value as u64);
                vcpu.complete_read(exit, value)
            }
            AxVCpuExitReason::IoWrite { port, width, data } => {
                if let Err(error) = self.devices.handle_port_write(port, width, data as usize) {
                    log::debug!("VM {}: port write ignored: {error}", self.id());
                }
                vcpu.complete_write(exit)
            }
            AxVCpuExitReason::SysRegRead { addr, .. } => {
                match self
                    .devices
                    .handle_sys_reg_read(addr, axvm_types::AccessWidth::Qword)
                {
                    Ok(value) => vcpu.complete_read(exit, value as u64),
                    Err(_) => return Handled::Fault(GuestFault::SysReg { addr, write: false }),
                }
            }
            AxVCpuExitReason::SysRegWrite { addr, value }
                if irq::is_sgi_write(&self.devices, addr) =>
            {
                irq::send_sgi(&self.devices, vcpu.id(), value);
                vcpu.complete_write(exit)
            }
            AxVCpuExitReason::SysRegWrite { addr, value } => {
                let width = axvm_types::AccessWidth::Qword;
                match self
                    .devices
                    .handle_sys_reg_write(addr, width, value as usize)
                {
                    Ok(()) => vcpu.complete_write(exit),
                    Err(_) => return Handled::Fault(GuestFault::SysReg { addr, write: true }),
                }
            }
            AxVCpuExitReason::NestedPageFault { addr, access_flags } => {
                return self.page_fault(addr, access_flags);
            }
            AxVCpuExitReason::SendIPI {
                target_cpu,
                target_cpu_aux,
                send_to_all,
                send_to_self,
                vector,
            } => {
                let request = IpiRequest {
                    base: target_cpu,
                    mask: target_cpu_aux,
                    all: send_to_all,
                    to_self: send_to_self,
                    vector,
                };
                self.send_ipi(vcpu, &request)
            }
            _ => return Handled::Return,
        };
        match completed {
            Ok(()) => Handled::Resume,
            Err(error) => Handled::Fault(GuestFault::Undecodable(error)),
        }
    }

    /// Sends vCPU `sender`'s IPI: its targets get the vector pending and those that
    /// may run or wait elsewhere a kick. A target that does not exist sends nothing
    /// and is the guest's error (riscv64: `SBI_ERR_INVALID_PARAM` in `a0`).
    fn send_ipi(&self, sender: &mut AxVCpu<A>, request: &IpiRequest) -> AxVmResult {
        match self.ipis.send(sender.id(), request) {
            Ok(sent) => {
                let mut kicks = sent.kick;
                while kicks != 0 {
                    H::notify_vcpu(self.id(), kicks.trailing_zeros() as VCpuId);
                    kicks &= kicks.wrapping_sub(1);
                }
                // The vector fits a slot (`send` checked it).
                if sent.sender {
                    sender.inject_interrupt(request.vector as usize)?;
                }
                Ok(())
            }
            Err(refused) => {
                log::debug!(
                    "VM {}: vCPU {}'s IPI {request:?} not sent: {refused:?}",
                    self.id(),
                    sender.id()
                );
                match (refused, self.config.arch()) {
                    (IpiRefused::NoSuchVCpu, Arch::Riscv64) => {
                        sender.set_return_value(axvcpu::arch::riscv64::sbi::ERR_INVALID_PARAM)
                    }
                    _ => Ok(()),
                }
            }
        }
    }

    /// Injects the IPIs pending in `slot` (the vCPU's) into `vcpu`; an injection the
    /// backend refuses stops the VM. One load when none is pending.
    #[inline]
    fn inject_ipis(&self, vcpu: &mut AxVCpu<A>, slot: &AtomicU64) -> AxVmResult {
        if ipi::any(slot) {
            self.inject_pending_ipis(vcpu, slot)
        } else {
            Ok(())
        }
    }

    #[cold]
    #[inline(never)]
    fn inject_pending_ipis(&self, vcpu: &mut AxVCpu<A>, slot: &AtomicU64) -> AxVmResult {
        let mut pending = ipi::take(slot);
        while pending != 0 {
            let vector = pending.trailing_zeros() as usize;
            vcpu.inject_interrupt(vector)
                .map_err(|error| self.stop_on(GuestFault::Undecodable(error)))?;
            pending &= pending.wrapping_sub(1);
        }
        Ok(())
    }

    /// An access no device claimed: RAM not yet populated, or the guest's fault.
    fn unclaimed(&self, addr: GuestPhysAddr, access: MappingFlags, error: &DeviceError) -> Handled {
        match error {
            DeviceError::Unmapped { .. } => self.page_fault(addr, access),
            _ => {
                log::warn!("VM {}: {error}", self.id());
                Handled::Fault(GuestFault::DeviceRefused {
                    addr,
                    write: access.contains(MappingFlags::WRITE),
                })
            }
        }
    }

    /// A nested page fault: lazy RAM to bring in, the guest's fault, or the
    /// host's (out of memory), which does not stop the VM.
    fn page_fault(&self, addr: GuestPhysAddr, access: MappingFlags) -> Handled {
        let mut space = self.space.lock();
        match space.try_handle_page_fault(addr, access) {
            Ok(true) => Handled::Resume,
            Err(error) => {
                log::warn!(
                    "VM {}: nested page fault at {addr}: host error {error}",
                    self.id()
                );
                Handled::Host(error)
            }
            Ok(false) if space.mapping_flags(addr).is_some() => {
                Handled::Fault(GuestFault::Forbidden { addr, access })
            }
            Ok(false) => Handled::Fault(GuestFault::Unmapped { addr, access }),
        }
    }

    fn stop_on(&self, fault: GuestFault) -> AxVmError {
        log::warn!("VM {} stopped: {fault}", self.id());
        *self.fault.lock() = Some(fault);
        self.shutdown();
        AxVmError::PermissionDenied
    }
}

impl<H: AxVMHal, A: AxArchVCpu, F: NestedFormat, T: NestedTlb> Drop for AxVM<H, A, F, T> {
    fn drop(&mut self) {
        release_identical::<H>(&self.identical);
    }
}

/// The images a VM is loaded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Image {
    Kernel,
    Bios,
    Dtb,
    Ramdisk,
    MultibootInfo,
}

/// What the run loop does after an exit.
enum Handled {
    /// The exit was handled; run the guest again.
    Resume,
    /// The hypervisor must see the exit.
    Return,
    /// The guest faulted; stop the VM.
    Fault(GuestFault),
    /// The host failed (e.g. out of memory); the VM keeps its state and the
    /// caller gets the error.
    Host(AxVmError),
}
