//! Every rule: a broken config of each kind gets a specific error (or warning) at the
//! offending value, and never a panic.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::expect_used
)]

mod common;

use axvmconfig::{AxVMCrateConfig, ErrorKind, KeyHint, WarningKind, check};
use common::{VALID, assert_error, assert_warning, broken};

#[test]
fn the_valid_config_is_valid() {
    let report = check(VALID);
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert!(report.warnings.is_empty(), "{:#?}", report.warnings);
    let config = report.config.unwrap();
    assert_eq!(config.devices.passthrough_devices[0].name, "/soc/serial");
    assert_eq!(config.devices.passthrough_devices[0].length, 0);
}

#[test]
fn syntax_errors_are_located() {
    let source = broken("cpu_num = 2", "cpu_num = = 2");
    let report = check(&source);
    let error = &report.errors[0];
    assert!(matches!(error.kind, ErrorKind::Syntax(_)), "{error}");
    assert_eq!(error.location.unwrap().line, 4);
}

#[test]
fn errors_without_a_span_from_the_parser_are_still_located() {
    let source = format!("z{}z = 1\n", ".".repeat(200));
    let report = check(&source);
    assert!(!report.errors.is_empty());
    assert!(
        report.errors.iter().all(|e| e.location.is_some()),
        "{:#?}",
        report.errors
    );
}

#[test]
fn wrong_types_are_reported() {
    let source = broken(r#"name = "t""#, "name = 5");
    assert_error(&source, "base.name", 3, 8, |k| {
        matches!(
            k,
            ErrorKind::WrongType {
                expected: "a string",
                found: "an integer"
            }
        )
    });
    let source = broken(
        "[0x4000_0000, 0x800_0000, 0x7, 0]",
        r#"[0x4000_0000, "big", 0x7, 0]"#,
    );
    assert_error(&source, "kernel.memory_regions[0].size", 13, 19, |k| {
        matches!(k, ErrorKind::WrongType { .. })
    });
}

#[test]
fn unknown_keys_get_a_suggestion() {
    let source = broken("cpu_num = 2", "cpu_nmu = 2");
    assert_error(&source, "base.cpu_nmu", 4, 1, |k| {
        matches!(
            k,
            ErrorKind::UnknownKey {
                hint: KeyHint::DidYouMean("cpu_num"),
                ..
            }
        )
    });
    let source = broken("id = 1", "id = 1\nentry_point = 0");
    assert_error(&source, "base.entry_point", 3, 1, |k| {
        matches!(
            k,
            ErrorKind::UnknownKey {
                hint: KeyHint::OtherTable { table: "kernel" },
                ..
            }
        )
    });
    let source = broken("[devices]", "[device]");
    assert_error(&source, "device", 17, 2, |k| {
        matches!(
            k,
            ErrorKind::UnknownKey {
                hint: KeyHint::DidYouMean("devices"),
                ..
            }
        )
    });
}

#[test]
fn missing_keys_are_reported_at_their_table() {
    let source = broken("kernel_path = \"k.bin\"\n", "");
    assert_error(&source, "kernel", 7, 2, |k| {
        matches!(k, ErrorKind::MissingKey("kernel_path"))
    });
    let report = check("[kernel]\n");
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.kind == ErrorKind::MissingKey("[base]"))
    );
}

#[test]
fn out_of_range_values_are_reported() {
    let source = broken("cpu_num = 2", "cpu_num = 65");
    assert_error(&source, "base.cpu_num", 4, 11, |k| {
        matches!(
            k,
            ErrorKind::OutOfRange {
                value: 65,
                min: 1,
                max: 64
            }
        )
    });
    let source = broken("cpu_num = 2", "cpu_num = 0");
    assert_error(&source, "base.cpu_num", 4, 11, |k| {
        matches!(k, ErrorKind::OutOfRange { .. })
    });
    let source = broken("dtb_load_addr = 0x4000_0000", "dtb_load_addr = -1");
    assert_error(&source, "kernel.dtb_load_addr", 11, 17, |k| {
        matches!(k, ErrorKind::OutOfRange { value: -1, .. })
    });
    let source = broken("[[0x60, 0x10]]", "[[0x10000, 0x10]]");
    assert_error(
        &source,
        "devices.passthrough_ports[0].base_port",
        25,
        23,
        |k| matches!(k, ErrorKind::OutOfRange { max: 0xffff, .. }),
    );
}

