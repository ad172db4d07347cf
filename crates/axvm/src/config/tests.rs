use alloc::{format, vec};

use axvm_types::{Arch, AxVmError, GuestPhysAddr, PassThroughDeviceConfig, VMBootProtocol};
use axvmconfig::AxVMCrateConfig;

use super::AxVMConfig;

const BASE: &str = r#"
[base]
id = 0
name = "vm"
cpu_num = 2
phys_cpu_ids = [3, 1]

[kernel]
entry_point = 0x4008_1000
kernel_path = "k.bin"
kernel_load_addr = 0x4008_0000
dtb_load_addr = 0x4000_0000
ramdisk_load_addr = 0x4100_0000
memory_regions = [[0x4000_0000, 0x200_0000, 0x7, 1]]
"#;

fn config(text: &str, arch: Arch) -> Result<AxVMConfig, AxVmError> {
    AxVMConfig::new(AxVMCrateConfig::from_toml(text).unwrap(), arch)
}

#[test]
fn vm_id_zero_is_an_ordinary_id() {
    let config = config(BASE, Arch::Aarch64).unwrap();
    assert_eq!(config.id(), 0);
    assert_eq!(config.name(), "vm");
    assert_eq!(config.cpu_num(), 2);
}

#[test]
fn the_boot_protocol_defaults_to_direct() {
    let direct = config(BASE, Arch::X86_64).unwrap();
    assert_eq!(direct.boot_protocol(), VMBootProtocol::Direct);
    let text = BASE.replace("kernel_path", "boot_protocol = \"multiboot\"\nkernel_path");
    let multiboot = config(&text, Arch::X86_64).unwrap();
    assert_eq!(multiboot.boot_protocol(), VMBootProtocol::Multiboot);
}

#[test]
fn affinities_follow_the_phys_cpu_lists() {
    let config = config(BASE, Arch::Aarch64).unwrap();
    assert_eq!(
        config.phys_cpu_ls.get_vcpu_affinities_pcpu_ids(),
        vec![(0, None, 3), (1, None, 1)]
    );
    let sets = BASE.replace("phys_cpu_ids = [3, 1]", "phys_cpu_sets = [0x1, 0x6]");
    let config =
        super::AxVMConfig::new(AxVMCrateConfig::from_toml(&sets).unwrap(), Arch::X86_64).unwrap();
    assert_eq!(
        config.phys_cpu_ls.get_vcpu_affinities_pcpu_ids(),
        vec![(0, Some(1), 0), (1, Some(6), 1)]
    );
}

#[test]
fn a_phys_cpu_list_of_the_wrong_length_is_an_error() {
    let mut crate_config = AxVMCrateConfig::from_toml(BASE).unwrap();
    crate_config.base.phys_cpu_ids = Some(vec![0]);
    assert_eq!(
        AxVMConfig::new(crate_config, Arch::Aarch64),
        Err(AxVmError::InvalidInput)
    );
    assert!(super::PhysCpuList::new(2, None, Some(vec![1, 2, 3])).is_err());
}

#[test]
fn a_bios_address_exists_only_when_enabled() {
    let with_addr = BASE.replace(
        "dtb_load_addr",
        "bios_load_addr = 0x4000_8000\ndtb_load_addr",
    );
    assert_eq!(
        config(&with_addr, Arch::X86_64)
            .unwrap()
            .image_config()
            .bios_load_gpa,
        None
    );

    let enabled = with_addr.replace("kernel_path", "enable_bios = true\nkernel_path");
    let image = *config(&enabled, Arch::Aarch64).unwrap().image_config();
    assert_eq!(image.bios_load_gpa, Some(GuestPhysAddr::from(0x4000_8000)));
}

#[test]
fn the_x86_bios_defaults_to_0x8000() {
    let text = BASE
        .replace("kernel_path", "enable_bios = true\nkernel_path")
        .replace(
            "[0x4000_0000, 0x200_0000, 0x7, 1]",
            "[0x0, 0x200_0000, 0x7, 0], [0x4000_0000, 0x200_0000, 0x7, 1]",
        );
    let image = *config(&text, Arch::X86_64).unwrap().image_config();
    assert_eq!(image.bios_load_gpa, Some(GuestPhysAddr::from(0x8000)));
    // Elsewhere there is no default: an enabled BIOS needs an address.
    assert_eq!(config(&text, Arch::Riscv64), Err(AxVmError::InvalidInput));
}

#[test]
fn relocation_keeps_entry_offsets() {
    let mut config = config(BASE, Arch::Aarch64).unwrap();
    config
        .relocate_kernel_image(GuestPhysAddr::from(0x8000_0000))
        .unwrap();
    assert_eq!(
        config.image_config().kernel_load_gpa,
        GuestPhysAddr::from(0x8000_0000)
    );
    assert_eq!(config.bsp_entry(), GuestPhysAddr::from(0x8000_1000));
    assert_eq!(config.ap_entry(), GuestPhysAddr::from(0x8000_1000));
}

