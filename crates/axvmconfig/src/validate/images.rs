//! Entry point and image load addresses.

use super::memory::Ram;
use crate::{
    ErrorKind, VMKernelConfig, WarningKind,
    diag::{Sink, Span},
    path::Path,
    spans::ConfigSpans,
};

pub(super) fn check_images(
    kernel: &VMKernelConfig,
    ram: &[Ram],
    spans: &ConfigSpans,
    sink: &mut Sink<'_>,
) {
    let bios_load = kernel.bios_load_addr.filter(|_| kernel.enable_bios);
    let addresses = [
        ("entry_point", Some(kernel.entry_point), spans.entry_point),
        (
            "kernel_load_addr",
            Some(kernel.kernel_load_addr),
            spans.kernel_load_addr,
        ),
        ("bios_load_addr", bios_load, spans.bios_load_addr),
        ("dtb_load_addr", kernel.dtb_load_addr, spans.dtb_load_addr),
        (
            "ramdisk_load_addr",
            kernel.ramdisk_load_addr,
            spans.ramdisk_load_addr,
        ),
    ];
    for (key, addr, span) in addresses {
        let Some(addr) = addr else { continue };
        if !ram.iter().any(|region| region.window.contains(addr)) {
            sink.error(Path::key("kernel", key), span, ErrorKind::NotInRam { addr });
        }
    }
    if !kernel.enable_bios {
        let ignored: [(&str, bool, Span); 2] = [
            ("bios_path", kernel.bios_path.is_some(), spans.bios_path),
            (
                "bios_load_addr",
                kernel.bios_load_addr.is_some(),
                spans.bios_load_addr,
            ),
        ];
        for (key, _, span) in ignored.into_iter().filter(|(_, set, _)| *set) {
            sink.warning(Path::key("kernel", key), span, WarningKind::BiosIgnored);
        }
    }
}
