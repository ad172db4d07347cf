//! Typed reads of TOML values; every mismatch becomes a located error.

use alloc::{
    string::{String, ToString},
    vec::Vec,
};

use toml::{
    Spanned,
    de::{DeArray, DeTable, DeValue},
};

use axvm_types::ConfigEnum;

use crate::{
    ErrorKind,
    diag::{Sink, Span},
    path::Path,
    suggest::key_hint,
};

/// A value in the document, with its span.
pub(crate) type Value<'i> = Spanned<DeValue<'i>>;

/// Reads values of a parsed document into typed fields, reporting problems to a sink.
pub(crate) struct Reader<'a, 's> {
    pub(crate) sink: &'a mut Sink<'s>,
}

/// Where a value is, for diagnostics.
pub(crate) fn span_of<T>(value: &Spanned<T>) -> Span {
    Span::from_range(value.span())
}

/// An integer value in the radix it was written in.
struct DisplayInt<'v, 'i>(&'v DeValue<'i>);

impl core::fmt::Display for DisplayInt<'_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            DeValue::Integer(int) => {
                let prefix = match int.radix() {
                    16 => "0x",
                    8 => "0o",
                    2 => "0b",
                    _ => "",
                };
                write!(f, "{prefix}{}", int.as_str())
            }
            _ => f.write_str("?"),
        }
    }
}

/// The name of a TOML value's type, for messages.
fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

impl Reader<'_, '_> {
    fn wrong_type(&mut self, value: &Value<'_>, path: Path<'_>, expected: &'static str) {
        let found = type_name(value.get_ref());
        self.sink.error(
            path,
            span_of(value),
            ErrorKind::WrongType { expected, found },
        );
    }

    /// An integer in `min..=max`.
    pub(crate) fn integer(&mut self, value: &Value<'_>, path: Path<'_>, max: u64) -> Option<u64> {
        let DeValue::Integer(int) = value.get_ref() else {
            self.wrong_type(value, path, "an integer");
            return None;
        };
        // The TOML grammar guarantees digits of the radix; the only failure is an
        // integer wider than 64 bits, which TOML forbids and is reported as such.
        let Ok(parsed) = i64::from_str_radix(int.as_str(), int.radix()) else {
            self.sink.error(
                path,
                span_of(value),
                ErrorKind::Syntax("integer does not fit in 64 bits".to_string()),
            );
            return None;
        };
        match u64::try_from(parsed) {
            Ok(unsigned) if unsigned <= max => Some(unsigned),
            _ => {
                let kind = ErrorKind::OutOfRange {
                    value: parsed,
                    min: 0,
                    max,
                };
                self.sink.error(path, span_of(value), kind);
                None
            }
        }
    }

    /// A non-negative integer that fits a `usize`.
    pub(crate) fn usize(&mut self, value: &Value<'_>, path: Path<'_>) -> Option<usize> {
        let max = u64::try_from(usize::MAX).unwrap_or(u64::MAX);
        self.integer(value, path, max)
            .and_then(|int| usize::try_from(int).ok())
    }

    /// An integer that fits a `u16` (x86 port numbers and counts).
    pub(crate) fn u16(&mut self, value: &Value<'_>, path: Path<'_>) -> Option<u16> {
        self.integer(value, path, u64::from(u16::MAX))
            .and_then(|int| u16::try_from(int).ok())
    }

    /// A string.
    pub(crate) fn string(&mut self, value: &Value<'_>, path: Path<'_>) -> Option<String> {
        match value.get_ref() {
            DeValue::String(text) => Some(text.to_string()),
            _ => {
                self.wrong_type(value, path, "a string");
                None
            }
        }
    }

    /// A boolean.
    pub(crate) fn bool(&mut self, value: &Value<'_>, path: Path<'_>) -> Option<bool> {
        match value.get_ref() {
            DeValue::Boolean(flag) => Some(*flag),
            _ => {
                self.wrong_type(value, path, "a boolean");
                None
            }
        }
    }

    /// An array.
    pub(crate) fn array<'v, 'i>(
        &mut self,
        value: &'v Value<'i>,
        path: Path<'_>,
    ) -> Option<&'v DeArray<'i>> {
        match value.get_ref() {
            DeValue::Array(array) => Some(array),
            _ => {
                self.wrong_type(value, path, "an array");
                None
            }
        }
    }

    /// A table.
    pub(crate) fn table<'v, 'i>(
        &mut self,
        value: &'v Value<'i>,
        path: Path<'_>,
    ) -> Option<&'v DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(table) => Some(table),
            _ => {
                self.wrong_type(value, path, "a table");
                None
            }
        }
    }

    /// An array of `usize`, each element checked.
    pub(crate) fn usize_list(&mut self, value: &Value<'_>, path: Path<'_>) -> Option<Vec<usize>> {
        let array = self.array(value, path)?;
        let mut list = Vec::with_capacity(array.len());
        let mut ok = true;
        for (i, element) in array.iter().enumerate() {
            match self.usize(element, path.item(i)) {
                Some(int) => list.push(int),
                None => ok = false,
            }
        }
        ok.then_some(list)
    }

    /// A positional array of `min..=max` elements.
    pub(crate) fn tuple<'v, 'i>(
        &mut self,
        value: &'v Value<'i>,
        path: Path<'_>,
        min: usize,
        max: usize,
        expected: &'static str,
    ) -> Option<&'v [Value<'i>]> {
        let array = self.array(value, path)?;
        if (min..=max).contains(&array.len()) {
            Some(array)
        } else {
            let kind = ErrorKind::ArrayLength {
                expected,
                found: array.len(),
            };
            self.sink.error(path, span_of(value), kind);
            None
        }
    }

    /// A value of a "code + name" enum: a number (its code) or a string (its name).
    pub(crate) fn named<E: ConfigEnum>(
        &mut self,
        value: &Value<'_>,
        path: Path<'_>,
        what: &'static str,
    ) -> Option<E> {
        let found = match value.get_ref() {
            DeValue::String(name) => E::from_name(name),
            DeValue::Integer(_) => E::from_usize(self.usize(value, path)?),
            _ => {
                self.wrong_type(value, path, "an integer code or a name");
                return None;
            }
        };
        if found.is_none() {
            // Only the failure path formats: a valid config allocates nothing here.
            let written = match value.get_ref() {
                DeValue::String(name) => alloc::format!("`{name}`"),
                other => alloc::format!("{}", DisplayInt(other)),
            };
            let mut valid = String::new();
            for (i, item) in E::ALL.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                valid.push_str(&alloc::format!("{sep}{:#x} \"{item}\"", item.code()));
            }
            let kind = ErrorKind::UnknownValue {
                what,
                value: written,
                valid,
            };
            self.sink.error(path, span_of(value), kind);
        }
        found
    }

    /// Reports a key that `table` does not have.
    pub(crate) fn unknown_key(
        &mut self,
        table: &'static str,
        key: &Spanned<alloc::borrow::Cow<'_, str>>,
        valid: &'static [&'static str],
    ) {
        let name = key.get_ref();
        let kind = ErrorKind::UnknownKey {
            key: name.to_string(),
            hint: key_hint(name, table, valid),
        };
        self.sink.error(Path::key(table, name), span_of(key), kind);
    }

    /// Reports `key` missing from `table`, located at the table's header.
    pub(crate) fn missing(&mut self, table: &'static str, key: &'static str, at: Span) {
        self.sink.error(table, at, ErrorKind::MissingKey(key));
    }
}
