//! TOML text to [`AxVMCrateConfig`]: syntax, types, keys and value ranges.
//!
//! The document is parsed once into `toml`'s span-preserving tree and read field by
//! field, so that every problem (not only the first) is reported at its value.

mod base;
mod devices;
mod kernel;
mod reader;

use alloc::string::ToString;

use toml::de::DeTable;

pub(crate) use self::{base::BASE_KEYS, devices::DEVICES_KEYS, kernel::KERNEL_KEYS};
use self::{
    base::read_base,
    devices::read_devices,
    kernel::read_kernel,
    reader::{Reader, span_of},
};
use crate::{
    AxVMCrateConfig, ErrorKind,
    diag::{Sink, Span},
    path::Path,
    spans::ConfigSpans,
};

/// The top-level keys.
const ROOT_KEYS: &[&str] = &["base", "kernel", "devices"];

/// Reads `source` into a config and the spans of its values. Returns `None` when a
/// value could not be read; unknown keys alone still give the config, so that the
/// semantic rules can report their own findings beside them.
pub(crate) fn parse(source: &str, sink: &mut Sink<'_>) -> Option<(AxVMCrateConfig, ConfigSpans)> {
    // The plain parse is the fast path; only a file with syntax errors is parsed again
    // to collect all of them.
    let document = match DeTable::parse(source) {
        Ok(document) => document,
        Err(_) => {
            report_syntax_errors(source, sink);
            return None;
        }
    };
    let errors_before = sink.errors.len();
    let mut reader = Reader { sink };
    let mut spans = ConfigSpans::default();
    let mut config = AxVMCrateConfig::default();
    let (mut has_base, mut has_kernel) = (false, false);
    for (key, value) in document.get_ref().iter() {
        let path = Path::key("", key.get_ref());
        let at = span_of(key);
        match key.get_ref().as_ref() {
            "base" => {
                has_base = true;
                if let Some(table) = reader.table(value, path) {
                    config.base = read_base(&mut reader, table, at, &mut spans);
                }
            }
            "kernel" => {
                has_kernel = true;
                if let Some(table) = reader.table(value, path) {
                    config.kernel = read_kernel(&mut reader, table, at, &mut spans);
                }
            }
            "devices" => {
                if let Some(table) = reader.table(value, path) {
                    config.devices = read_devices(&mut reader, table, &mut spans);
                }
            }
            _ => reader.unknown_key("", key, ROOT_KEYS),
        }
    }
    let start = Span::from_range(0..0);
    if !has_base {
        reader
            .sink
            .error("", start, ErrorKind::MissingKey("[base]"));
    }
    if !has_kernel {
        reader
            .sink
            .error("", start, ErrorKind::MissingKey("[kernel]"));
    }
    let values_read = reader
        .sink
        .errors
        .get(errors_before..)
        .unwrap_or_default()
        .iter()
        .all(|error| matches!(error.kind, ErrorKind::UnknownKey { .. }));
    values_read.then_some((config, spans))
}

/// Reports every syntax error of `source`, each at its place.
fn report_syntax_errors(source: &str, sink: &mut Sink<'_>) {
    let (_, errors) = DeTable::parse_recoverable(source);
    for error in errors {
        // The parser gives no span for a few errors (nesting past its recursion
        // limit); they are reported at the start of the file rather than nowhere.
        let span = Span::from_range(error.span().unwrap_or(0..0));
        let message = error.message().trim_end().to_string();
        sink.error("", span, ErrorKind::Syntax(message));
    }
}
