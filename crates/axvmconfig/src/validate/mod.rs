//! The semantic rules: what a well-typed config must also satisfy to describe a VM
//! that can be built.

mod cpus;
mod images;
mod memory;
mod passthrough;
mod ram;
mod sweep;
mod windows;

pub use self::images::X86_DEFAULT_BIOS_LOAD_ADDR;
use crate::{AxVMCrateConfig, diag::Sink, spans::ConfigSpans};

/// Checks every rule, reporting errors and warnings to `sink`.
pub(crate) fn validate(config: &AxVMCrateConfig, spans: &ConfigSpans, sink: &mut Sink<'_>) {
    cpus::check_cpus(&config.base, spans, sink);
    let ram = memory::check_regions(&config.kernel.memory_regions, spans, sink);
    images::check_images(&config.kernel, &ram, spans, sink);
    windows::check_windows(&config.devices, &ram, spans, sink);
}
