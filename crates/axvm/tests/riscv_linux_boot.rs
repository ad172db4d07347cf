//! The riscv64 Linux boot protocol through `AxVM`: where an `Image` is placed and
//! entered, what its reserved size keeps free, the device tree generated at boot
//! (read back with the `fdt` crate) and a0 = hart id, a1 = its address.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::{fs, path::PathBuf, sync::Arc};

use ::fdt::Fdt;
use axvcpu::{AxVCpuExitReason, scripted::ScriptedEvent};
use axvm::{AxVMConfig, VMState, fdt::FdtOptions, start_registers};
use axvm_types::{Arch, AxVmError, GuestPhysAddr};
use axvmconfig::AxVMCrateConfig;
use common::{
    Vm, bare_vm,
    boot::{
        assert_boots_without_dtb, assert_chosen, assert_dtb_and_ramdisk_refused, assert_placed,
        assert_raw_kernel_kept, dtb_at, events, first_region, reference_dtb,
    },
};

/// `cpus` harts, 256 MiB of lazy RAM at 0x9000_0000, an NS16550 on source 10,
/// `extra` in `[kernel]` and `devices` in `emu_devices`.
fn config(cpus: usize, extra: &str, devices: &str) -> AxVMConfig {
    let toml = format!(
        r#"
[base]
id = 6
name = "linux-riscv64"
cpu_num = {cpus}

[kernel]
entry_point = 0x9000_0000
kernel_path = "Image"
kernel_load_addr = 0x9000_0000
{extra}
memory_regions = [[0x9000_0000, 0x1000_0000, 0x7, 0]]

[devices]
emu_devices = [
    ["ns16550", 0x1000_0000, 0x100, 10, 0x2, []],
    {devices}
]
"#
    );
    AxVMConfig::new(AxVMCrateConfig::from_toml(&toml).unwrap(), Arch::Riscv64).unwrap()
}

const PLIC: &str = r#"["plic", 0x0c00_0000, 0x60_0000, 0, 0x1, []],"#;

fn vm(cpus: usize, extra: &str, devices: &str) -> Arc<Vm> {
    bare_vm(config(cpus, extra, devices), vec![Vec::new(); cpus])
}

/// A riscv64 Image as Linux 6.12 writes it ("MZ", both magics, version 0.2) with
/// `text_offset` and `image_size`, then a body.
fn image(text_offset: u64, image_size: u64) -> Vec<u8> {
    let mut image = vec![0x13u8; 0x4000];
    image[..64].fill(0);
    image[..2].copy_from_slice(b"MZ");
    image[8..16].copy_from_slice(&text_offset.to_le_bytes());
    image[16..24].copy_from_slice(&image_size.to_le_bytes());
    image[32..36].copy_from_slice(&2u32.to_le_bytes());
    image[48..56].copy_from_slice(b"RISCV\0\0\0");
    image[56..60].copy_from_slice(b"RSC\x05");
    image
}

#[test]
fn an_image_goes_to_ram_plus_its_text_offset_and_is_entered_there() {
    let vm = vm(1, "", "");
    // kernel_load_addr is the start of RAM: the Image goes 2 MiB up.
    assert_placed(&vm, &image(0x20_0000, 0x1e6_c000), 0x9020_0000, 0x9000_0000);
}

#[test]
fn a_raw_kernel_is_loaded_and_entered_as_before() {
    let vm = vm(1, "", "");
    assert_raw_kernel_kept(&vm, 0x13, 0x9000_0000);
}

#[test]
fn the_reserved_image_size_is_kept_free_of_the_dtb_and_ramdisk() {
    // Kernel at 0x9020_0000 reserving 0x1e6_c000: up to 0x9206_c000.
    let extra = "dtb_load_addr = 0x9200_0000\nramdisk_load_addr = 0x9100_0000";
    let vm = vm(1, extra, "");
    vm.load_kernel_image(&image(0x20_0000, 0x1e6_c000)).unwrap();
    assert_dtb_and_ramdisk_refused(&vm);
    // An image_size past the end of RAM.
    assert_eq!(
        vm.load_kernel_image(&image(0x20_0000, 0x1000_0000)),
        Err(AxVmError::BadAddress)
    );
}

