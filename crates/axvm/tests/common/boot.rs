//! What the Linux boot tests of both arches read back from a VM: the scripted
//! vCPU's events, guest memory, the DTB placed at boot and the reference configs.

use std::{fs, path::PathBuf};

use ::fdt::Fdt;
use axvcpu::scripted::ScriptedEvent;
use axvm_types::GuestPhysAddr;
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
