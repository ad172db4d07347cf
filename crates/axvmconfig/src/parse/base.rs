//! The `[base]` table.

use toml::de::{DeTable, DeValue};

use super::reader::{Reader, span_of};
use crate::{VMBaseConfig, diag::Span, path::Path, spans::ConfigSpans};

/// The keys of `[base]`.
pub(crate) const BASE_KEYS: &[&str] = &[
    "id",
    "name",
    "vm_type",
    "cpu_num",
    "phys_cpu_ids",
    "phys_cpu_sets",
];

pub(super) fn read_base(
    r: &mut Reader<'_, '_>,
    table: &DeTable<'_>,
    at: Span,
    spans: &mut ConfigSpans,
) -> VMBaseConfig {
    let mut base = VMBaseConfig::default();
    let (mut id, mut name, mut cpu_num) = (None, None, None);
    for (key, value) in table.iter() {
        let path = Path::key("base", key.get_ref());
        match key.get_ref().as_ref() {
            "id" => id = Some(r.usize(value, path)),
            "name" => name = Some(r.string(value, path)),
            "vm_type" => base.vm_type = r.named(value, path, "vm_type").unwrap_or_default(),
            "cpu_num" => {
                spans.cpu_num = span_of(value);
                cpu_num = Some(r.usize(value, path));
            }
            "phys_cpu_ids" => {
                spans.phys_cpu_ids = span_of(value);
                base.phys_cpu_ids = r.usize_list(value, path);
            }
            "phys_cpu_sets" => {
                spans.phys_cpu_sets = span_of(value);
                if let DeValue::Array(array) = value.get_ref() {
                    spans.phys_cpu_set_items = array.iter().map(span_of).collect();
                }
                base.phys_cpu_sets = r.usize_list(value, path);
            }
            _ => r.unknown_key("base", key, BASE_KEYS),
        }
    }
    for (present, key) in [
        (id.is_some(), "id"),
        (name.is_some(), "name"),
        (cpu_num.is_some(), "cpu_num"),
    ] {
        if !present {
            r.missing("base", key, at);
        }
    }
    base.id = id.flatten().unwrap_or_default();
    base.name = name.flatten().unwrap_or_default();
    base.cpu_num = cpu_num.flatten().unwrap_or_default();
    base
}
