//! The arm64 Linux boot protocol through `AxVM`: where an `Image` is placed and
//! entered, what its reserved size keeps free, the device tree generated at boot
//! (read back with the `fdt` crate) and the DTB address in x0.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use ::fdt::Fdt;
use axvcpu::scripted::ScriptedEvent;
use axvm::VMState;
use axvm_types::{Arch, AxVmError, GuestPhysAddr};
use common::{
    Vm,
    boot::{
        assert_boots_without_dtb, assert_chosen, assert_dtb_and_ramdisk_refused, assert_placed,
        assert_raw_kernel_kept, dtb_at, first_region, read, reference_dtb,
    },
    vm_with,
};

/// One vCPU (or `cpus`), 256 MiB of lazy RAM at 0x4000_0000, a console and
/// `extra` in `[kernel]` and `devices` in `emu_devices`.
fn config(cpus: usize, extra: &str, devices: &str) -> String {
    format!(
        r#"
[base]
id = 5
name = "linux"
cpu_num = {cpus}

[kernel]
entry_point = 0x4008_0000
kernel_path = "Image"
kernel_load_addr = 0x4008_0000
{extra}
memory_regions = [[0x4000_0000, 0x1000_0000, 0x7, 0]]

[devices]
emu_devices = [
    ["pl011", 0x0900_0000, 0x1000, 33, 0x2, []],
    {devices}
]
"#
    )
}

const GIC: &str = r#"["gic", 0x0800_0000, 0x1_0000, 0, 0x1, [0x080a_0000]],"#;

fn vm(cpus: usize, extra: &str, devices: &str) -> std::sync::Arc<Vm> {
    vm_with(&config(cpus, extra, devices), vec![Vec::new(); cpus]).0
}

/// An arm64 Image: the header with `text_offset` and `image_size`, then a body.
fn image(text_offset: u64, image_size: u64) -> Vec<u8> {
    let mut image = vec![0x5au8; 0x4000];
    image[..64].fill(0);
    image[8..16].copy_from_slice(&text_offset.to_le_bytes());
    image[16..24].copy_from_slice(&image_size.to_le_bytes());
    image[24..32].copy_from_slice(&0xau64.to_le_bytes());
    image[56..60].copy_from_slice(b"ARM\x64");
    image
}

fn events(vm: &Vm) -> Vec<ScriptedEvent> {
    common::boot::events(vm, 0)
}

#[test]
fn an_image_is_placed_on_a_2mib_base_and_entered_there() {
    let vm = vm(1, "", "");
    // 0x4008_0000 is no 2 MiB base: the Image goes to the next one, nothing is
    // written at the configured address.
    assert_placed(&vm, &image(0, 0x250_0000), 0x4020_0000, 0x4008_0000);
    // A text offset counts from the base.
    let vm2 = vm_with(
        &config(1, "", "").replace("0x4008_0000", "0x4000_0000"),
        vec![Vec::new()],
    )
    .0;
    vm2.load_kernel_image(&image(0x8_0000, 0x100_0000)).unwrap();
    assert_eq!(
        events(&vm2).last(),
        Some(&ScriptedEvent::Entry(GuestPhysAddr::from(0x4008_0000)))
    );
}

#[test]
fn a_raw_kernel_is_loaded_as_before() {
    let vm = vm(1, "", "");
    assert_raw_kernel_kept(&vm, 0x14, 0x4008_0000);
}

#[test]
fn the_reserved_image_size_is_kept_free_of_the_dtb_and_ramdisk() {
    // Kernel at 0x4020_0000 reserving 0x250_0000: up to 0x4270_0000.
    let extra = "dtb_load_addr = 0x4100_0000\nramdisk_load_addr = 0x4260_0000";
    let vm = vm(1, extra, "");
    let kernel = image(0, 0x250_0000);
    vm.load_kernel_image(&kernel).unwrap();
    assert_dtb_and_ramdisk_refused(&vm);
    // The other order: the kernel is refused.
    let vm = self::vm(1, extra, "");
    vm.load_dtb(&[0xd0; 0x100]).unwrap();
    assert_eq!(vm.load_kernel_image(&kernel), Err(AxVmError::InvalidInput));
    // A reservation that leaves the RAM region.
    assert_eq!(
        vm.load_kernel_image(&image(0, 0x1000_0000)),
        Err(AxVmError::BadAddress)
    );
    // A raw kernel of the same bytes minus the magic reserves only its file.
    let mut raw = kernel.clone();
    raw[56] = 0;
    let vm = self::vm(1, "dtb_load_addr = 0x4010_0000", "");
    vm.load_kernel_image(&raw).unwrap();
    vm.load_dtb(&[0xd0; 0x100]).unwrap();
}

