//! The real-world configs of the ArceOS hypervisor (in `../shared/reference-configs`
//! beside the repository, when present) parse, validate and survive a round trip
//! through the normalised form.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing
)]

use std::{fs, path::PathBuf};

use axvmconfig::{AxVMCrateConfig, check};

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference-configs")
}

#[test]
fn every_reference_config_validates_and_round_trips() {
    let dir = reference_dir();
    let Ok(entries) = fs::read_dir(&dir) else {
        eprintln!("skipped: {} is not present", dir.display());
        return;
    };
    let mut checked = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|ext| ext != "toml") {
            continue;
        }
        let source = fs::read_to_string(&path).unwrap();
        let report = check(&source);
        assert!(
            report.errors.is_empty(),
            "{}: {:#?}",
            path.display(),
            report.errors
        );
        let config = report.config.unwrap();
        let normalised = config.to_toml();
        let again = AxVMCrateConfig::from_toml(&normalised).unwrap_or_else(|e| {
            panic!(
                "{}: normalised form rejected: {e}\n{normalised}",
                path.display()
            )
        });
        assert_eq!(again, config, "{}", path.display());
        checked += 1;
    }
    assert!(checked >= 11, "only {checked} reference configs found");
}

#[test]
fn reference_configs_keep_their_values() {
    let path = reference_dir().join("tgoskits-x86_64-linux-smp1.toml");
    let Ok(source) = fs::read_to_string(&path) else {
        eprintln!("skipped: {} is not present", path.display());
        return;
    };
    let report = check(&source);
    let config = report.config.unwrap();
    assert_eq!(config.base.phys_cpu_sets, Some(vec![1]));
    assert_eq!(config.kernel.entry_point, 0x8000);
    assert_eq!(config.kernel.memory_regions.len(), 2);
    assert_eq!(config.devices.emu_devices[2].name, "x86-pit");
    assert_eq!(config.devices.emu_devices[2].base_gpa, 0x40);
    assert_eq!(
        config.devices.passthrough_addresses[5].base_gpa,
        0x3800_0000_0000
    );
    assert_eq!(config.devices.passthrough_ports[0].base_port, 0x6000);
    // The two RAM regions overlap on purpose: a warning, not an error.
    assert_eq!(report.warnings.len(), 1);
    assert_eq!(report.warnings[0].path, "kernel.memory_regions[1]");
}