#[test]
fn an_entry_below_the_load_address_cannot_be_relocated() {
    let text = BASE.replace("entry_point = 0x4008_1000", "entry_point = 0x4000_1000");
    let mut config = config(&text, Arch::Aarch64).unwrap();
    let before = config.clone();
    assert_eq!(
        config.relocate_kernel_image(GuestPhysAddr::from(0x8000_0000)),
        Err(AxVmError::InvalidInput)
    );
    assert_eq!(config, before);
    assert_eq!(
        config.relocate_kernel_image(GuestPhysAddr::from(usize::MAX)),
        Err(AxVmError::InvalidInput)
    );
}

#[test]
fn identical_memory_puts_the_kernel_at_the_region_start() {
    let mut config = config(BASE, Arch::Aarch64).unwrap();
    config
        .relocate_to_identical_region(GuestPhysAddr::from(0x9000_0000))
        .unwrap();
    assert_eq!(
        config.image_config().kernel_load_gpa,
        GuestPhysAddr::from(0x9000_0000)
    );
    assert_eq!(config.bsp_entry(), GuestPhysAddr::from(0x9000_1000));

    let with_bios = BASE.replace(
        "kernel_path",
        "enable_bios = true\nbios_load_addr = 0x4000_8000\nkernel_path",
    );
    let mut config = super::AxVMConfig::new(
        AxVMCrateConfig::from_toml(&with_bios).unwrap(),
        Arch::Aarch64,
    )
    .unwrap();
    config
        .relocate_to_identical_region(GuestPhysAddr::from(0x9000_0000))
        .unwrap();
    assert_eq!(
        config.image_config().kernel_load_gpa,
        GuestPhysAddr::from(0x9020_0000)
    );
}

#[test]
fn removing_a_pass_through_device_keeps_the_others() {
    let mut config = config(BASE, Arch::Aarch64).unwrap();
    let device = |name: &str| PassThroughDeviceConfig {
        name: name.into(),
        ..PassThroughDeviceConfig::default()
    };
    config.add_pass_through_device(device("a"));
    config.add_pass_through_device(device("b"));
    config.add_pass_through_device(device("c"));
    config.remove_pass_through_device(&device("b"));
    let names: alloc::vec::Vec<&str> = config
        .pass_through_devices()
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(names, ["a", "c"]);
    config.clear_pass_through_devices();
    assert!(config.pass_through_devices().is_empty());
    config.add_pass_through_spi(33);
    assert_eq!(config.pass_through_spis(), [33]);
}

#[test]
fn ramdisk_size_is_recorded() {
    let mut config = config(BASE, Arch::Aarch64).unwrap();
    config.set_ramdisk_size(0x1234);
    let ramdisk = config.image_config().ramdisk.unwrap();
    assert_eq!(
        (ramdisk.load_gpa, ramdisk.size),
        (GuestPhysAddr::from(0x4100_0000), 0x1234)
    );
}

#[test]
fn x86_vms_leave_the_local_apic_page_alone() {
    let ram = BASE.replace(
        "memory_regions = [[0x4000_0000, 0x200_0000, 0x7, 1]]",
        "memory_regions = [[0x4000_0000, 0x200_0000, 0x7, 1], [0xfee0_0000, 0x1000, 0x7, 0]]",
    );
    assert_eq!(
        config(&ram, Arch::X86_64).map(|_| ()),
        Err(AxVmError::InvalidInput)
    );
    config(&ram, Arch::Aarch64).unwrap();
    let device =
        format!("{BASE}\n[devices]\nemu_devices = [[\"com1\", 0xfedf_f000, 0x1001, 4, 0x2, []]]\n");
    assert_eq!(
        config(&device, Arch::X86_64).map(|_| ()),
        Err(AxVmError::InvalidInput)
    );
    let below = device.replace("0x1001", "0x1000");
    config(&below, Arch::X86_64).unwrap();
}

#[test]
fn a_moved_region_takes_the_images_inside_it() {
    let two_regions = BASE.replace(
        "memory_regions = [[0x4000_0000, 0x200_0000, 0x7, 1]]",
        "memory_regions = [[0x4000_0000, 0x100_0000, 0x7, 1], [0x4100_0000, 0x100_0000, 0x7, 0]]",
    );
    let mut config = config(&two_regions, Arch::Aarch64).unwrap();
    config
        .relocate_region(0, GuestPhysAddr::from(0x9000_0000))
        .unwrap();
    let images = config.image_config();
    assert_eq!(images.kernel_load_gpa, GuestPhysAddr::from(0x9008_0000));
    assert_eq!(config.bsp_entry(), GuestPhysAddr::from(0x9008_1000));
    assert_eq!(images.dtb_load_gpa, Some(GuestPhysAddr::from(0x9000_0000)));
    // The ramdisk is in the other region: it stays.
    assert_eq!(
        images.ramdisk.map(|r| r.load_gpa),
        Some(GuestPhysAddr::from(0x4100_0000))
    );
    assert_eq!(config.memory_regions()[0].gpa, 0x9000_0000);

    let before = config.clone();
    assert_eq!(
        config.relocate_region(2, GuestPhysAddr::from(0)),
        Err(AxVmError::NotFound)
    );
    assert_eq!(
        config.relocate_region(0, GuestPhysAddr::from(usize::MAX - 0x1000)),
        Err(AxVmError::InvalidInput)
    );
    assert_eq!(config, before);
}
