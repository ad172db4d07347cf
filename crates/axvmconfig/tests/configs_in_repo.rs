//! The example configs of the repository (`configs/vms/`) pass every check.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::expect_used
)]

use std::{fs, path::PathBuf};

#[test]
fn example_configs_pass_without_warnings() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs/vms");
    let Ok(entries) = fs::read_dir(&dir) else {
        // Packaged crates do not carry the repository's configs.
        eprintln!("skipped: {} is not present", dir.display());
        return;
    };
    let mut archs = Vec::new();
    for entry in entries {
        let path = entry.unwrap().path();
        let source = fs::read_to_string(&path).unwrap();
        let report = axvmconfig::check(&source);
        assert!(
            report.errors.is_empty(),
            "{}: {:#?}",
            path.display(),
            report.errors
        );
        assert!(
            report.warnings.is_empty(),
            "{}: {:#?}",
            path.display(),
            report.warnings
        );
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        archs.push(name.split('-').next().unwrap().to_owned());
    }
    for arch in ["aarch64", "riscv64", "x86_64"] {
        assert!(
            archs.iter().any(|a| a == arch),
            "no example config for {arch}"
        );
    }
}