#[test]
fn unknown_names_and_codes_list_the_valid_ones() {
    let cases = [
        (
            "0x7, 1]",
            "0x7, 3]",
            "kernel.memory_regions[1].map_type",
            14,
            35,
        ),
        (
            "33, 0x2, []],\n    [\"com1\"",
            "33, 0x99, []],\n    [\"com1\"",
            "devices.emu_devices[0].emu_type",
            20,
            39,
        ),
        (
            "interrupt_mode = \"emu\"",
            "interrupt_mode = \"emulate\"",
            "devices.interrupt_mode",
            18,
            18,
        ),
        ("id = 1", "id = 1\nvm_type = 7", "base.vm_type", 3, 11),
        (
            "kernel_path = \"k.bin\"",
            "kernel_path = \"k.bin\"\nboot_protocol = \"bios\"",
            "kernel.boot_protocol",
            10,
            17,
        ),
    ];
    for (from, to, path, line, column) in cases {
        assert_error(
            &broken(from, to),
            path,
            line,
            column,
            |k| matches!(k, ErrorKind::UnknownValue { valid, .. } if valid.contains("0x")),
        );
    }
}

#[test]
fn positional_arrays_need_their_columns() {
    let source = broken(
        "[0x5000_0000, 0x10_0000, 0x7, 1]",
        "[0x5000_0000, 0x10_0000, 0x7]",
    );
    assert_error(&source, "kernel.memory_regions[1]", 14, 5, |k| {
        matches!(k, ErrorKind::ArrayLength { found: 3, .. })
    });
    let source = broken("[[0x0a00_0000, 0x1000]]", "[[0x0a00_0000]]");
    assert_error(&source, "devices.passthrough_addresses[0]", 24, 26, |k| {
        matches!(k, ErrorKind::ArrayLength { found: 1, .. })
    });
}

#[test]
fn vcpu_placement_must_match_cpu_num() {
    let source = broken("phys_cpu_ids = [0, 1]", "phys_cpu_ids = [0]");
    assert_error(&source, "base.phys_cpu_ids", 5, 16, |k| {
        matches!(k, ErrorKind::CpuListLength { len: 1, cpu_num: 2 })
    });
    let source = broken("phys_cpu_ids = [0, 1]", "phys_cpu_sets = [0x1, 0x0, 0x2]");
    assert_error(&source, "base.phys_cpu_sets", 5, 17, |k| {
        matches!(k, ErrorKind::CpuListLength { len: 3, cpu_num: 2 })
    });
    assert_error(&source, "base.phys_cpu_sets[1]", 5, 23, |k| {
        matches!(k, ErrorKind::EmptyCpuSet)
    });
}

#[test]
fn memory_regions_must_be_sized_aligned_and_flagged() {
    let source = broken("0x10_0000, 0x7, 1", "0x0, 0x7, 1");
    assert_error(&source, "kernel.memory_regions[1].size", 14, 19, |k| {
        matches!(k, ErrorKind::ZeroSize)
    });
    let source = broken("0x10_0000, 0x7, 1", "0x10_0800, 0x7, 1");
    assert_error(&source, "kernel.memory_regions[1].size", 14, 19, |k| {
        matches!(
            k,
            ErrorKind::Unaligned {
                value: 0x10_0800,
                align: 0x1000
            }
        )
    });
    let source = broken("[0x5000_0000,", "[0x5000_0100,");
    assert_error(&source, "kernel.memory_regions[1].gpa", 14, 6, |k| {
        matches!(
            k,
            ErrorKind::Unaligned {
                value: 0x5000_0100,
                ..
            }
        )
    });
    let source = broken("0x800_0000, 0x7, 0]", "0x800_0000, 0x47, 0]");
    assert_error(&source, "kernel.memory_regions[0].flags", 13, 31, |k| {
        matches!(
            k,
            ErrorKind::UndefinedFlags {
                flags: 0x47,
                undefined: 0x40
            }
        )
    });
}

#[test]
fn overflowing_ranges_are_errors() {
    // TOML integers stop at i64::MAX, so an overflow can only come from code.
    let mut config = AxVMCrateConfig::from_toml(VALID).unwrap();
    config.kernel.memory_regions[1].gpa = usize::MAX - 0xfff;
    let errors = config.validate().unwrap_err();
    let error = &errors.errors()[0];
    assert_eq!(error.path, "kernel.memory_regions[1]");
    assert!(matches!(error.kind, ErrorKind::Overflow { .. }), "{error}");
    assert_eq!(error.location, None);
}

