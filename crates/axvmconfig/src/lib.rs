//! VM configuration files for AxVM hypervisors.
//!
//! Parses the TOML VM configs of the ArceOS hypervisor family into
//! [`AxVMCrateConfig`] and validates them. Everything runs in `no_std` + `alloc`,
//! so a hypervisor can read configs at run time; the same checks back the
//! `axvmconfig check` command (feature `cli`), which reports each problem at its
//! line and column before anything boots.
//!
//! Validation turns every mistake into a [`ConfigError`] naming the field path and
//! the location of the offending value: syntax errors, wrong types, unknown keys
//! (with a suggestion), out-of-range values, vCPU counts and placement, memory region
//! sizes, alignment and flags (RAM must be readable), entry point and load addresses
//! outside RAM, images loaded at one address, device windows that overlap each other
//! or RAM, and pass-through windows that would share a page once mapped. Suspicious
//! but legal configs (overlapping RAM regions, BIOS settings with the BIOS disabled)
//! produce [`ConfigWarning`]s. The checks are O(n log n) in the number of regions
//! and windows, with one diagnostic per offending one.
//!
//! # Example
//!
//! ```
//! use axvmconfig::{AxVMCrateConfig, ErrorKind, check};
//!
//! let toml = r#"
//! [base]
//! id = 1
//! name = "demo"
//! cpu_num = 1
//!
//! [kernel]
//! entry_point = 0x8020_0000
//! kernel_path = "guest.bin"
//! kernel_load_addr = 0x8020_0000
//! memory_regions = [[0x8000_0000, 0x400_0000, 0x7, 0]]
//! "#;
//! let config = AxVMCrateConfig::from_toml(toml)?;
//! assert_eq!(config.kernel.memory_regions[0].size, 0x400_0000);
//!
//! // Too many vCPUs: the error names the field and the place of the value.
//! let report = check(&toml.replace("cpu_num = 1", "cpu_num = 65"));
//! let error = &report.errors[0];
//! assert!(matches!(error.kind, ErrorKind::OutOfRange { value: 65, .. }));
//! assert_eq!(error.to_string(), "5:11: base.cpu_num: 65 is out of range; expected 1..=64");
//! # Ok::<(), axvmconfig::ConfigErrors>(())
//! ```

#![no_std]
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

extern crate alloc;

mod diag;
mod kinds;
mod lines;
mod model;
mod parse;
mod path;
mod render;
mod snippet;
mod spans;
mod suggest;
mod template;
mod validate;

use alloc::{string::String, vec::Vec};

pub use axvm_types;

use self::{diag::Sink, spans::ConfigSpans};
pub use self::{
    diag::{ConfigError, ConfigErrors, ConfigWarning, Diagnostic, Location, Severity},
    kinds::{ErrorKind, KeyHint, WarningKind, Window},
    model::{AxVMCrateConfig, VMBaseConfig, VMDevicesConfig, VMKernelConfig},
    snippet::render_diagnostic,
    template::{Arch, UnknownArch, template},
    validate::X86_DEFAULT_BIOS_LOAD_ADDR,
};

/// Everything [`check`] found in a config file.
#[derive(Debug, Clone)]
pub struct Report {
    /// The config, when it has no errors.
    pub config: Option<AxVMCrateConfig>,
    /// The errors, in source order.
    pub errors: Vec<ConfigError>,
    /// The warnings, in source order.
    pub warnings: Vec<ConfigWarning>,
}

impl Report {
    /// The config, or the errors.
    ///
    /// # Errors
    ///
    /// [`ConfigErrors`] holding every error of the report.
    pub fn into_result(self) -> Result<AxVMCrateConfig, ConfigErrors> {
        match self.config {
            Some(config) if self.errors.is_empty() => Ok(config),
            _ => Err(ConfigErrors(self.errors)),
        }
    }
}

/// Parses and validates a TOML config, collecting every error and warning.
///
/// Semantic rules run only when the file parses without errors, so that one typo
/// does not cascade into unrelated messages.
#[must_use]
pub fn check(source: &str) -> Report {
    let mut sink = Sink::new(Some(source));
    let parsed = parse::parse(source, &mut sink);
    if let Some((config, spans)) = &parsed {
        validate::validate(config, spans, &mut sink);
    }
    sink.sort();
    let config = parsed
        .filter(|_| sink.errors.is_empty())
        .map(|(config, _)| config);
    Report {
        config,
        errors: sink.errors,
        warnings: sink.warnings,
    }
}

impl AxVMCrateConfig {
    /// Parses and validates a TOML config. Warnings are dropped; use [`check`] to
    /// see them.
    ///
    /// # Errors
    ///
    /// Every problem found, each with its field path and location.
    pub fn from_toml(source: &str) -> Result<Self, ConfigErrors> {
        check(source).into_result()
    }

    /// Checks the semantic rules on a config built in code (no locations).
    ///
    /// # Errors
    ///
    /// Every rule the config breaks.
    pub fn validate(&self) -> Result<Vec<ConfigWarning>, ConfigErrors> {
        let mut sink = Sink::new(None);
        validate::validate(self, &ConfigSpans::default(), &mut sink);
        if sink.errors.is_empty() {
            Ok(sink.warnings)
        } else {
            Err(ConfigErrors(sink.errors))
        }
    }

    /// The config as normalised TOML: every table and key in a fixed order,
    /// addresses in hexadecimal, defaults written out. Parsing it gives back an
    /// equal config.
    #[must_use]
    pub fn to_toml(&self) -> String {
        render::to_toml(self)
    }
}

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
