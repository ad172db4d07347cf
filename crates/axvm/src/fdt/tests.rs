//! The generated trees, read back with an independent parser (the `fdt` crate).

use alloc::{format, string::String, vec::Vec};

use axvmconfig::AxVMCrateConfig;
use fdt::Fdt;
use proptest::prelude::*;

use super::*;

mod riscv64;

/// A config: `cpus` vCPUs, two RAM regions, `devices` as the `emu_devices` lines
/// and `kernel_extra` added to `[kernel]`.
fn config(arch: Arch, cpus: usize, kernel_extra: &str, devices: &str) -> AxVMConfig {
    try_config(arch, cpus, kernel_extra, devices).unwrap()
}

/// As [`config`], or `None` when the config layer refuses it.
fn try_config(arch: Arch, cpus: usize, kernel_extra: &str, devices: &str) -> Option<AxVMConfig> {
    AxVMConfig::new(try_crate_config(cpus, kernel_extra, devices)?, arch).ok()
}

/// The parsed config file of [`config`].
fn crate_config(cpus: usize, kernel_extra: &str, devices: &str) -> AxVMCrateConfig {
    try_crate_config(cpus, kernel_extra, devices).unwrap()
}

fn try_crate_config(cpus: usize, kernel_extra: &str, devices: &str) -> Option<AxVMCrateConfig> {
    let toml = format!(
        r#"
[base]
id = 3
name = "fdt"
cpu_num = {cpus}

[kernel]
entry_point = 0x4020_0000
kernel_path = "Image"
kernel_load_addr = 0x4020_0000
{kernel_extra}
memory_regions = [
    [0x4000_0000, 0x1000_0000, 0x7, 0],
    [0x1_0000_0000, 0x4000_0000, 0x7, 1],
    [0x7000_0000, 0x1000, 0x7, 2],
]

[devices]
emu_devices = [{devices}]
"#
    );
    AxVMCrateConfig::from_toml(&toml).ok()
}

const GIC: &str = r#"["gic", 0x0800_0000, 0x1_0000, 0, 0x1, [0x080a_0000]],"#;
const UART: &str = r#"["pl011", 0x0900_0000, 0x1000, 33, 0x2, []],"#;
const UART2: &str = r#"["pl011b", 0x0900_1000, 0x1000, 34, 0x2, []],"#;

fn prop<'a>(fdt: &Fdt<'a>, path: &str, name: &str) -> Option<&'a [u8]> {
    fdt.find_node(path)?.property(name).map(|p| p.value)
}

fn cells(fdt: &Fdt<'_>, path: &str, name: &str) -> Vec<u32> {
    prop(fdt, path, name)
        .unwrap_or_else(|| panic!("{path} {name}"))
        .chunks(4)
        .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
        .collect()
}

/// The property as 64-bit values (two cells each).
fn u64s(fdt: &Fdt<'_>, path: &str, name: &str) -> Vec<u64> {
    cells(fdt, path, name)
        .chunks(2)
        .map(|c| (u64::from(c[0]) << 32) | u64::from(c[1]))
        .collect()
}

fn strings(fdt: &Fdt<'_>, path: &str, name: &str) -> Vec<String> {
    let value = prop(fdt, path, name).unwrap_or_else(|| panic!("{path} {name}"));
    assert_eq!(value.last(), Some(&0), "{path} {name} is NUL-terminated");
    value[..value.len() - 1]
        .split(|&b| b == 0)
        .map(|s| String::from(core::str::from_utf8(s).unwrap()))
        .collect()
}

fn children(fdt: &Fdt<'_>, path: &str) -> Vec<String> {
    fdt.find_node(path)
        .unwrap()
        .children()
        .map(|node| String::from(node.name))
        .collect()
}

