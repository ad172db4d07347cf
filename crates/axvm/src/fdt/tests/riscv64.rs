//! The riscv64 trees, read back with the `fdt` crate.

use alloc::{format, string::String, vec::Vec};

use fdt::Fdt;
use proptest::prelude::*;

use super::{cells, children, config, crate_config, prop, strings, u64s, *};

const PLIC: &str = r#"["plic", 0x0c00_0000, 0x60_0000, 0, 0x1, []],"#;
const UART: &str = r#"["ns16550", 0x1000_0000, 0x100, 10, 0x2, []],"#;
const UART2: &str = r#"["ns16550b", 0x1000_1000, 0x100, 11, 0x2, []],"#;
const PLIC_PHANDLE: u32 = 1;

/// A riscv64 config with `options`.
fn riscv(cpus: usize, kernel_extra: &str, devices: &str, options: FdtOptions) -> AxVMConfig {
    let mut config = config(Arch::Riscv64, cpus, kernel_extra, devices);
    config.set_fdt_options(options);
    config
}

fn tree(config: &AxVMConfig, initrd: Option<Initrd>) -> Vec<u8> {
    generate(config, initrd).unwrap()
}

#[test]
fn two_harts_with_plic_uart_cmdline_initrd_and_sstc() {
    let config = riscv(
        2,
        r#"cmdline = "console=ttyS0 earlycon=sbi rdinit=/init""#,
        &format!("{PLIC}{UART}"),
        FdtOptions::default().with_extensions(&["sstc"]),
    );
    let initrd = Initrd {
        start: GuestPhysAddr::from(0x4800_0000),
        size: 0x10_0000,
    };
    let dtb = tree(&config, Some(initrd));
    let fdt = Fdt::new(&dtb).unwrap();

    // The root.
    assert_eq!(cells(&fdt, "/", "#address-cells"), [2]);
    assert_eq!(cells(&fdt, "/", "#size-cells"), [2]);
    assert_eq!(strings(&fdt, "/", "compatible"), ["riscv-virtio"]);
    assert_eq!(fdt.root().model(), "riscv-virtio,axvm");
    assert_eq!(prop(&fdt, "/", "interrupt-parent"), None);
    assert_eq!(
        children(&fdt, "/"),
        [
            "memory@40000000",
            "memory@100000000",
            "cpus",
            "soc",
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

    // The harts, each with its local interrupt controller.
    assert_eq!(cells(&fdt, "/cpus", "#address-cells"), [1]);
    assert_eq!(cells(&fdt, "/cpus", "#size-cells"), [0]);
    assert_eq!(cells(&fdt, "/cpus", "timebase-frequency"), [10_000_000]);
    assert_eq!(children(&fdt, "/cpus"), ["cpu@0", "cpu@1"]);
    for hart in 0..2u32 {
        let cpu = format!("/cpus/cpu@{hart}");
        assert_eq!(strings(&fdt, &cpu, "device_type"), ["cpu"]);
        assert_eq!(cells(&fdt, &cpu, "reg"), [hart]);
        assert_eq!(strings(&fdt, &cpu, "status"), ["okay"]);
        assert_eq!(strings(&fdt, &cpu, "compatible"), ["riscv"]);
        assert_eq!(
            strings(&fdt, &cpu, "riscv,isa"),
            ["rv64imafdc_zicntr_zicsr_zifencei_sstc"]
        );
        assert_eq!(strings(&fdt, &cpu, "riscv,isa-base"), ["rv64i"]);
        assert_eq!(
            strings(&fdt, &cpu, "riscv,isa-extensions"),
            [
                "i", "m", "a", "f", "d", "c", "zicntr", "zicsr", "zifencei", "sstc"
            ]
        );
        assert_eq!(strings(&fdt, &cpu, "mmu-type"), ["riscv,sv39"]);
        assert_eq!(children(&fdt, &cpu), ["interrupt-controller"]);
        let intc = format!("{cpu}/interrupt-controller");
        assert_eq!(cells(&fdt, &intc, "#address-cells"), [0]);
        assert_eq!(cells(&fdt, &intc, "#interrupt-cells"), [1]);
        assert_eq!(prop(&fdt, &intc, "interrupt-controller"), Some(&[][..]));
        assert_eq!(strings(&fdt, &intc, "compatible"), ["riscv,cpu-intc"]);
        assert_eq!(cells(&fdt, &intc, "phandle"), [2 + hart]);
    }
    let harts: Vec<_> = fdt
        .cpus()
        .map(|cpu| (cpu.ids().first(), cpu.timebase_frequency()))
        .collect();
    assert_eq!(harts, [(0, 10_000_000), (1, 10_000_000)]);

    // The bus.
    assert_eq!(cells(&fdt, "/soc", "#address-cells"), [2]);
    assert_eq!(cells(&fdt, "/soc", "#size-cells"), [2]);
    assert_eq!(strings(&fdt, "/soc", "compatible"), ["simple-bus"]);
    assert_eq!(prop(&fdt, "/soc", "ranges"), Some(&[][..]));
    assert_eq!(children(&fdt, "/soc"), ["plic@c000000", "serial@10000000"]);

    // The PLIC: context N = hart N's S-mode external interrupt (9).
    let plic = "/soc/plic@c000000";
    assert_eq!(
        strings(&fdt, plic, "compatible"),
        ["sifive,plic-1.0.0", "riscv,plic0"]
    );
    assert_eq!(u64s(&fdt, plic, "reg"), [0x0c00_0000, 0x60_0000]);
    assert_eq!(cells(&fdt, plic, "interrupts-extended"), [2, 9, 3, 9]);
    assert_eq!(prop(&fdt, plic, "interrupt-controller"), Some(&[][..]));
    assert_eq!(cells(&fdt, plic, "#address-cells"), [0]);
    assert_eq!(cells(&fdt, plic, "#interrupt-cells"), [1]);
    assert_eq!(cells(&fdt, plic, "riscv,ndev"), [10], "the UART's source");
    assert_eq!(cells(&fdt, plic, "phandle"), [PLIC_PHANDLE]);
    // Each context's phandle is a hart's interrupt controller.
    for (context, hart) in [(2, "cpu@0"), (3, "cpu@1")] {
        let intc = fdt.find_phandle(context).unwrap();
        assert_eq!(intc.name, "interrupt-controller");
        let cpu = format!("/cpus/{hart}/interrupt-controller");
        assert_eq!(
            cells(&fdt, &cpu, "phandle"),
            [context],
            "{hart} owns phandle {context}"
        );
    }

    // The UART on source 10 of the PLIC.
    let uart = "/soc/serial@10000000";
    assert_eq!(strings(&fdt, uart, "compatible"), ["ns16550a"]);
    assert_eq!(u64s(&fdt, uart, "reg"), [0x1000_0000, 0x100]);
    let reg = fdt.find_node(uart).unwrap().reg().unwrap().next().unwrap();
    assert_eq!(
        (reg.starting_address as usize, reg.size),
        (0x1000_0000, Some(0x100)),
        "read with the bus's cell sizes"
    );
    assert_eq!(cells(&fdt, uart, "clock-frequency"), [3_686_400]);
    assert_eq!(cells(&fdt, uart, "interrupt-parent"), [PLIC_PHANDLE]);
    assert_eq!(cells(&fdt, uart, "interrupts"), [10]);
    let node = fdt.find_node(uart).unwrap();
    assert_eq!(
        node.interrupt_parent().map(|n| n.name),
        Some("plic@c000000")
    );

    // /chosen.
    assert_eq!(
        fdt.chosen().bootargs(),
        Some("console=ttyS0 earlycon=sbi rdinit=/init")
    );
    assert_eq!(strings(&fdt, "/chosen", "stdout-path"), [uart]);
    assert_eq!(
        fdt.chosen().stdout().map(|n| n.name),
        Some("serial@10000000")
    );
    assert_eq!(u64s(&fdt, "/chosen", "linux,initrd-start"), [0x4800_0000]);
    assert_eq!(u64s(&fdt, "/chosen", "linux,initrd-end"), [0x4810_0000]);
}

#[test]
fn the_isa_mmu_and_timebase_are_the_options() {
    // The default: no sstc.
    let config = riscv(1, "", "", FdtOptions::default());
    let dtb = tree(&config, None);
    let fdt = Fdt::new(&dtb).unwrap();
    assert_eq!(
        strings(&fdt, "/cpus/cpu@0", "riscv,isa"),
        ["rv64imafdc_zicntr_zicsr_zifencei"]
    );
    assert!(!strings(&fdt, "/cpus/cpu@0", "riscv,isa-extensions").contains(&String::from("sstc")));
    // What the caller says.
    let options = FdtOptions {
        isa_extensions: ["i", "m", "a", "c", "zicsr", "svinval"]
            .map(String::from)
            .to_vec(),
        mmu_type: String::from("riscv,sv48"),
        timebase_frequency: 25_000_000,
    };
    let dtb = tree(&riscv(1, "", "", options), None);
    let fdt = Fdt::new(&dtb).unwrap();
    assert_eq!(
        strings(&fdt, "/cpus/cpu@0", "riscv,isa"),
        ["rv64imac_zicsr_svinval"]
    );
    assert_eq!(
        strings(&fdt, "/cpus/cpu@0", "riscv,isa-extensions"),
        ["i", "m", "a", "c", "zicsr", "svinval"]
    );
    assert_eq!(strings(&fdt, "/cpus/cpu@0", "mmu-type"), ["riscv,sv48"]);
    assert_eq!(cells(&fdt, "/cpus", "timebase-frequency"), [25_000_000]);
}

#[test]
fn without_a_plic_the_uart_is_polled() {
    let config = riscv(2, "", &format!("{UART}{UART2}"), FdtOptions::default());
    let dtb = tree(&config, None);
    let fdt = Fdt::new(&dtb).unwrap();
    assert_eq!(
        children(&fdt, "/soc"),
        ["serial@10000000", "serial@10001000"]
    );
    assert!(fdt.all_nodes().all(|node| {
        node.properties()
            .all(|p| p.name != "interrupts" && p.name != "interrupt-parent")
    }));
    assert_eq!(
        u64s(&fdt, "/soc/serial@10001000", "reg"),
        [0x1000_1000, 0x100]
    );
    // The first console is stdout.
    assert_eq!(
        strings(&fdt, "/chosen", "stdout-path"),
        ["/soc/serial@10000000"]
    );
    // The harts keep their local controllers (Linux's timer and IPIs use them).
    assert!(fdt.find_node("/cpus/cpu@1/interrupt-controller").is_some());
}

#[test]
fn without_devices_there_is_no_bus_and_no_stdout() {
    let config = riscv(1, r#"cmdline = "quiet""#, "", FdtOptions::default());
    let dtb = tree(&config, None);
    let fdt = Fdt::new(&dtb).unwrap();
    assert!(fdt.find_node("/soc").is_none());
    assert_eq!(prop(&fdt, "/chosen", "stdout-path"), None);
    assert_eq!(fdt.chosen().bootargs(), Some("quiet"));
}

#[test]
fn a_uart_without_an_interrupt_is_polled_beside_a_plic() {
    let uart = r#"["uart", 0x1000_0000, 0x100, 0, 0x2, []],"#;
    let config = riscv(1, "", &format!("{PLIC}{uart}"), FdtOptions::default());
    let dtb = tree(&config, None);
    let fdt = Fdt::new(&dtb).unwrap();
    let serial = "/soc/serial@10000000";
    assert_eq!(prop(&fdt, serial, "interrupts"), None);
    assert_eq!(prop(&fdt, serial, "interrupt-parent"), None);
    // No device raises an interrupt: one source all the same.
    assert_eq!(cells(&fdt, "/soc/plic@c000000", "riscv,ndev"), [1]);
}

#[test]
fn the_plic_source_count_comes_from_cfg_or_the_devices() {
    let ndev = |plic: &str, devices: &str| {
        let config = riscv(1, "", &format!("{plic}{devices}"), FdtOptions::default());
        generate(&config, None).map(|dtb| {
            let fdt = Fdt::new(&dtb).unwrap();
            cells(&fdt, "/soc/plic@c000000", "riscv,ndev")[0]
        })
    };
    // cfg[0] of an interrupt-controller line.
    let plic32 = r#"["plic", 0x0c00_0000, 0x60_0000, 0, 0x1, [32]],"#;
    assert_eq!(ndev(plic32, UART), Ok(32));
    // The ArceOS form: emu_type 0x30, cfg[0] a context count: from the devices.
    let plic30 = r#"["plic", 0x0c00_0000, 0x60_0000, 0, 0x30, [2]],"#;
    assert_eq!(ndev(plic30, &format!("{UART}{UART2}")), Ok(11));
    // Any device's line counts, not only the consoles'.
    let other = r#"["dummy", 0x2000_0000, 0x1000, 40, 0x0, []],"#;
    assert_eq!(ndev(PLIC, &format!("{UART}{other}")), Ok(40));
    // Refused: no source, more than 1023, a console beyond the sources.
    for plic in [
        r#"["plic", 0x0c00_0000, 0x60_0000, 0, 0x1, [0]],"#,
        r#"["plic", 0x0c00_0000, 0x60_0000, 0, 0x1, [1024]],"#,
        r#"["plic", 0x0c00_0000, 0x60_0000, 0, 0x1, [9]],"#,
    ] {
        assert_eq!(ndev(plic, UART), Err(AxVmError::InvalidInput), "{plic}");
    }
    let far = r#"["ns16550", 0x1000_0000, 0x100, 1024, 0x2, []],"#;
    assert_eq!(ndev(PLIC, far), Err(AxVmError::InvalidInput));
}

#[test]
fn options_and_configs_that_cannot_be_described_fail_cleanly() {
    let refused = |options: FdtOptions| generate(&riscv(1, "", "", options), None);
    let mut no_base = FdtOptions::default();
    no_base.isa_extensions.retain(|name| name != "i");
    assert_eq!(refused(no_base), Err(AxVmError::InvalidInput));
    assert_eq!(
        refused(FdtOptions::default().with_extensions(&["Sstc"])),
        Err(AxVmError::InvalidInput)
    );
    let bad_mmu = FdtOptions {
        mmu_type: String::from("riscv,sv39\0"),
        ..FdtOptions::default()
    };
    assert_eq!(refused(bad_mmu), Err(AxVmError::InvalidInput));
    // A NUL in the command line; an initrd that wraps.
    let nul = riscv(1, r#"cmdline = "a\u0000b""#, "", FdtOptions::default());
    assert_eq!(generate(&nul, None), Err(AxVmError::InvalidInput));
    let initrd = Initrd {
        start: GuestPhysAddr::from(usize::MAX),
        size: 2,
    };
    let config = riscv(1, "", "", FdtOptions::default());
    assert_eq!(
        generate(&config, Some(initrd)),
        Err(AxVmError::InvalidInput)
    );
}

/// Modelled on the ArceOS hypervisor's riscv64 Linux config (one hart, 64 MiB of
/// identical RAM at 0x9000_0000, a PLIC line of type 0x30 with a context count,
/// the UART and virtio devices passed through): the tree has the RAM, the hart
/// and the PLIC, and names none of the passed-through devices.
#[test]
fn a_config_shaped_like_the_reference_linux_one() {
    let toml = r#"
[base]
id = 1
name = "linux-qemu"
vm_type = 1
cpu_num = 1
phys_cpu_ids = [0]

[kernel]
entry_point = 0x9020_0000
image_location = "fs"
kernel_path = "/guest/linux/linux-qemu"
kernel_load_addr = 0x9020_0000
dtb_load_addr = 0x9300_0000
memory_regions = [[0x9000_0000, 0x0400_0000, 0x7, 1]]

[devices]
interrupt_mode = "passthrough"
passthrough_devices = [["/soc/serial@10000000"]]
passthrough_addresses = [[0x1000_0000, 0x1000]]
emu_devices = [["plic", 0x0c00_0000, 0x60_0000, 0, 0x30, [2]]]
"#;
    let file = axvmconfig::AxVMCrateConfig::from_toml(toml).unwrap();
    let config = AxVMConfig::new(file, Arch::Riscv64).unwrap();
    let dtb = generate(&config, None).unwrap();
    let fdt = Fdt::new(&dtb).unwrap();
    assert_eq!(
        children(&fdt, "/"),
        ["memory@90000000", "cpus", "soc", "chosen"]
    );
    assert_eq!(
        u64s(&fdt, "/memory@90000000", "reg"),
        [0x9000_0000, 0x400_0000]
    );
    assert_eq!(children(&fdt, "/cpus"), ["cpu@0"]);
    assert_eq!(children(&fdt, "/soc"), ["plic@c000000"]);
    let plic = "/soc/plic@c000000";
    assert_eq!(cells(&fdt, plic, "interrupts-extended"), [2, 9]);
    assert_eq!(cells(&fdt, plic, "riscv,ndev"), [1]);
    assert!(fdt.find_node("/soc/serial@10000000").is_none());
    for absent in ["bootargs", "stdout-path"] {
        assert_eq!(prop(&fdt, "/chosen", absent), None, "{absent}");
    }
}

proptest! {
    /// Whatever the hart count, PLIC and UART windows, interrupt and initrd, the
    /// tree is refused or well formed: one cpu node and one PLIC context per hart;
    /// nothing panics.
    #[test]
    fn any_riscv_config_gives_a_tree_or_an_error(
        cpus in 1usize..=64,
        plic in prop_oneof![0x0c00_0000usize..0x0d00_0000, any::<usize>()],
        uart in prop_oneof![0x1000_0000usize..0x1100_0000, any::<usize>()],
        irq in prop_oneof![0usize..=1100, any::<usize>()],
        initrd in proptest::option::of((any::<usize>(), any::<usize>())),
    ) {
        let mut file = crate_config(cpus, "", &format!("{PLIC}{UART}"));
        file.devices.emu_devices[0].base_gpa = plic;
        file.devices.emu_devices[1].base_gpa = uart;
        file.devices.emu_devices[1].irq_id = irq;
        let Ok(config) = AxVMConfig::new(file, Arch::Riscv64) else {
            return Ok(());
        };
        let initrd = initrd.map(|(start, size)| Initrd { start: GuestPhysAddr::from(start), size });
        match generate(&config, initrd) {
            Ok(dtb) => {
                let fdt = Fdt::new(&dtb).unwrap();
                prop_assert_eq!(children(&fdt, "/cpus").len(), cpus);
                let plic = fdt.find_node("/soc").unwrap().children()
                    .find(|node| node.name.starts_with("plic@")).unwrap();
                let contexts = plic.property("interrupts-extended").unwrap().value.len();
                prop_assert_eq!(contexts, cpus * 8);
                prop_assert!(irq <= 1023);
            }
            Err(error) => prop_assert_eq!(error, AxVmError::InvalidInput),
        }
    }
}