#[test]
fn boot_loads_a_generated_dtb_and_a1_points_at_it() {
    let extra = r#"cmdline = "console=ttyS0 earlycon=sbi rdinit=/init"
ramdisk_load_addr = 0x9800_0000"#;
    let mut config = config(2, extra, PLIC);
    config.set_fdt_options(FdtOptions::default().with_extensions(&["sstc"]));
    let vm = bare_vm(config, vec![Vec::new(); 2]);
    vm.load_kernel_image(&image(0x20_0000, 0x1e6_c000)).unwrap();
    vm.load_ramdisk(&[7; 0x1_2345]).unwrap();
    assert_eq!(vm.dtb_address(), None);
    vm.boot().unwrap();
    // The top 2 MiB block of RAM.
    let dtb_gpa = 0x9fe0_0000;
    assert_eq!(vm.dtb_address(), Some(GuestPhysAddr::from(dtb_gpa)));
    // a0 = hart id 0, a1 = the DTB, set last.
    let tail: Vec<_> = events(&vm, 0).into_iter().rev().take(2).collect();
    assert_eq!(
        tail,
        [
            ScriptedEvent::Gpr(11, dtb_gpa as u64),
            ScriptedEvent::Gpr(10, 0),
        ]
    );
    // The secondary hart is left to SBI HSM hart_start.
    assert!(
        !events(&vm, 1)
            .iter()
            .any(|e| matches!(e, ScriptedEvent::Gpr(11, _)))
    );
    let blob = dtb_at(&vm, dtb_gpa);
    let tree = Fdt::new(&blob).unwrap();
    assert_chosen(
        &tree,
        "console=ttyS0 earlycon=sbi rdinit=/init",
        0x9800_0000,
        0x9801_2345,
    );
    assert_eq!(tree.cpus().count(), 2);
    let isa = tree
        .find_node("/cpus/cpu@1")
        .unwrap()
        .property("riscv,isa")
        .unwrap()
        .as_str()
        .unwrap();
    assert!(isa.ends_with("_sstc"), "{isa}");
    assert!(tree.find_node("/soc/plic@c000000").is_some());
    assert_eq!(
        tree.chosen().stdout().map(|n| n.name),
        Some("serial@10000000")
    );
}

#[test]
fn a_hart_started_by_hsm_gets_its_hart_id_and_the_opaque_value() {
    let up = AxVCpuExitReason::CpuUp {
        target_cpu: 1,
        entry_point: GuestPhysAddr::from(0x9020_1000),
        arg: 0x5eed,
    };
    let vm = bare_vm(config(2, "", PLIC), vec![vec![Ok(up)], Vec::new()]);
    vm.load_kernel_image(&image(0x20_0000, 0x1e6_c000)).unwrap();
    vm.boot().unwrap();
    let Ok(AxVCpuExitReason::CpuUp {
        target_cpu,
        entry_point,
        arg,
    }) = vm.run_vcpu(0)
    else {
        panic!("no CpuUp");
    };
    // What a hypervisor does with it (minivisor: `start_vcpu`).
    let target = usize::try_from(target_cpu).unwrap();
    let mut secondary = vm.vcpu(target).unwrap();
    secondary.set_entry(entry_point).unwrap();
    for (reg, value) in start_registers(Arch::Riscv64, target, arg) {
        secondary.set_gpr(reg, value).unwrap();
    }
    drop(secondary);
    let tail: Vec<_> = events(&vm, 1).into_iter().rev().take(3).collect();
    assert_eq!(
        tail,
        [
            ScriptedEvent::Gpr(11, 0x5eed),
            ScriptedEvent::Gpr(10, 1),
            ScriptedEvent::Entry(GuestPhysAddr::from(0x9020_1000)),
        ]
    );
}

