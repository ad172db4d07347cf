//! What the Linux boot tests of both arches read back from a VM: the scripted
//! vCPU's events, guest memory, the DTB placed at boot and the reference configs.

use std::{fs, path::PathBuf};

use ::fdt::Fdt;
use axvcpu::scripted::ScriptedEvent;
use axvm::{AxVMConfig, fdt::generate};
use axvm_types::{Arch, AxVmError, GuestPhysAddr};
use axvmconfig::AxVMCrateConfig;

use super::Vm;

/// What vCPU `vcpu` of `vm` was told so far.
pub fn events(vm: &Vm, vcpu: usize) -> Vec<ScriptedEvent> {
    vm.vcpu(vcpu).unwrap().arch().events.clone()
}

/// `len` bytes of guest memory at `gpa`.
pub fn read(vm: &Vm, gpa: usize, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    vm.read_guest(GuestPhysAddr::from(gpa), &mut buf).unwrap();
    buf
}

/// `kernel` loads to `at` (nothing at `not_at`) and vCPU 0 is entered there.
pub fn assert_placed(vm: &Vm, kernel: &[u8], at: usize, not_at: usize) {
    vm.load_kernel_image(kernel).unwrap();
    assert_eq!(read(vm, at, kernel.len()), kernel);
    assert_eq!(vm.translate(GuestPhysAddr::from(not_at)), None);
    assert_eq!(
        events(vm, 0).last(),
        Some(&ScriptedEvent::Entry(GuestPhysAddr::from(at)))
    );
}

/// A raw kernel (no Image header) of `fill` bytes loads at `gpa`, and the only
/// entry vCPU 0 was given is the config's, `gpa`.
pub fn assert_raw_kernel_kept(vm: &Vm, fill: u8, gpa: usize) {
    let raw = vec![fill; 0x3000];
    vm.load_kernel_image(&raw).unwrap();
    assert_eq!(read(vm, gpa, raw.len()), raw);
    assert_single_entry(vm, gpa);
}

/// The loaded kernel's reservation keeps both the DTB and the ramdisk out.
pub fn assert_dtb_and_ramdisk_refused(vm: &Vm) {
    assert_eq!(vm.load_dtb(&[0xd0; 0x100]), Err(AxVmError::InvalidInput));
    assert_eq!(vm.load_ramdisk(&[1; 0x100]), Err(AxVmError::InvalidInput));
}

/// `vm` boots without placing a DTB.
pub fn assert_boots_without_dtb(vm: &Vm) {
    vm.boot().unwrap();
    assert_eq!(vm.dtb_address(), None);
}

/// The only entry vCPU 0 was given is `gpa` (a raw kernel keeps the config's).
pub fn assert_single_entry(vm: &Vm, gpa: usize) {
    let entries: Vec<_> = events(vm, 0)
        .into_iter()
        .filter(|e| matches!(e, ScriptedEvent::Entry(_)))
        .collect();
    assert_eq!(entries, [ScriptedEvent::Entry(GuestPhysAddr::from(gpa))]);
}

/// The DTB at `gpa` (its size from its header), checked to be the one the VM
/// generates.
pub fn dtb_at(vm: &Vm, gpa: usize) -> Vec<u8> {
    let header = read(vm, gpa, 8);
    let size = u32::from_be_bytes(header[4..8].try_into().unwrap()) as usize;
    let blob = read(vm, gpa, size);
    assert_eq!(blob, vm.generate_dtb().unwrap());
    blob
}

/// `/chosen` of `tree` holds `bootargs` and the initrd `start..end`.
pub fn assert_chosen(tree: &Fdt, bootargs: &str, start: usize, end: usize) {
    assert_eq!(tree.chosen().bootargs(), Some(bootargs));
    let chosen = tree.find_node("/chosen").unwrap();
    let at = |name: &str| chosen.property(name).unwrap().as_usize().unwrap();
    assert_eq!(at("linux,initrd-start"), start);
    assert_eq!(at("linux,initrd-end"), end);
}

/// The first `reg` entry of `node` as `(address, size)`.
pub fn first_region(tree: &Fdt, node: &str) -> (usize, Option<usize>) {
    let region = tree.find_node(node).unwrap().reg().unwrap().next().unwrap();
    (region.starting_address as usize, region.size)
}

/// The config at `path` (relative to this crate), or `None` (with a note) when it
/// is absent or does not parse: the reference configs live outside the repository.
pub fn optional_config(path: &str) -> Option<AxVMCrateConfig> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    let Ok(source) = fs::read_to_string(&path) else {
        eprintln!("skipped: {} is not present", path.display());
        return None;
    };
    let Ok(file) = AxVMCrateConfig::from_toml(&source) else {
        eprintln!("skipped: {} does not parse", path.display());
        return None;
    };
    Some(file)
}

/// The device tree generated for the reference config `name` as an `arch` VM, or
/// `None` when the config is absent (see [`optional_config`]).
pub fn reference_dtb(name: &str, arch: Arch) -> Option<Vec<u8>> {
    let file = optional_config(&format!("../../../shared/reference-configs/{name}"))?;
    let config = AxVMConfig::new(file, arch).unwrap();
    Some(generate(&config, None).unwrap())
}
