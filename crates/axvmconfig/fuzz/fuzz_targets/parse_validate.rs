//! Arbitrary bytes into parse + validate: nothing may panic, every error of a
//! parsed file is located, and an accepted config survives its normalised form.

#![no_main]

use axvmconfig::{AxVMCrateConfig, Severity, check, render_diagnostic};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let report = check(text);
    for error in &report.errors {
        assert!(error.location.is_some(), "{error}");
        let _ = render_diagnostic("fuzz.toml", text, Severity::Error, error);
    }
    if let Some(config) = report.config {
        let normalised = config.to_toml();
        assert_eq!(AxVMCrateConfig::from_toml(&normalised).as_ref(), Ok(&config));
    }
});