#[test]
fn without_a_plic_or_with_a_dtb_path_boot_generates_nothing() {
    // The raw test guests: no interrupt controller, no device tree.
    let vm = vm(1, "", "");
    vm.load_kernel_image(&[0x13; 0x100]).unwrap();
    assert_boots_without_dtb(&vm);
    // The host loads the file the config names.
    assert_boots_without_dtb(&self::vm(1, r#"dtb_path = "guest.dtb""#, PLIC));
    // The ArceOS form of the PLIC line (emu_type 0x30) is a PLIC too.
    let vm = self::vm(1, "", r#"["plic", 0x0c00_0000, 0x60_0000, 0, 0x30, [2]],"#);
    vm.boot().unwrap();
    assert!(vm.dtb_address().is_some());
}

#[test]
fn a_tree_the_options_cannot_describe_fails_the_boot_cleanly() {
    let mut config = config(1, "", PLIC);
    config.set_fdt_options(FdtOptions::default().with_extensions(&["Sstc"]));
    let vm = bare_vm(config, vec![Vec::new()]);
    assert_eq!(vm.boot(), Err(AxVmError::InvalidInput));
    assert_eq!(vm.state(), VMState::Ready);
    assert_eq!(vm.dtb_address(), None);
}

#[test]
fn the_reference_riscv_linux_config_gets_a_tree() {
    let Some(blob) = reference_dtb("tgoskits-riscv64-linux-smp1.toml", Arch::Riscv64) else {
        return;
    };
    let tree = Fdt::new(&blob).unwrap();
    assert_eq!(
        first_region(&tree, "/memory@90000000"),
        (0x9000_0000, Some(0x400_0000))
    );
    assert_eq!(tree.cpus().count(), 1);
    // Its PLIC (emu_type 0x30) with hart 0's S-mode context; its UART and virtio
    // devices are passed through, so not in this tree.
    let plic = tree.find_node("/soc/plic@c000000").unwrap();
    let contexts = plic.property("interrupts-extended").unwrap().value;
    assert_eq!(contexts, [0, 0, 0, 2, 0, 0, 0, 9]);
    assert!(tree.find_node("/soc/serial@10000000").is_none());
    assert!(tree.chosen().stdout().is_none());
}

/// The repository's riscv64 Linux config fits Debian's kernel (text_offset 2 MiB,
/// image_size 0x1e6c000) beside its DTB and initramfs, and gets the tree Linux 6.12
/// boots with.
#[test]
fn the_repository_riscv_linux_config_fits_debians_kernel() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs/vms/riscv64-linux.toml");
    let Ok(source) = fs::read_to_string(&path) else {
        eprintln!("skipped: {} is not present", path.display());
        return;
    };
    let file = AxVMCrateConfig::from_toml(&source).unwrap();
    let config = AxVMConfig::new(file, Arch::Riscv64).unwrap();
    let vm = bare_vm(config, vec![Vec::new(); 2]);
    vm.load_kernel_image(&image(0x20_0000, 0x1e6_c000)).unwrap();
    vm.load_ramdisk(&[7; 0x20_0000]).unwrap();
    vm.boot().unwrap();
    assert_eq!(
        events(&vm, 0)
            .into_iter()
            .rfind(|e| matches!(e, ScriptedEvent::Entry(_))),
        Some(ScriptedEvent::Entry(GuestPhysAddr::from(0x9020_0000)))
    );
    assert_eq!(vm.dtb_address(), Some(GuestPhysAddr::from(0x9400_0000)));
    let blob = vm.generate_dtb().unwrap();
    let tree = Fdt::new(&blob).unwrap();
    assert_eq!(tree.cpus().count(), 2);
    let cells = |path: &str, name: &str| -> Vec<u32> {
        tree.find_node(path)
            .unwrap()
            .property(name)
            .unwrap()
            .value
            .chunks(4)
            .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
            .collect()
    };
    assert_eq!(
        cells("/soc/plic@c000000", "interrupts-extended"),
        [2, 9, 3, 9]
    );
    assert_eq!(cells("/soc/plic@c000000", "riscv,ndev"), [10]);
    assert_eq!(cells("/soc/serial@10000000", "interrupts"), [10]);
    assert_eq!(
        tree.chosen().bootargs(),
        Some("console=ttyS0 earlycon=sbi rdinit=/init")
    );
    assert_eq!(
        tree.chosen().stdout().map(|n| n.name),
        Some("serial@10000000")
    );
}