#[test]
fn entry_and_load_addresses_must_be_in_ram() {
    let cases = [
        (
            "entry_point = 0x4020_0000",
            "entry_point = 0x1000",
            "kernel.entry_point",
            8,
            15,
        ),
        (
            "kernel_load_addr = 0x4020_0000",
            "kernel_load_addr = 0x9000_0000",
            "kernel.kernel_load_addr",
            10,
            20,
        ),
        (
            "dtb_load_addr = 0x4000_0000",
            "dtb_load_addr = 0x4800_0000",
            "kernel.dtb_load_addr",
            11,
            17,
        ),
        (
            "dtb_load_addr = 0x4000_0000",
            "dtb_load_addr = 0x4000_0000\nramdisk_load_addr = 0x10",
            "kernel.ramdisk_load_addr",
            12,
            21,
        ),
        (
            "dtb_load_addr = 0x4000_0000",
            "dtb_load_addr = 0x4000_0000\nenable_bios = true\nbios_load_addr = 0x8000",
            "kernel.bios_load_addr",
            13,
            18,
        ),
    ];
    for (from, to, path, line, column) in cases {
        assert_error(&broken(from, to), path, line, column, |k| {
            matches!(k, ErrorKind::NotInRam { .. })
        });
    }
    // A reserved region is not RAM.
    let source = broken(
        "[0x5000_0000, 0x10_0000, 0x7, 1]",
        "[0x5000_0000, 0x10_0000, 0x7, 2]",
    )
    .replace("entry_point = 0x4020_0000", "entry_point = 0x5000_0000");
    assert_error(&source, "kernel.entry_point", 8, 15, |k| {
        matches!(k, ErrorKind::NotInRam { .. })
    });
}

#[test]
fn device_windows_must_not_overlap() {
    let source = broken("[\"rtc\", 0x0901_0000", "[\"rtc\", 0x0900_0800");
    assert_error(
        &source,
        "devices.passthrough_devices[1]",
        23,
        49,
        |k| matches!(k, ErrorKind::WindowOverlap { other_name, .. } if other_name.contains("`uart`")),
    );
    let source = broken("[[0x0a00_0000, 0x1000]]", "[[0x4000_0000, 0x1000]]");
    assert_error(
        &source,
        "devices.passthrough_addresses[0]",
        24,
        27,
        |k| matches!(k, ErrorKind::WindowOverlap { other_name, .. } if other_name.starts_with("RAM region")),
    );
    let source = broken("[[0x60, 0x10]]", "[[0x3fc, 0x10]]");
    assert_error(
        &source,
        "devices.passthrough_ports[0]",
        25,
        23,
        |k| matches!(k, ErrorKind::WindowOverlap { other_name, .. } if other_name.contains("`com1`")),
    );
    let source = broken("[[0x60, 0x10]]", "[[0xfff0, 0x20]]");
    assert_error(&source, "devices.passthrough_ports[0]", 25, 23, |k| {
        matches!(k, ErrorKind::PortRange { .. })
    });
    let source = broken("0x1000, 33", "0x0, 33");
    assert_error(&source, "devices.emu_devices[0].length", 20, 27, |k| {
        matches!(k, ErrorKind::ZeroSize)
    });
}

#[test]
fn port_windows_are_not_checked_against_ram() {
    // COM1 at 0x3f8 lies inside RAM that starts at 0, as on x86; it is a port window.
    let source = broken(
        "[0x4000_0000, 0x800_0000, 0x7, 0]",
        "[0x0, 0x800_0000, 0x7, 0]",
    )
    .replace("0x4020_0000", "0x20_0000")
    .replace("dtb_load_addr = 0x4000_0000", "dtb_load_addr = 0x10_0000");
    let report = check(&source);
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
}

#[test]
fn suspicious_configs_get_warnings() {
    let source = broken(
        "[0x5000_0000, 0x10_0000, 0x7, 1]",
        "[0x4000_0000, 0x10_0000, 0x7, 1]",
    );
    assert_warning(&source, "kernel.memory_regions[1]", 14, 6, |k| {
        matches!(k, WarningKind::RamOverlap { .. })
    });
    let source = broken(
        "dtb_load_addr = 0x4000_0000",
        "dtb_load_addr = 0x4000_0000\nbios_path = \"b.bin\"",
    );
    assert_warning(&source, "kernel.bios_path", 12, 13, |k| {
        matches!(k, WarningKind::BiosIgnored)
    });
    let source = broken("[[0x0a00_0000, 0x1000]]", "[[0x0a00_0100, 0x1000]]");
    assert_warning(&source, "devices.passthrough_addresses[0]", 24, 27, |k| {
        matches!(k, WarningKind::UnalignedPassthrough { value: 0x0a00_0100 })
    });
}

#[test]
fn every_error_is_reported_not_only_the_first() {
    let source = broken(r#"name = "t""#, "name = 5").replace("cpu_num = 2", "cpu_nmu = 2");
    let report = check(&source);
    assert!(report.errors.len() >= 3, "{:#?}", report.errors);
    let lines: Vec<usize> = report
        .errors
        .iter()
        .map(|e| e.location.unwrap().line)
        .collect();
    assert!(lines.is_sorted(), "{lines:?}");
}
