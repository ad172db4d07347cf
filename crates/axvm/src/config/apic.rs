//! The x86 local APIC page: the vCPU backend emulates a local APIC there for every
//! vCPU, so an x86_64 VM must map neither RAM nor a device over it.

use core::ops::Range;

use axvmconfig::AxVMCrateConfig;

/// The guest-physical page of every x86 vCPU's local APIC (the xAPIC default base).
pub const X86_APIC_PAGE: Range<usize> = 0xfee0_0000..0xfee0_1000;

/// The first RAM region or device window (`(gpa, size)`) of `config` that overlaps
/// [`X86_APIC_PAGE`], if any.
pub(super) fn overlap(config: &AxVMCrateConfig) -> Option<(usize, usize)> {
    let devices = &config.devices;
    let ram = config.kernel.memory_regions.iter().map(|r| (r.gpa, r.size));
    let emulated = devices.emu_devices.iter().map(|d| (d.base_gpa, d.length));
    let passthrough = devices
        .passthrough_devices
        .iter()
        .map(|d| (d.base_gpa, d.length));
    let addresses = devices
        .passthrough_addresses
        .iter()
        .map(|a| (a.base_gpa, a.length));
    ram.chain(emulated)
        .chain(passthrough)
        .chain(addresses)
        .find(|&(start, size)| {
            size != 0
                && start < X86_APIC_PAGE.end
                && X86_APIC_PAGE.start < start.saturating_add(size)
        })
}
