//! Entry point and images: where the kernel, BIOS, DTB and ramdisk are loaded.
//!
//! The config knows where each image goes but not how big it is, so what is checked
//! is what the addresses alone decide: every load address (and the entry point) lies
//! in RAM, including the BIOS's x86 default address 0x8000 when `enable_bios` gives
//! none, and no two images are loaded at the same address.

use super::ram::RamMap;
use crate::{
    ErrorKind, VMKernelConfig, WarningKind,
    diag::{Sink, Span},
    path::Path,
    spans::ConfigSpans,
};

/// Where an x86_64 hypervisor loads the BIOS when `enable_bios` names no address
/// (other architectures have no default and refuse such a config).
pub const X86_DEFAULT_BIOS_LOAD_ADDR: usize = 0x8000;

/// An image the config places: what it is, the key that places it, where, and the
/// span of that key's value.
struct Image {
    what: &'static str,
    key: &'static str,
    addr: usize,
    span: Span,
}

pub(super) fn check_images(
    kernel: &VMKernelConfig,
    ram: &RamMap,
    spans: &ConfigSpans,
    sink: &mut Sink<'_>,
) {
    if !ram.contains(kernel.entry_point) {
        let kind = ErrorKind::NotInRam {
            addr: kernel.entry_point,
        };
        sink.error(Path::key("kernel", "entry_point"), spans.entry_point, kind);
    }
    let mut images = images(kernel, spans);
    for image in images.iter().flatten() {
        if ram.contains(image.addr) {
            continue;
        }
        let kind = if image.key == "enable_bios" {
            ErrorKind::DefaultBiosNotInRam { addr: image.addr }
        } else {
            ErrorKind::NotInRam { addr: image.addr }
        };
        sink.error(Path::key("kernel", image.key), image.span, kind);
    }
    // Four images at most: sorting them costs nothing. Of images at one address, the
    // second (in the order above) is reported.
    images.sort_by_key(|image| image.as_ref().map(|image| image.addr));
    for pair in images.windows(2) {
        if let [Some(first), Some(second)] = pair
            && first.addr == second.addr
        {
            let kind = ErrorKind::ImageOverlap {
                image: second.what,
                other: first.what,
                addr: second.addr,
            };
            sink.error(Path::key("kernel", second.key), second.span, kind);
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

/// The images the config loads, in a fixed order.
fn images(kernel: &VMKernelConfig, spans: &ConfigSpans) -> [Option<Image>; 4] {
    let bios = kernel.enable_bios.then_some(match kernel.bios_load_addr {
        Some(addr) => Image {
            what: "BIOS",
            key: "bios_load_addr",
            addr,
            span: spans.bios_load_addr,
        },
        None => Image {
            what: "BIOS",
            key: "enable_bios",
            addr: X86_DEFAULT_BIOS_LOAD_ADDR,
            span: spans.enable_bios,
        },
    });
    let image = |what, key, addr: Option<usize>, span| {
        addr.map(|addr| Image {
            what,
            key,
            addr,
            span,
        })
    };
    [
        image(
            "kernel",
            "kernel_load_addr",
            Some(kernel.kernel_load_addr),
            spans.kernel_load_addr,
        ),
        bios,
        image(
            "DTB",
            "dtb_load_addr",
            kernel.dtb_load_addr,
            spans.dtb_load_addr,
        ),
        image(
            "ramdisk",
            "ramdisk_load_addr",
            kernel.ramdisk_load_addr,
            spans.ramdisk_load_addr,
        ),
    ]
}
