//! The checker stays linear in the size of the file: thousands of overlapping
//! windows give one diagnostic each, located from one index of the file's lines.
//! (Before, each region was reported against every earlier one it overlapped, n²/2
//! diagnostics, each located by rescanning the file: 2,000 regions took hours.)

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::expect_used
)]

use axvmconfig::{ErrorKind, Location, WarningKind, check};

const COUNT: usize = 2_000;

/// A config whose `memory_regions` are `COUNT` copies of one region, `separator`
/// between them, and whose pass-through addresses are `COUNT` copies of one window.
fn config(separator: &str) -> String {
    let regions = vec!["[0x4000_0000, 0x1000_0000, 0x7, 0]"; COUNT].join(separator);
    let windows = vec!["[0x1_0000_0000, 0x1000]"; COUNT].join(separator);
    format!(
        "[base]\nid = 0\nname = \"many\"\ncpu_num = 1\n\n[kernel]\nentry_point = 0x4000_0000\n\
         kernel_path = \"k.bin\"\nkernel_load_addr = 0x4000_0000\n\
         memory_regions = [\n{regions}\n]\n\n[devices]\npassthrough_addresses = [\n{windows}\n]\n"
    )
}

#[test]
fn two_thousand_overlapping_regions_give_one_diagnostic_each() {
    for separator in [",\n", ", "] {
        let source = config(separator);
        let report = check(&source);
        let overlaps = report
            .warnings
            .iter()
            .filter(|w| matches!(w.kind, WarningKind::RamOverlap { .. }))
            .count();
        assert_eq!(overlaps, COUNT - 1);
        let windows = report
            .errors
            .iter()
            .filter(|e| matches!(e.kind, ErrorKind::WindowOverlap { .. }))
            .count();
        assert_eq!(windows, COUNT - 1, "{:#?}", &report.errors[..3]);
        assert_eq!(report.errors.len(), COUNT - 1);
        // Still located: the last region is on line 11 + COUNT - 1 when each has its
        // own line, else on line 11 at its column.
        let last = report
            .warnings
            .iter()
            .find(|w| w.path == format!("kernel.memory_regions[{}]", COUNT - 1))
            .unwrap();
        let expected = if separator.contains('\n') {
            Location {
                line: 11 + COUNT - 1,
                column: 2,
            }
        } else {
            let width = "[0x4000_0000, 0x1000_0000, 0x7, 0], ".len();
            Location {
                line: 11,
                column: 2 + width * (COUNT - 1),
            }
        };
        assert_eq!(last.location, Some(expected));
    }
}