#[test]
fn boot_loads_a_generated_dtb_and_x0_points_at_it() {
    let extra = r#"cmdline = "console=ttyAMA0 rdinit=/init"
ramdisk_load_addr = 0x4800_0000"#;
    let vm = vm(2, extra, GIC);
    vm.load_kernel_image(&image(0, 0x250_0000)).unwrap();
    vm.load_ramdisk(&[7; 0x1_2345]).unwrap();
    assert_eq!(vm.dtb_address(), None);
    vm.boot().unwrap();
    // The top 2 MiB block of the RAM region.
    let dtb_gpa = 0x4fe0_0000;
    assert_eq!(vm.dtb_address(), Some(GuestPhysAddr::from(dtb_gpa)));
    let tail: Vec<_> = events(&vm).into_iter().rev().take(4).collect();
    assert_eq!(
        tail,
        [
            ScriptedEvent::Gpr(3, 0),
            ScriptedEvent::Gpr(2, 0),
            ScriptedEvent::Gpr(1, 0),
            ScriptedEvent::Gpr(0, dtb_gpa as u64),
        ]
    );
    let blob = dtb_at(&vm, dtb_gpa);
    let tree = Fdt::new(&blob).unwrap();
    assert_chosen(
        &tree,
        "console=ttyAMA0 rdinit=/init",
        0x4800_0000,
        0x4801_2345,
    );
    assert_eq!(tree.cpus().count(), 2);
    assert!(tree.find_node("/interrupt-controller@8000000").is_some());
}

#[test]
fn a_generated_dtb_goes_to_the_configured_address() {
    let vm = vm(1, "dtb_load_addr = 0x4000_0000", GIC);
    vm.load_kernel_image(&image(0, 0x100_0000)).unwrap();
    vm.boot().unwrap();
    assert_eq!(vm.dtb_address(), Some(GuestPhysAddr::from(0x4000_0000)));
    assert_eq!(read(&vm, 0x4000_0000, 4), [0xd0, 0x0d, 0xfe, 0xed]);
}

#[test]
fn without_a_gic_or_with_a_dtb_path_boot_generates_nothing() {
    // The raw test guests: no interrupt controller, no device tree.
    let vm = vm(1, "", "");
    vm.load_kernel_image(&[0x14; 0x100]).unwrap();
    assert_boots_without_dtb(&vm);
    // The host loads the file the config names.
    assert_boots_without_dtb(&self::vm(1, r#"dtb_path = "guest.dtb""#, GIC));
    // A DTB the host loaded is kept.
    let vm = self::vm(1, "", GIC);
    vm.load_dtb(&[0xd0; 0x40]).unwrap();
    let at = vm.dtb_address().unwrap();
    vm.boot().unwrap();
    assert_eq!(vm.dtb_address(), Some(at));
    assert_eq!(read(&vm, at.as_usize(), 0x40), [0xd0; 0x40]);
}

#[test]
fn a_generated_dtb_with_no_room_fails_the_boot_cleanly() {
    // The Image reserves the whole region.
    let config = config(1, "", GIC).replace("0x4008_0000", "0x4000_0000");
    let vm = vm_with(&config, vec![Vec::new()]).0;
    vm.load_kernel_image(&image(0, 0x1000_0000)).unwrap();
    assert_eq!(vm.boot(), Err(AxVmError::NoMemory));
    assert_eq!(vm.state(), VMState::Ready);
}

#[test]
fn the_reference_linux_config_gets_a_tree() {
    let Some(blob) = reference_dtb("linux-aarch64-qemu-smp1.toml", Arch::Aarch64) else {
        return;
    };
    let tree = Fdt::new(&blob).unwrap();
    assert_eq!(
        first_region(&tree, "/memory@80000000"),
        (0x8000_0000, Some(0x1000_0000))
    );
    let cpus: Vec<_> = tree
        .find_node("/cpus")
        .unwrap()
        .children()
        .map(|cpu| cpu.name)
        .collect();
    assert_eq!(cpus, ["cpu@0"]);
    // It emulates no GIC and no console (its devices are passed through).
    assert!(tree.find_node("/interrupt-controller").is_none());
    assert!(tree.find_node("/pl011").is_none());
    let chosen = tree.find_node("/chosen").unwrap();
    assert!(chosen.property("bootargs").is_none());
    assert!(chosen.property("stdout-path").is_none());
}
