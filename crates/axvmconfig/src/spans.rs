//! Where the values that cross-field rules check came from, so that those rules can
//! point at the offending value. Empty (all unknown) for configs built in code.

use alloc::vec::Vec;

use crate::diag::Span;

/// Spans of a window-like list element: start, size, (for memory regions) flags and
/// (for pass-through devices) the host address.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ItemSpans {
    pub(crate) start: Span,
    pub(crate) size: Span,
    pub(crate) flags: Span,
    pub(crate) host: Span,
}

/// Spans of the values the validation rules look at.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConfigSpans {
    pub(crate) cpu_num: Span,
    pub(crate) phys_cpu_ids: Span,
    pub(crate) phys_cpu_sets: Span,
    pub(crate) phys_cpu_set_items: Vec<Span>,
    pub(crate) entry_point: Span,
    pub(crate) kernel_load_addr: Span,
    pub(crate) enable_bios: Span,
    pub(crate) bios_path: Span,
    pub(crate) bios_load_addr: Span,
    pub(crate) dtb_load_addr: Span,
    pub(crate) ramdisk_load_addr: Span,
    pub(crate) memory_regions: Vec<ItemSpans>,
    pub(crate) emu_devices: Vec<ItemSpans>,
    pub(crate) passthrough_devices: Vec<ItemSpans>,
    pub(crate) passthrough_addresses: Vec<ItemSpans>,
    pub(crate) passthrough_ports: Vec<ItemSpans>,
}

/// Element `index` of a span list, or unknown spans when the list is shorter.
pub(crate) fn item(list: &[ItemSpans], index: usize) -> ItemSpans {
    list.get(index).copied().unwrap_or_default()
}