#[test]
fn one_vcpu_with_gic_console_cmdline_and_initrd() {
    let config = config(
        Arch::Aarch64,
        1,
        r#"cmdline = "console=ttyAMA0 earlycon rdinit=/init""#,
        &format!("{GIC}{UART}"),
    );
    let initrd = Initrd {
        start: GuestPhysAddr::from(0x4800_0000),
        size: 0x12_3456,
    };
    let dtb = generate(&config, Some(initrd)).unwrap();
    let fdt = Fdt::new(&dtb).unwrap();

    // The root.
    assert_eq!(strings(&fdt, "/", "compatible"), ["linux,dummy-virt"]);
    assert_eq!(cells(&fdt, "/", "#address-cells"), [2]);
    assert_eq!(cells(&fdt, "/", "#size-cells"), [2]);
    assert_eq!(cells(&fdt, "/", "interrupt-parent"), [GIC_PHANDLE]);
    assert_eq!(
        children(&fdt, "/"),
        [
            "memory@40000000",
            "memory@100000000",
            "cpus",
            "psci",
            "interrupt-controller@8000000",
            "timer",
            "apb-pclk",
            "pl011@9000000",
            "chosen"
        ]
    );

    // RAM: the alloc and identical regions, not the reserved one.
    for (path, reg) in [
        ("/memory@40000000", [0x4000_0000, 0x1000_0000]),
        ("/memory@100000000", [0x1_0000_0000, 0x4000_0000]),
    ] {
        assert_eq!(strings(&fdt, path, "device_type"), ["memory"]);
        assert_eq!(u64s(&fdt, path, "reg"), reg);
    }
    let ram: Vec<_> = fdt
        .memory()
        .regions()
        .map(|r| (r.starting_address as usize, r.size.unwrap()))
        .collect();
    assert_eq!(ram, [(0x4000_0000, 0x1000_0000)], "the parser's first node");

    // CPUs and PSCI.
    assert_eq!(cells(&fdt, "/cpus", "#address-cells"), [1]);
    assert_eq!(cells(&fdt, "/cpus", "#size-cells"), [0]);
    assert_eq!(children(&fdt, "/cpus"), ["cpu@0"]);
    assert_eq!(strings(&fdt, "/cpus/cpu@0", "device_type"), ["cpu"]);
    assert_eq!(strings(&fdt, "/cpus/cpu@0", "compatible"), ["arm,armv8"]);
    assert_eq!(cells(&fdt, "/cpus/cpu@0", "reg"), [0]);
    assert_eq!(strings(&fdt, "/cpus/cpu@0", "enable-method"), ["psci"]);
    assert_eq!(
        strings(&fdt, "/psci", "compatible"),
        ["arm,psci-1.0", "arm,psci-0.2"]
    );
    assert_eq!(strings(&fdt, "/psci", "method"), ["hvc"]);

    // The GICv3: GICD and one redistributor.
    let gic = "/interrupt-controller@8000000";
    assert_eq!(strings(&fdt, gic, "compatible"), ["arm,gic-v3"]);
    assert_eq!(cells(&fdt, gic, "#interrupt-cells"), [3]);
    assert_eq!(prop(&fdt, gic, "interrupt-controller"), Some(&[][..]));
    assert_eq!(cells(&fdt, gic, "#redistributor-regions"), [1]);
    assert_eq!(
        u64s(&fdt, gic, "reg"),
        [0x0800_0000, 0x1_0000, 0x080a_0000, 0x2_0000]
    );
    assert_eq!(cells(&fdt, gic, "phandle"), [GIC_PHANDLE]);

    // The timer's four PPIs, level-triggered.
    assert_eq!(strings(&fdt, "/timer", "compatible"), ["arm,armv8-timer"]);
    assert_eq!(prop(&fdt, "/timer", "always-on"), Some(&[][..]));
    assert_eq!(
        cells(&fdt, "/timer", "interrupts"),
        [1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4]
    );

    // The clock and the console on SPI 1 (INTID 33).
    assert_eq!(strings(&fdt, "/apb-pclk", "compatible"), ["fixed-clock"]);
    assert_eq!(cells(&fdt, "/apb-pclk", "#clock-cells"), [0]);
    assert_eq!(cells(&fdt, "/apb-pclk", "clock-frequency"), [24_000_000]);
    assert_eq!(cells(&fdt, "/apb-pclk", "phandle"), [APB_PCLK]);
    let uart = "/pl011@9000000";
    assert_eq!(
        strings(&fdt, uart, "compatible"),
        ["arm,pl011", "arm,primecell"]
    );
    assert_eq!(u64s(&fdt, uart, "reg"), [0x0900_0000, 0x1000]);
    assert_eq!(cells(&fdt, uart, "interrupts"), [0, 1, 4]);
    assert_eq!(cells(&fdt, uart, "clocks"), [APB_PCLK, APB_PCLK]);
    assert_eq!(strings(&fdt, uart, "clock-names"), ["uartclk", "apb_pclk"]);

    // /chosen.
    assert_eq!(
        fdt.chosen().bootargs(),
        Some("console=ttyAMA0 earlycon rdinit=/init")
    );
    assert_eq!(strings(&fdt, "/chosen", "stdout-path"), [uart]);
    assert_eq!(fdt.chosen().stdout().map(|n| n.name), Some("pl011@9000000"));
    assert_eq!(u64s(&fdt, "/chosen", "linux,initrd-start"), [0x4800_0000]);
    assert_eq!(u64s(&fdt, "/chosen", "linux,initrd-end"), [0x4812_3456]);
}

