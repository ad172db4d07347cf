//! Guest memory regions: sizes, alignment, flags, and which of them are RAM.

use alloc::vec::Vec;

use axvm_types::{MappingFlags, VmMemConfig, VmMemMappingType};

use super::{
    ram::{Ram, RamMap},
    sweep::each_overlap,
};
use crate::{
    ErrorKind, WarningKind, Window,
    diag::Sink,
    path::Path,
    spans::{ConfigSpans, ItemSpans, item},
};

/// The granule every region is mapped with.
pub(super) const PAGE_SIZE: usize = 0x1000;

/// Checks each region and returns the valid RAM ones (alloc or identical), which
/// the load-address and device-window rules are checked against.
///
/// RAM regions may overlap (a warning, one per region): the VM maps each page from
/// the first region, in file order, that covers it.
pub(super) fn check_regions(
    regions: &[VmMemConfig],
    spans: &ConfigSpans,
    sink: &mut Sink<'_>,
) -> RamMap {
    let mut ram: Vec<Ram> = Vec::with_capacity(regions.len());
    for (index, region) in regions.iter().enumerate() {
        let path = Path::key("kernel", "memory_regions").index(index);
        let span = item(&spans.memory_regions, index);
        let undefined = region.flags & !MappingFlags::all().bits();
        if undefined != 0 {
            let kind = ErrorKind::UndefinedFlags {
                flags: region.flags,
                undefined,
            };
            sink.error(path.field("flags"), span.flags, kind);
        }
        // A reserved region is never mapped, so only RAM needs flags a mapping can have.
        let readable = region.flags & MappingFlags::READ.bits() != 0;
        if region.map_type != VmMemMappingType::MapReserved && !readable {
            let kind = ErrorKind::FlagsWithoutRead {
                flags: region.flags,
            };
            sink.error(path.field("flags"), span.flags, kind);
        }
        if region.gpa % PAGE_SIZE != 0 {
            let kind = ErrorKind::Unaligned {
                value: region.gpa,
                align: PAGE_SIZE,
            };
            sink.error(path.field("gpa"), span.start, kind);
        }
        let site = Site {
            path,
            spans: span,
            size_field: "size",
        };
        let Some(window) = checked_window(region.gpa, region.size, PAGE_SIZE, site, sink) else {
            continue;
        };
        if region.map_type == VmMemMappingType::MapReserved {
            continue;
        }
        ram.push(Ram { index, window });
    }
    report_ram_overlaps(&mut ram, spans, sink);
    RamMap::new(ram)
}

/// One warning per RAM region that overlaps another.
fn report_ram_overlaps(ram: &mut [Ram], spans: &ConfigSpans, sink: &mut Sink<'_>) {
    let regions = Path::key("kernel", "memory_regions");
    each_overlap(
        ram,
        |region| region.window,
        |region, other| {
            let kind = WarningKind::RamOverlap {
                window: region.window,
                other_name: alloc::format!("{}", regions.index(other.index)),
                other: other.window,
            };
            let span = item(&spans.memory_regions, region.index).start;
            sink.warning(regions.index(region.index), span, kind);
        },
    );
}

/// Where a window-like list element is: its path, spans and the name of its size field.
#[derive(Debug, Clone, Copy)]
pub(super) struct Site<'k> {
    pub(super) path: Path<'k>,
    pub(super) spans: ItemSpans,
    pub(super) size_field: &'static str,
}

/// The window `[start, start + size)` if `size` is non-zero, a multiple of `align`,
/// and the end fits the address space; otherwise reports why and returns `None`.
pub(super) fn checked_window(
    start: usize,
    size: usize,
    align: usize,
    site: Site<'_>,
    sink: &mut Sink<'_>,
) -> Option<Window> {
    let size_path = site.path.field(site.size_field);
    if size == 0 {
        sink.error(size_path, site.spans.size, ErrorKind::ZeroSize);
        return None;
    }
    if size.checked_rem(align) != Some(0) {
        let kind = ErrorKind::Unaligned { value: size, align };
        sink.error(size_path, site.spans.size, kind);
    }
    match start.checked_add(size) {
        Some(end) => Some(Window { start, end }),
        None => {
            sink.error(
                site.path,
                site.spans.start,
                ErrorKind::Overflow { start, size },
            );
            None
        }
    }
}
