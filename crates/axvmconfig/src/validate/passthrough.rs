//! Pass-through windows: mapped page by page from the guest address to the host
//! address, so both must sit at the same offset in their page, and the window is
//! widened to the pages it touches.

use super::{
    memory::{PAGE_SIZE, Site, checked_window},
    windows::Placed,
};
use crate::{ErrorKind, WarningKind, Window, diag::Sink};

/// Checks a pass-through window at guest address `base` (and host address `host`
/// for a device; an address range is identity-mapped) and returns it placed, with
/// the pages it is mapped as.
pub(super) fn place_passthrough<'c>(
    base: usize,
    host: Option<usize>,
    length: usize,
    name: Option<&'c str>,
    site: Site<'static>,
    sink: &mut Sink<'_>,
) -> Option<Placed<'c>> {
    let window = checked_window(base, length, 1, site, sink)?;
    for (value, span) in [(base, site.spans.start), (length, site.spans.size)] {
        if value % PAGE_SIZE != 0 {
            sink.warning(site.path, span, WarningKind::UnalignedPassthrough { value });
        }
    }
    if let Some(hpa) = host {
        let host_path = site.path.field("base_hpa");
        if hpa.checked_add(length).is_none() {
            let kind = ErrorKind::Overflow {
                start: hpa,
                size: length,
            };
            sink.error(host_path, site.spans.host, kind);
        } else if hpa % PAGE_SIZE != base % PAGE_SIZE {
            let kind = ErrorKind::PageOffsetMismatch { gpa: base, hpa };
            sink.error(host_path, site.spans.host, kind);
        }
    }
    let Some(mapped) = pages(window) else {
        sink.error(
            site.path,
            site.spans.start,
            ErrorKind::Overflow {
                start: base,
                size: length,
            },
        );
        return None;
    };
    Some(Placed {
        window,
        mapped,
        path: site.path,
        name,
        span: site.spans.start,
    })
}

/// The whole pages `window` touches, or `None` when the last one passes the end of
/// the address space.
fn pages(window: Window) -> Option<Window> {
    let mask = PAGE_SIZE.wrapping_sub(1);
    let end = window.end.checked_add(mask)? & !mask;
    Some(Window {
        start: window.start & !mask,
        end,
    })
}