const GIC_PHANDLE: u32 = 1;
const APB_PCLK: u32 = 2;

#[test]
fn two_vcpus_without_cmdline_or_initrd() {
    let config = config(Arch::Aarch64, 2, "", &format!("{GIC}{UART}{UART2}"));
    let dtb = generate(&config, None).unwrap();
    let fdt = Fdt::new(&dtb).unwrap();
    assert_eq!(children(&fdt, "/cpus"), ["cpu@0", "cpu@1"]);
    for id in 0..2 {
        let cpu = format!("/cpus/cpu@{id}");
        assert_eq!(cells(&fdt, &cpu, "reg"), [id]);
        assert_eq!(strings(&fdt, &cpu, "enable-method"), ["psci"]);
        assert_eq!(strings(&fdt, &cpu, "compatible"), ["arm,armv8"]);
    }
    // Two redistributors.
    assert_eq!(
        u64s(&fdt, "/interrupt-controller@8000000", "reg"),
        [0x0800_0000, 0x1_0000, 0x080a_0000, 0x4_0000]
    );
    // Both consoles; the first is stdout.
    assert_eq!(cells(&fdt, "/pl011@9001000", "interrupts"), [0, 2, 4]);
    assert_eq!(strings(&fdt, "/chosen", "stdout-path"), ["/pl011@9000000"]);
    for absent in ["bootargs", "linux,initrd-start", "linux,initrd-end"] {
        assert_eq!(prop(&fdt, "/chosen", absent), None, "{absent}");
    }
}

