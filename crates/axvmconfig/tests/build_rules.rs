//! The rules for what `AxVM::new` can build: RAM flags a page table can hold,
//! pass-through windows that stay apart once widened to pages and that pages can
//! take to their host address, and images that do not share an address or fall
//! outside RAM. Each mistake gets a located error.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::expect_used
)]

mod common;

use axvmconfig::{ErrorKind, check};
use common::{VALID, assert_error, broken};

#[test]
fn ram_must_be_readable() {
    for flags in ["0x2", "0x4", "0x6", "0x0"] {
        let source = broken("0x800_0000, 0x7, 0]", &format!("0x800_0000, {flags}, 0]"));
        assert_error(&source, "kernel.memory_regions[0].flags", 13, 31, |k| {
            matches!(k, ErrorKind::FlagsWithoutRead { .. })
        });
    }
    // A reserved region is never mapped: its flags need not describe a mapping.
    let source = broken("0x10_0000, 0x7, 1]", "0x10_0000, 0x2, 2]");
    let report = check(&source);
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
}

#[test]
fn pass_through_windows_must_not_share_a_page() {
    let source = broken(
        "[[0x0a00_0000, 0x1000]]",
        "[[0x0a00_0000, 0x800], [0x0a00_0800, 0x800]]",
    );
    assert_error(
        &source,
        "devices.passthrough_addresses[1]",
        24,
        49,
        |k| matches!(k, ErrorKind::PageOverlap { other_name, .. } if other_name == "devices.passthrough_addresses[0]"),
    );
}

#[test]
fn a_pass_through_window_must_not_cover_an_emulated_device() {
    let source = broken("0x0900_0000, 0x1000, 33", "0x0900_0000, 0x100, 33")
        .replace("[[0x0a00_0000, 0x1000]]", "[[0x0900_0800, 0x100]]");
    assert_error(
        &source,
        "devices.passthrough_addresses[0]",
        24,
        27,
        |k| matches!(k, ErrorKind::PageOverlap { other_name, .. } if other_name.contains("`uart`")),
    );
    // Emulated devices trap: two of them may share a page.
    let source = broken("0x0900_0000, 0x1000, 33", "0x0900_0000, 0x100, 33").replace(
        "[\"com1\", 0x3f8",
        "[\"uart1\", 0x0900_0800, 0x100, 34, 0x2, []],\n    [\"com1\", 0x3f8",
    );
    let report = check(&source);
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
}

#[test]
fn pass_through_host_and_guest_addresses_need_the_same_page_offset() {
    let source = broken("0x0901_0000, 0x0901_0000", "0x0901_0000, 0x0901_0100");
    assert_error(
        &source,
        "devices.passthrough_devices[1].base_hpa",
        23,
        62,
        |k| {
            matches!(
                k,
                ErrorKind::PageOffsetMismatch {
                    gpa: 0x0901_0000,
                    hpa: 0x0901_0100
                }
            )
        },
    );
    // Both off by the same amount is fine: the pages map onto each other.
    let source = broken("0x0901_0000, 0x0901_0000", "0x0901_0100, 0x7701_0100");
    let report = check(&source);
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
}

#[test]
fn images_must_not_share_a_load_address() {
    let source = broken("dtb_load_addr = 0x4000_0000", "dtb_load_addr = 0x4020_0000");
    assert_error(&source, "kernel.dtb_load_addr", 11, 17, |k| {
        matches!(
            k,
            ErrorKind::ImageOverlap {
                image: "DTB",
                other: "kernel",
                addr: 0x4020_0000
            }
        )
    });
    let source = broken(
        "dtb_load_addr = 0x4000_0000",
        "dtb_load_addr = 0x4000_0000\nramdisk_load_addr = 0x4000_0000",
    );
    assert_error(&source, "kernel.ramdisk_load_addr", 12, 21, |k| {
        matches!(
            k,
            ErrorKind::ImageOverlap {
                image: "ramdisk",
                other: "DTB",
                ..
            }
        )
    });
}

/// The valid config with RAM from 0, as on x86, where the default BIOS lives.
fn low_ram() -> String {
    broken(
        "[0x4000_0000, 0x800_0000, 0x7, 0]",
        "[0x0, 0x800_0000, 0x7, 0]",
    )
    .replace("0x4020_0000", "0x20_0000")
    .replace("dtb_load_addr = 0x4000_0000", "dtb_load_addr = 0x10_0000")
}

#[test]
fn the_default_bios_address_counts_as_an_image() {
    // Outside RAM: located at `enable_bios`, which chose the default.
    let source = broken(
        "dtb_load_addr = 0x4000_0000",
        "dtb_load_addr = 0x4000_0000\nenable_bios = true",
    );
    assert_error(&source, "kernel.enable_bios", 12, 15, |k| {
        matches!(k, ErrorKind::DefaultBiosNotInRam { addr: 0x8000 })
    });
    // In RAM it is fine, unless another image sits at 0x8000.
    let source = low_ram().replace(
        "dtb_load_addr = 0x10_0000",
        "dtb_load_addr = 0x10_0000\nenable_bios = true",
    );
    let report = check(&source);
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    let source = low_ram().replace(
        "dtb_load_addr = 0x10_0000",
        "enable_bios = true\ndtb_load_addr = 0x8000",
    );
    assert_error(&source, "kernel.dtb_load_addr", 12, 17, |k| {
        matches!(
            k,
            ErrorKind::ImageOverlap {
                image: "DTB",
                other: "BIOS",
                addr: 0x8000
            }
        )
    });
}

#[test]
fn the_valid_config_still_passes() {
    let report = check(VALID);
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert!(report.warnings.is_empty(), "{:#?}", report.warnings);
}
