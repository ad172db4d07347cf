//! Device windows: emulated devices, pass-through devices, addresses and ports must
//! not overlap each other, and MMIO windows must not overlap RAM.

use alloc::{format, string::String, vec::Vec};

use super::memory::{PAGE_SIZE, Ram, Site, checked_window};
use crate::{
    ErrorKind, VMDevicesConfig, WarningKind, Window,
    diag::{Sink, Span},
    path::Path,
    spans::{ConfigSpans, ItemSpans, item},
};

/// The size of the x86 I/O port space: windows that end within it are port windows.
const PORT_SPACE: usize = 0x1_0000;

/// A checked window and who owns it.
struct Placed<'c> {
    window: Window,
    path: Path<'static>,
    name: Option<&'c str>,
    span: Span,
}

impl Placed<'_> {
    fn label(&self) -> String {
        match self.name {
            Some(name) => format!("{} (`{name}`)", self.path),
            None => format!("{}", self.path),
        }
    }
}

pub(super) fn check_windows(
    devices: &VMDevicesConfig,
    ram: &[Ram],
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
        place_passthrough(
            device.base_gpa,
            device.length,
            Some(&device.name),
            site,
            &mut mmio,
            sink,
        );
    }
    for (i, range) in devices.passthrough_addresses.iter().enumerate() {
        let site = site("passthrough_addresses", i, &spans.passthrough_addresses);
        place_passthrough(range.base_gpa, range.length, None, site, &mut mmio, sink);
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
            path: site.path,
            name: None,
            span: site.spans.start,
        });
    }

    report_overlaps(&mut mmio, sink);
    report_overlaps(&mut ports, sink);
    for placed in &mmio {
        for region in ram
            .iter()
            .filter(|region| region.window.overlaps(placed.window))
        {
            let kind = ErrorKind::WindowOverlap {
                window: placed.window,
                other_name: format!(
                    "RAM region {}",
                    Path::key("kernel", "memory_regions").index(region.index)
                ),
                other: region.window,
            };
            sink.error(placed.path, placed.span, kind);
        }
    }
}

/// Checks a pass-through window and adds it to the MMIO windows.
fn place_passthrough<'c>(
    base: usize,
    length: usize,
    name: Option<&'c str>,
    site: Site<'static>,
    mmio: &mut Vec<Placed<'c>>,
    sink: &mut Sink<'_>,
) {
    let Some(window) = checked_window(base, length, 1, site, sink) else {
        return;
    };
    for (value, span) in [(base, site.spans.start), (length, site.spans.size)] {
        if value % PAGE_SIZE != 0 {
            sink.warning(site.path, span, WarningKind::UnalignedPassthrough { value });
        }
    }
    mmio.push(Placed {
        window,
        path: site.path,
        name,
        span: site.spans.start,
    });
}

/// Reports every window that starts inside an earlier one (sorted sweep, O(n log n)).
fn report_overlaps(windows: &mut [Placed<'_>], sink: &mut Sink<'_>) {
    windows.sort_by_key(|placed| (placed.window.start, placed.window.end));
    let mut furthest: Option<&Placed<'_>> = None;
    for placed in windows.iter() {
        if let Some(earlier) = furthest.filter(|earlier| earlier.window.overlaps(placed.window)) {
            let kind = ErrorKind::WindowOverlap {
                window: placed.window,
                other_name: earlier.label(),
                other: earlier.window,
            };
            sink.error(placed.path, placed.span, kind);
        }
        if furthest.is_none_or(|earlier| placed.window.end > earlier.window.end) {
            furthest = Some(placed);
        }
    }
}