#[test]
fn without_a_gic_nothing_names_interrupts() {
    let config = config(Arch::Aarch64, 2, r#"cmdline = "quiet""#, UART);
    let dtb = generate(&config, None).unwrap();
    let fdt = Fdt::new(&dtb).unwrap();
    assert!(
        fdt.all_nodes()
            .all(|node| !node.name.starts_with("interrupt-controller"))
    );
    assert!(fdt.all_nodes().all(|node| {
        node.properties()
            .all(|p| p.name != "interrupts" && p.name != "interrupt-parent")
    }));
    assert_eq!(strings(&fdt, "/timer", "compatible"), ["arm,armv8-timer"]);
    assert_eq!(u64s(&fdt, "/pl011@9000000", "reg"), [0x0900_0000, 0x1000]);
    assert_eq!(fdt.chosen().bootargs(), Some("quiet"));
}

#[test]
fn without_consoles_there_is_no_clock_and_no_stdout() {
    let config = config(Arch::Aarch64, 1, "", GIC);
    let dtb = generate(&config, None).unwrap();
    let fdt = Fdt::new(&dtb).unwrap();
    assert!(fdt.find_node("/apb-pclk").is_none());
    assert_eq!(prop(&fdt, "/chosen", "stdout-path"), None);
}

#[test]
fn a_console_below_the_spis_gets_no_interrupt() {
    let uart = r#"["pl011", 0x0900_0000, 0x1000, 0, 0x2, []],"#;
    let config = config(Arch::Aarch64, 1, "", &format!("{GIC}{uart}"));
    let dtb = generate(&config, None).unwrap();
    let fdt = Fdt::new(&dtb).unwrap();
    assert_eq!(prop(&fdt, "/pl011@9000000", "interrupts"), None);
}

#[test]
fn configs_that_cannot_be_described_fail_cleanly() {
    let refused = |vm: &AxVMConfig| generate(vm, None);
    let no_gicr = r#"["gic", 0x0800_0000, 0x1_0000, 0, 0x1, []],"#;
    assert_eq!(
        refused(&config(Arch::Aarch64, 1, "", no_gicr)),
        Err(AxVmError::InvalidInput)
    );
    // Two redistributors from there would run past the end of the address space (a
    // config built in code: TOML integers stop at i64::MAX).
    let mut far_gicr = crate_config(2, "", GIC);
    far_gicr.devices.emu_devices[0].cfg_list[0] = usize::MAX - 0x1_0000;
    let far_gicr = AxVMConfig::new(far_gicr, Arch::Aarch64).unwrap();
    assert_eq!(refused(&far_gicr), Err(AxVmError::InvalidInput));
    let not_spi = r#"["pl011", 0x0900_0000, 0x1000, 5000, 0x2, []],"#;
    assert_eq!(
        refused(&config(Arch::Aarch64, 1, "", &format!("{GIC}{not_spi}"))),
        Err(AxVmError::InvalidInput)
    );
    assert_eq!(
        refused(&config(Arch::Aarch64, 1, r#"cmdline = "a\u0000b""#, "")),
        Err(AxVmError::InvalidInput)
    );
    let initrd = Initrd {
        start: GuestPhysAddr::from(usize::MAX),
        size: 2,
    };
    assert_eq!(
        generate(&config(Arch::Aarch64, 1, "", ""), Some(initrd)),
        Err(AxVmError::InvalidInput)
    );
}

#[test]
fn x86_64_has_no_generated_tree() {
    let config = config(Arch::X86_64, 1, "", "");
    assert_eq!(generate(&config, None), Err(AxVmError::Unsupported));
}

proptest! {
    /// Whatever the vCPU count, device windows, interrupt and initrd, the tree is
    /// either refused or well formed with one cpu node per vCPU; nothing panics.
    #[test]
    fn any_config_gives_a_tree_or_an_error(
        cpus in 1usize..=64,
        gicd in any::<usize>(),
        gicr in any::<usize>(),
        uart in any::<usize>(),
        irq in any::<usize>(),
        initrd in proptest::option::of((any::<usize>(), any::<usize>())),
    ) {
        let mut file = crate_config(cpus, "", &format!("{GIC}{UART}"));
        file.devices.emu_devices[0].base_gpa = gicd;
        file.devices.emu_devices[0].cfg_list[0] = gicr;
        file.devices.emu_devices[1].base_gpa = uart;
        file.devices.emu_devices[1].irq_id = irq;
        let Ok(config) = AxVMConfig::new(file, Arch::Aarch64) else {
            return Ok(());
        };
        let initrd = initrd.map(|(start, size)| Initrd { start: GuestPhysAddr::from(start), size });
        match generate(&config, initrd) {
            Ok(dtb) => {
                let fdt = Fdt::new(&dtb).unwrap();
                prop_assert_eq!(children(&fdt, "/cpus").len(), cpus);
                prop_assert!(irq <= 1019);
            }
            Err(error) => prop_assert_eq!(error, AxVmError::InvalidInput),
        }
    }
}
