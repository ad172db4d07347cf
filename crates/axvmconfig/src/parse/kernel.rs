//! The `[kernel]` table.

use alloc::vec::Vec;

use axvm_types::VmMemConfig;
use toml::de::DeTable;

use super::reader::{Reader, Value, span_of};
use crate::{
    VMKernelConfig,
    diag::Span,
    path::Path,
    spans::{ConfigSpans, ItemSpans},
};

/// The keys of `[kernel]`.
pub(crate) const KERNEL_KEYS: &[&str] = &[
    "entry_point",
    "kernel_path",
    "kernel_load_addr",
    "enable_bios",
    "boot_protocol",
    "bios_path",
    "bios_load_addr",
    "dtb_path",
    "dtb_load_addr",
    "ramdisk_path",
    "ramdisk_load_addr",
    "image_location",
    "cmdline",
    "disk_path",
    "memory_regions",
];

pub(super) fn read_kernel(
    r: &mut Reader<'_, '_>,
    table: &DeTable<'_>,
    at: Span,
    spans: &mut ConfigSpans,
) -> VMKernelConfig {
    let mut kernel = VMKernelConfig::default();
    let (mut entry, mut path_seen, mut load, mut regions) = (None, None, None, None);
    for (key, value) in table.iter() {
        let path = Path::key("kernel", key.get_ref());
        match key.get_ref().as_ref() {
            "entry_point" => {
                spans.entry_point = span_of(value);
                entry = Some(r.usize(value, path));
            }
            "kernel_path" => path_seen = Some(r.string(value, path)),
            "kernel_load_addr" => {
                spans.kernel_load_addr = span_of(value);
                load = Some(r.usize(value, path));
            }
            "enable_bios" => {
                spans.enable_bios = span_of(value);
                kernel.enable_bios = r.bool(value, path).unwrap_or_default();
            }
            "boot_protocol" => {
                kernel.boot_protocol = r.named(value, path, "boot_protocol").unwrap_or_default();
            }
            "bios_path" => {
                spans.bios_path = span_of(value);
                kernel.bios_path = r.string(value, path);
            }
            "bios_load_addr" => {
                spans.bios_load_addr = span_of(value);
                kernel.bios_load_addr = r.usize(value, path);
            }
            "dtb_path" => kernel.dtb_path = r.string(value, path),
            "dtb_load_addr" => {
                spans.dtb_load_addr = span_of(value);
                kernel.dtb_load_addr = r.usize(value, path);
            }
            "ramdisk_path" => kernel.ramdisk_path = r.string(value, path),
            "ramdisk_load_addr" => {
                spans.ramdisk_load_addr = span_of(value);
                kernel.ramdisk_load_addr = r.usize(value, path);
            }
            "image_location" => kernel.image_location = r.named(value, path, "image_location"),
            "cmdline" => kernel.cmdline = r.string(value, path),
            "disk_path" => kernel.disk_path = r.string(value, path),
            "memory_regions" => regions = Some(read_regions(r, value, path, spans)),
            _ => r.unknown_key("kernel", key, KERNEL_KEYS),
        }
    }
    for (present, key) in [
        (entry.is_some(), "entry_point"),
        (path_seen.is_some(), "kernel_path"),
        (load.is_some(), "kernel_load_addr"),
        (regions.is_some(), "memory_regions"),
    ] {
        if !present {
            r.missing("kernel", key, at);
        }
    }
    kernel.entry_point = entry.flatten().unwrap_or_default();
    kernel.kernel_path = path_seen.flatten().unwrap_or_default();
    kernel.kernel_load_addr = load.flatten().unwrap_or_default();
    kernel.memory_regions = regions.unwrap_or_default();
    kernel
}

/// `memory_regions = [[gpa, size, flags, map_type], ...]`.
fn read_regions(
    r: &mut Reader<'_, '_>,
    value: &Value<'_>,
    path: Path<'_>,
    spans: &mut ConfigSpans,
) -> Vec<VmMemConfig> {
    let Some(array) = r.array(value, path) else {
        return Vec::new();
    };
    let mut regions = Vec::with_capacity(array.len());
    for (i, element) in array.iter().enumerate() {
        let path = path.index(i);
        let expected = "4 ([gpa, size, flags, map_type])";
        let Some([gpa, size, flags, map_type]) = r.tuple(element, path, 4, 4, expected) else {
            continue;
        };
        spans.memory_regions.push(ItemSpans {
            start: span_of(gpa),
            size: span_of(size),
            flags: span_of(flags),
            host: span_of(element),
        });
        regions.push(VmMemConfig {
            gpa: r.usize(gpa, path.field("gpa")).unwrap_or_default(),
            size: r.usize(size, path.field("size")).unwrap_or_default(),
            flags: r.usize(flags, path.field("flags")).unwrap_or_default(),
            map_type: r
                .named(map_type, path.field("map_type"), "map_type")
                .unwrap_or_default(),
        });
    }
    regions
}
