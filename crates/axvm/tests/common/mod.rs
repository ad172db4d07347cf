//! The host and VM builder the `axvm` integration tests share: a heap-arena host
//! (identical regions from contiguous arena frames) and scripted vCPUs.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

pub mod boot;

use std::sync::{Arc, Mutex};

use axaddrspace::{
    AddrSpace, AxMmHal, LinearMemory, Stage2, VmidRegistry,
    testing::{ArenaHal, RecordingTlb},
};
use axdevice::{AxVmDeviceConfig, AxVmDevices, DeviceRegistry, Platform, SerialBackend};
use axvcpu::scripted::{ScriptStep, ScriptedVCpu};
use axvm::{AxVM, AxVMConfig, AxVMHal, VCpuConfigs};
use axvm_types::{
    Arch, AxVmResult, GuestPhysAddr, GuestPhysAddrRange, HostPhysAddr, HostVirtAddr,
    NestedPagingConfig, VCpuId, VMId,
};
use axvmconfig::AxVMCrateConfig;

/// The arena host, with identical regions carved from the arena's guest RAM.
pub struct TestHal;

// SAFETY: every frame and region comes from the arena, and every answer is the
// arena's (see ArenaHal's contract).
unsafe impl AxMmHal for TestHal {
    fn alloc_frame() -> Option<HostPhysAddr> {
        ArenaHal::alloc_frame()
    }
    fn dealloc_frame(paddr: HostPhysAddr) {
        ArenaHal::dealloc_frame(paddr);
    }
    fn phys_to_virt(paddr: HostPhysAddr) -> HostVirtAddr {
        ArenaHal::phys_to_virt(paddr)
    }
    fn alloc_contiguous_frames(count: usize, align_log2: u32) -> Option<HostPhysAddr> {
        ArenaHal::alloc_contiguous_frames(count, align_log2)
    }
    fn dealloc_contiguous_frames(paddr: HostPhysAddr, count: usize) {
        ArenaHal::dealloc_contiguous_frames(paddr, count);
    }
    fn linear_memory(paddr: HostPhysAddr, size: usize) -> LinearMemory {
        // One host page is refused, to show the refusal of a pass-through range.
        if paddr == HostPhysAddr::from(REFUSED_HPA) {
            return LinearMemory::Refused;
        }
        ArenaHal::linear_memory(paddr, size)
    }
    fn in_hypervisor_mode() -> bool {
        ArenaHal::in_hypervisor_mode()
    }
    fn invalidate_remote(config: &NestedPagingConfig, range: GuestPhysAddrRange) {
        ArenaHal::invalidate_remote(config, range);
    }
    fn vmids() -> &'static VmidRegistry {
        ArenaHal::vmids()
    }
}

// SAFETY: identical regions are arena guest RAM owned by the VM until released.
unsafe impl AxVMHal for TestHal {
    fn alloc_identical_region(_gpa: GuestPhysAddr, size: usize) -> Option<HostPhysAddr> {
        ArenaHal::alloc_guest_ram(size / 0x1000, 21)
    }
    fn dealloc_identical_region(hpa: HostPhysAddr, size: usize) {
        ArenaHal::dealloc_contiguous_frames(hpa, size / 0x1000);
    }
    fn notify_vcpu(vm: VMId, vcpu: VCpuId) {
        NOTIFIED.lock().unwrap().push((vm, vcpu));
    }
}

/// Every `(VM, vCPU)` the VMs asked [`TestHal`] to kick, in order (tests share it:
/// filter by VM id).
pub static NOTIFIED: Mutex<Vec<(VMId, VCpuId)>> = Mutex::new(Vec::new());

/// The host range [`TestHal`] refuses to pass through.
pub const REFUSED_HPA: usize = 0xdead_0000;

/// The VM the tests build.
pub type Vm = AxVM<TestHal, ScriptedVCpu, Stage2, RecordingTlb>;

/// A console that keeps what the guest wrote.
#[derive(Default)]
pub struct Line(pub Mutex<Vec<u8>>);

impl SerialBackend for Line {
    fn transmit(&self, byte: u8) {
        self.0.lock().unwrap().push(byte);
    }
    fn receive(&self) -> Option<u8> {
        None
    }
}

/// An aarch64 VM from a config that must build.
pub fn vm_with(config: &str, scripts: Vec<Vec<ScriptStep>>) -> (Arc<Vm>, Arc<Line>) {
    vm_for(config, Arch::Aarch64, scripts)
}

/// A VM for `arch` from a config that must build.
pub fn vm_for(config: &str, arch: Arch, scripts: Vec<Vec<ScriptStep>>) -> (Arc<Vm>, Arc<Line>) {
    try_vm_for(config, arch, scripts).unwrap()
}

/// A VM for `arch` from a config that must validate, or `AxVM::new`'s error.
pub fn try_vm_for(
    config: &str,
    arch: Arch,
    scripts: Vec<Vec<ScriptStep>>,
) -> AxVmResult<(Arc<Vm>, Arc<Line>)> {
    let crate_config = AxVMCrateConfig::from_toml(config).unwrap();
    let line = Arc::new(Line::default());
    let console = Arc::clone(&line);
    let registry = DeviceRegistry::with_builtin_models(Platform::Aarch64, move |_| {
        Arc::clone(&console) as Arc<dyn SerialBackend>
    });
    let devices: AxVmDevices = registry
        .build(
            &AxVmDeviceConfig::new(crate_config.devices.emu_devices.clone())
                .with_vcpus(crate_config.base.cpu_num),
        )
        .unwrap();
    build(
        AxVMConfig::new(crate_config, arch).unwrap(),
        devices,
        scripts,
    )
    .map(|vm| (vm, line))
}

/// A VM for `config` without emulated devices, whatever its lines say (a riscv64
/// PLIC line has no model in this host's registry): what the config alone decides,
/// such as the device tree and the boot registers.
pub fn bare_vm(config: AxVMConfig, scripts: Vec<Vec<ScriptStep>>) -> Arc<Vm> {
    build(config, AxVmDevices::default(), scripts).unwrap()
}

fn build(
    config: AxVMConfig,
    devices: AxVmDevices,
    scripts: Vec<Vec<ScriptStep>>,
) -> AxVmResult<Arc<Vm>> {
    // Each live space needs its own VMID.
    let vmid = ArenaHal::vmids().first_free(1).unwrap();
    let space = AddrSpace::with_format(
        Stage2::new(48, 4, vmid).unwrap(),
        RecordingTlb::default(),
        GuestPhysAddr::from(0),
        1 << 48,
    )
    .unwrap();
    let vcpus = VCpuConfigs {
        per_vcpu: scripts.into_iter().map(|script| (script, ())).collect(),
    };
    Vm::new(config, space, devices, vcpus)
}
