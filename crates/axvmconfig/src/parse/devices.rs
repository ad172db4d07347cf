//! The `[devices]` table.

use alloc::{string::String, vec::Vec};

use axvm_types::{
    EmulatedDeviceConfig, PassThroughAddressConfig, PassThroughDeviceConfig, PassThroughPortConfig,
};
use toml::de::DeTable;

use super::reader::{Reader, Value, span_of};
use crate::{
    VMDevicesConfig,
    path::Path,
    spans::{ConfigSpans, ItemSpans},
};

/// The keys of `[devices]`.
pub(crate) const DEVICES_KEYS: &[&str] = &[
    "emu_devices",
    "passthrough_devices",
    "passthrough_addresses",
    "passthrough_ports",
    "excluded_devices",
    "interrupt_mode",
];

pub(super) fn read_devices(
    r: &mut Reader<'_, '_>,
    table: &DeTable<'_>,
    spans: &mut ConfigSpans,
) -> VMDevicesConfig {
    let mut devices = VMDevicesConfig::default();
    for (key, value) in table.iter() {
        let path = Path::key("devices", key.get_ref());
        match key.get_ref().as_ref() {
            "emu_devices" => {
                devices.emu_devices = read_list(r, value, path, |r, element, path| {
                    read_emu_device(r, element, path)
                });
                spans.emu_devices = window_spans(value, 1, 2, None);
            }
            "passthrough_devices" => {
                devices.passthrough_devices = read_list(r, value, path, read_passthrough_device);
                spans.passthrough_devices = window_spans(value, 1, 3, Some(2));
            }
            "passthrough_addresses" => {
                devices.passthrough_addresses = read_list(r, value, path, |r, element, path| {
                    let [base, length] = r.tuple(element, path, 2, 2, "2 ([gpa, length])")? else {
                        return None;
                    };
                    Some(PassThroughAddressConfig {
                        base_gpa: r.usize(base, path.field("base_gpa"))?,
                        length: r.usize(length, path.field("length"))?,
                    })
                });
                spans.passthrough_addresses = window_spans(value, 0, 1, None);
            }
            "passthrough_ports" => {
                devices.passthrough_ports = read_list(r, value, path, |r, element, path| {
                    let [base, length] = r.tuple(element, path, 2, 2, "2 ([port, length])")? else {
                        return None;
                    };
                    Some(PassThroughPortConfig {
                        base_port: r.u16(base, path.field("base_port"))?,
                        length: r.u16(length, path.field("length"))?,
                    })
                });
                spans.passthrough_ports = window_spans(value, 0, 1, None);
            }
            "excluded_devices" => {
                devices.excluded_devices = read_list(r, value, path, |r, element, path| {
                    let names = r.array(element, path)?;
                    let mut list = Vec::with_capacity(names.len());
                    for (i, name) in names.iter().enumerate() {
                        list.push(r.string(name, path.item(i))?);
                    }
                    Some(list)
                });
            }
            "interrupt_mode" => {
                devices.interrupt_mode = r.named(value, path, "interrupt_mode").unwrap_or_default();
            }
            _ => r.unknown_key("devices", key, DEVICES_KEYS),
        }
    }
    devices
}

/// Reads every element of an array with `read`, skipping (already reported) failures.
fn read_list<T>(
    r: &mut Reader<'_, '_>,
    value: &Value<'_>,
    path: Path<'_>,
    mut read: impl FnMut(&mut Reader<'_, '_>, &Value<'_>, Path<'_>) -> Option<T>,
) -> Vec<T> {
    let Some(array) = r.array(value, path) else {
        return Vec::new();
    };
    let mut list = Vec::with_capacity(array.len());
    for (i, element) in array.iter().enumerate() {
        if let Some(item) = read(r, element, path.index(i)) {
            list.push(item);
        }
    }
    list
}

/// The spans of the start, size and (if it has one) host-address columns of each
/// element of a window list.
fn window_spans(
    value: &Value<'_>,
    start: usize,
    size: usize,
    host: Option<usize>,
) -> Vec<ItemSpans> {
    let Some(array) = value.get_ref().as_array() else {
        return Vec::new();
    };
    array
        .iter()
        .map(|element| {
            let column = |index: usize| {
                element
                    .get_ref()
                    .as_array()
                    .and_then(|columns| columns.get(index))
                    .map_or(span_of(element), span_of)
            };
            ItemSpans {
                start: column(start),
                size: column(size),
                flags: span_of(element),
                host: host.map_or(span_of(element), column),
            }
        })
        .collect()
}

/// `[name, base_gpa, length, irq_id, emu_type, [cfg...]]`; the config list may be omitted.
fn read_emu_device(
    r: &mut Reader<'_, '_>,
    element: &Value<'_>,
    path: Path<'_>,
) -> Option<EmulatedDeviceConfig> {
    let expected = "5 or 6 ([name, base_gpa, length, irq_id, emu_type, [cfg...]])";
    let columns = r.tuple(element, path, 5, 6, expected)?;
    let [name, base, length, irq, emu_type, rest @ ..] = columns else {
        return None;
    };
    let cfg_list = match rest.first() {
        Some(cfg) => r.usize_list(cfg, path.field("cfg_list"))?,
        None => Vec::new(),
    };
    Some(EmulatedDeviceConfig {
        name: r.string(name, path.field("name"))?,
        base_gpa: r.usize(base, path.field("base_gpa"))?,
        length: r.usize(length, path.field("length"))?,
        irq_id: r.usize(irq, path.field("irq_id"))?,
        emu_type: r.named(emu_type, path.field("emu_type"), "emu_type")?,
        cfg_list,
    })
}

/// `[name, base_gpa?, base_hpa?, length?, irq_id?]`: a bare name is a device-tree path.
fn read_passthrough_device(
    r: &mut Reader<'_, '_>,
    element: &Value<'_>,
    path: Path<'_>,
) -> Option<PassThroughDeviceConfig> {
    let expected = "1 to 5 ([name, base_gpa, base_hpa, length, irq_id])";
    let columns = r.tuple(element, path, 1, 5, expected)?;
    let mut numbers = [0usize; 4];
    let names = ["base_gpa", "base_hpa", "length", "irq_id"];
    let mut name = String::new();
    for (i, column) in columns.iter().enumerate() {
        match i.checked_sub(1) {
            None => name = r.string(column, path.field("name"))?,
            Some(n) => {
                let field = names.get(n).copied().unwrap_or("irq_id");
                let number = r.usize(column, path.field(field))?;
                if let Some(slot) = numbers.get_mut(n) {
                    *slot = number;
                }
            }
        }
    }
    let [base_gpa, base_hpa, length, irq_id] = numbers;
    Some(PassThroughDeviceConfig {
        name,
        base_gpa,
        base_hpa,
        length,
        irq_id,
    })
}
