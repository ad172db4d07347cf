//! Device windows: emulated devices, pass-through devices, addresses and ports must
//! not overlap each other, and MMIO windows must not overlap RAM.
//!
//! A pass-through window is mapped as whole pages, so it is compared by the pages it
//! covers: two pass-through windows in one page collide, and a pass-through page
//! would hide an emulated device's accesses from the hypervisor. Emulated windows
//! trap and are compared as they are (two emulated devices may share a page).

use alloc::{format, string::String, vec::Vec};

use super::{
    memory::{Site, checked_window},
    passthrough::place_passthrough,
    ram::RamMap,
    sweep::each_overlap,
};
use crate::{
    ErrorKind, VMDevicesConfig, Window,
    diag::{Sink, Span},
    path::Path,
    spans::{ConfigSpans, ItemSpans, item},
};

/// The size of the x86 I/O port space: windows that end within it are port windows.
const PORT_SPACE: usize = 0x1_0000;

/// A checked window and who owns it.
pub(super) struct Placed<'c> {
    /// The window as configured.
    pub(super) window: Window,
    /// What the window takes once mapped: its pages for a pass-through window.
    pub(super) mapped: Window,
    pub(super) path: Path<'static>,
    pub(super) name: Option<&'c str>,
    pub(super) span: Span,
}

impl Placed<'_> {
    fn label(&self) -> String {
        match self.name {
            Some(name) => format!("{} (`{name}`)", self.path),
            None => format!("{}", self.path),
        }
    }

    /// The error for this window overlapping `other` (named `other_name`): a plain
    /// overlap, or one that only the page rounding of pass-through windows makes.
    fn overlap(&self, other_name: String, other: Window) -> ErrorKind {
        if self.window.overlaps(other) {
            ErrorKind::WindowOverlap {
                window: self.window,
                other_name,
                other,
            }
        } else {
            ErrorKind::PageOverlap {
                window: self.window,
                pages: self.mapped,
                other_name,
                other,
            }
        }
    }
}

pub(super) fn check_windows(
    devices: &VMDevicesConfig,
    ram: &RamMap,
    spans: &ConfigSpans,
    sink: &mut Sink<'_>,
) {
    let mut mmio: Vec<Placed<'_>> = Vec::new();
    let mut ports: Vec<Placed<'_>> = Vec::new();
    let site = |key: &'static str, index: usize, spans: &[ItemSpans]| Site {
        path: Path::key("devices", key).index(index),
        spans: item(spans, index),
        size_field: "length",
    };

    for (i, device) in devices.emu_devices.iter().enumerate() {
        let site = site("emu_devices", i, &spans.emu_devices);
        if let Some(window) = checked_window(device.base_gpa, device.length, 1, site, sink) {
            let placed = Placed {
                window,
                mapped: window,
                path: site.path,
                name: Some(&device.name),
                span: site.spans.start,
            };
            // Port devices (x86 COM1 at 0x3f8, the PIT at 0x40) live in the port space.
            if window.end <= PORT_SPACE {
                ports.push(placed);
            } else {
                mmio.push(placed);
            }
        }
    }
    for (i, device) in devices.passthrough_devices.iter().enumerate() {
        // A device named only by its device-tree path takes its window from the host.
        if device.length == 0 && device.base_gpa == 0 {
            continue;
        }
        let site = site("passthrough_devices", i, &spans.passthrough_devices);
        let host = Some(device.base_hpa);
        let name = Some(device.name.as_str());
        let placed = place_passthrough(device.base_gpa, host, device.length, name, site, sink);
        mmio.extend(placed);
    }
    for (i, range) in devices.passthrough_addresses.iter().enumerate() {
        let site = site("passthrough_addresses", i, &spans.passthrough_addresses);
        mmio.extend(place_passthrough(
            range.base_gpa,
            None,
            range.length,
            None,
            site,
            sink,
        ));
    }
    for (i, range) in devices.passthrough_ports.iter().enumerate() {
        let site = site("passthrough_ports", i, &spans.passthrough_ports);
        let (base, length) = (usize::from(range.base_port), usize::from(range.length));
        let Some(window) = checked_window(base, length, 1, site, sink) else {
            continue;
        };
        if window.end > PORT_SPACE {
            sink.error(site.path, site.spans.start, ErrorKind::PortRange { window });
            continue;
        }
        ports.push(Placed {
            window,
            mapped: window,
            path: site.path,
            name: None,
            span: site.spans.start,
        });
    }

    report_overlaps(&mut mmio, sink);
    report_overlaps(&mut ports, sink);
    let regions = Path::key("kernel", "memory_regions");
    for placed in &mmio {
        if let Some(region) = ram.overlapping(placed.mapped) {
            let name = format!("RAM region {}", regions.index(region.index));
            let kind = placed.overlap(name, region.window);
            sink.error(placed.path, placed.span, kind);
        }
    }
}

/// Reports every window that overlaps an earlier one, once (sorted sweep, O(n log n)).
fn report_overlaps(windows: &mut [Placed<'_>], sink: &mut Sink<'_>) {
    each_overlap(
        windows,
        |placed| placed.mapped,
        |placed, earlier| {
            let kind = placed.overlap(earlier.label(), earlier.window);
            sink.error(placed.path, placed.span, kind);
        },
    );
}
