//! The valid config the rule tests break, and assertions on located diagnostics.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::expect_used
)]

use axvmconfig::{ErrorKind, Location, WarningKind, check};

/// A config that passes every rule without a warning.
pub const VALID: &str = r#"[base]
id = 1
name = "t"
cpu_num = 2
phys_cpu_ids = [0, 1]

[kernel]
entry_point = 0x4020_0000
kernel_path = "k.bin"
kernel_load_addr = 0x4020_0000
dtb_load_addr = 0x4000_0000
memory_regions = [
    [0x4000_0000, 0x800_0000, 0x7, 0],
    [0x5000_0000, 0x10_0000, 0x7, 1],
]

[devices]
interrupt_mode = "emu"
emu_devices = [
    ["uart", 0x0900_0000, 0x1000, 33, 0x2, []],
    ["com1", 0x3f8, 0x8, 4, 0x2, []],
]
passthrough_devices = [["/soc/serial"], ["rtc", 0x0901_0000, 0x0901_0000, 0x1000, 2]]
passthrough_addresses = [[0x0a00_0000, 0x1000]]
passthrough_ports = [[0x60, 0x10]]
"#;

/// Applies `from -> to` to the valid config (which must contain `from`).
pub fn broken(from: &str, to: &str) -> String {
    assert!(VALID.contains(from), "`{from}` is not in the valid config");
    VALID.replacen(from, to, 1)
}

/// Asserts that `source` has an error at `path`, `line:column`, whose kind satisfies `kind`.
#[track_caller]
pub fn assert_error(
    source: &str,
    path: &str,
    line: usize,
    column: usize,
    kind: fn(&ErrorKind) -> bool,
) {
    let report = check(source);
    assert!(report.config.is_none());
    let found = report
        .errors
        .iter()
        .find(|e| e.path == path && kind(&e.kind));
    let Some(error) = found else {
        panic!("no such error at {path}; got {:#?}", report.errors);
    };
    assert_eq!(error.location, Some(Location { line, column }), "{error}");
}

/// Asserts that `source` is accepted with a warning at `path`, `line:column`.
#[track_caller]
pub fn assert_warning(
    source: &str,
    path: &str,
    line: usize,
    column: usize,
    kind: fn(&WarningKind) -> bool,
) {
    let report = check(source);
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    let found = report
        .warnings
        .iter()
        .find(|w| w.path == path && kind(&w.kind));
    let Some(warning) = found else {
        panic!("no such warning at {path}; got {:#?}", report.warnings);
    };
    assert_eq!(
        warning.location,
        Some(Location { line, column }),
        "{warning}"
    );
}
