//! What `AxVM::new` maps: exactly what the config says. Pass-through devices go to
//! their host address, only where the host agrees; reserved regions stay unmapped;
//! overlapping RAM is built (the region listed first wins each page); an identical
//! region the host places elsewhere takes its images with it.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use axvm_types::{Arch, AxVmError, GuestPhysAddr, HostPhysAddr, MappingFlags};
use axvmconfig::{WarningKind, check};
use common::{REFUSED_HPA, try_vm_for, vm_with};

const BASE: &str = r#"
[base]
id = 0
name = "memory"
cpu_num = 1

[kernel]
entry_point = 0x4008_0000
kernel_path = "k.bin"
kernel_load_addr = 0x4008_0000
dtb_load_addr = 0x4000_0000
ramdisk_load_addr = 0x4010_0000
memory_regions = [
    [0x4000_0000, 0x40_0000, 0x7, 0],
    [0x5000_0000, 0x10_0000, 0x3, 2],
]

[devices]
passthrough_devices = [["dev", 0x0a00_0000, 0x1_2345_6000, 0x2000, 0]]
passthrough_addresses = [[0x0b00_0100, 0x100]]
"#;

fn gpa(addr: usize) -> GuestPhysAddr {
    GuestPhysAddr::from(addr)
}

#[test]
fn pass_through_devices_map_base_gpa_to_base_hpa() {
    let (vm, _) = vm_with(BASE, vec![Vec::new()]);
    for offset in [0, 0x1000, 0x1ff8] {
        assert_eq!(
            vm.translate(gpa(0x0a00_0000 + offset)),
            Some(HostPhysAddr::from(0x1_2345_6000 + offset))
        );
    }
    assert_eq!(vm.translate(gpa(0x0a00_2000)), None);
    let flags = vm.mapping_flags(gpa(0x0a00_0000)).unwrap();
    assert!(flags.contains(MappingFlags::DEVICE), "{flags:?}");
    // A pass-through address range is identity-mapped, widened to its page.
    assert_eq!(
        vm.translate(gpa(0x0b00_0000)),
        Some(HostPhysAddr::from(0x0b00_0000))
    );
}

#[test]
fn reserved_regions_are_not_mapped() {
    let (vm, _) = vm_with(BASE, vec![Vec::new()]);
    for addr in [0x5000_0000, 0x500f_f000] {
        assert_eq!(vm.mapping_flags(gpa(addr)), None);
        assert_eq!(vm.translate(gpa(addr)), None);
    }
    let mut byte = [0u8];
    assert_eq!(
        vm.read_guest(gpa(0x5000_0000), &mut byte),
        Err(AxVmError::BadAddress)
    );
}

#[test]
fn the_host_can_refuse_a_pass_through_range() {
    let refused = BASE.replace("0x1_2345_6000", &format!("{REFUSED_HPA:#x}"));
    let built = try_vm_for(&refused, Arch::Aarch64, vec![Vec::new()]);
    assert_eq!(built.err(), Some(AxVmError::PermissionDenied));
    let refused = BASE.replace(
        "[[0x0b00_0100, 0x100]]",
        &format!("[[{REFUSED_HPA:#x}, 0x1000]]"),
    );
    let built = try_vm_for(&refused, Arch::Aarch64, vec![Vec::new()]);
    assert_eq!(built.err(), Some(AxVmError::PermissionDenied));
}

/// Two alloc regions: 0x4000_0000..0x4040_0000 RWX, then 0x4020_0000..0x4060_0000 R.
const OVERLAPPING: [(&str, &str); 1] = [(
    "[0x5000_0000, 0x10_0000, 0x3, 2]",
    "[0x4020_0000, 0x40_0000, 0x1, 0]",
)];

#[test]
fn overlapping_ram_is_accepted_and_built_first_region_first() {
    let [(from, to)] = OVERLAPPING;
    let config = BASE.replace(from, to);
    // axvmconfig accepts it, with one warning that says what the VM does ...
    let report = check(&config);
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    let overlaps: Vec<_> = report
        .warnings
        .iter()
        .filter(|w| matches!(w.kind, WarningKind::RamOverlap { .. }))
        .collect();
    assert_eq!(overlaps.len(), 1, "{:#?}", report.warnings);
    assert!(
        overlaps[0].to_string().contains("listed first"),
        "{}",
        overlaps[0]
    );
    // ... and AxVM::new builds it: the overlap keeps the first region's flags, the
    // rest of the second region has its own.
    let (vm, _) = vm_with(&config, vec![Vec::new()]);
    let rwx = MappingFlags::READ | MappingFlags::WRITE | MappingFlags::EXECUTE;
    assert_eq!(vm.mapping_flags(gpa(0x4030_0000)), Some(rwx));
    assert_eq!(vm.mapping_flags(gpa(0x4050_0000)), Some(MappingFlags::READ));
    assert_eq!(vm.mapping_flags(gpa(0x4060_0000)), None);
    vm.load_ramdisk(&[1; 0x10]).unwrap();
}

#[test]
fn an_identical_region_placed_elsewhere_takes_its_images_with_it() {
    let config = BASE.replace(
        "[0x4000_0000, 0x40_0000, 0x7, 0]",
        "[0x4000_0000, 0x40_0000, 0x7, 1]",
    );
    let (vm, _) = vm_with(&config, vec![Vec::new()]);
    let images = vm.config().image_config();
    let region = vm.config().memory_regions()[0].gpa;
    // The arena's "physical" addresses are far from 0x4000_0000: the region moved,
    // and the config says where.
    assert_ne!(region, 0x4000_0000);
    assert_eq!(vm.translate(gpa(region)), Some(HostPhysAddr::from(region)));
    // Every image keeps its offset in the region: the DTB and ramdisk move with the
    // kernel, and the kernel does not land on the DTB.
    assert_eq!(images.kernel_load_gpa, gpa(region + 0x8_0000));
    assert_eq!(vm.config().bsp_entry(), images.kernel_load_gpa);
    assert_eq!(images.dtb_load_gpa, Some(gpa(region)));
    assert_eq!(images.ramdisk.unwrap().load_gpa, gpa(region + 0x10_0000));
    vm.load_kernel_image(b"kernel").unwrap();
    vm.load_dtb(b"\xd0\x0d\xfe\xed").unwrap();
    vm.load_ramdisk(b"initrd").unwrap();
    let mut back = [0u8; 6];
    vm.read_guest(images.kernel_load_gpa, &mut back).unwrap();
    assert_eq!(&back, b"kernel");
    vm.read_guest(gpa(region), &mut back[..4]).unwrap();
    assert_eq!(&back[..4], b"\xd0\x0d\xfe\xed");
}
