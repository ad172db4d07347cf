//! Field paths such as `kernel.memory_regions[1].size`, built without allocating
//! (a path becomes a string only when a diagnostic is reported).

use core::fmt;

/// The path of a value in a config: `table.key[index].field[item]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Path<'k> {
    table: &'static str,
    key: &'k str,
    index: Option<usize>,
    field: Option<&'static str>,
    item: Option<usize>,
}

impl<'k> Path<'k> {
    /// A key of a table (`table` is empty for the top level).
    pub(crate) const fn key(table: &'static str, key: &'k str) -> Self {
        Self {
            table,
            key,
            index: None,
            field: None,
            item: None,
        }
    }

    /// Element `index` of this array.
    pub(crate) const fn index(self, index: usize) -> Self {
        Self {
            index: Some(index),
            ..self
        }
    }

    /// The named column of a positional array element.
    pub(crate) const fn field(self, field: &'static str) -> Self {
        Self {
            field: Some(field),
            ..self
        }
    }

    /// Element `item` of a nested array.
    pub(crate) const fn item(self, item: usize) -> Self {
        Self {
            item: Some(item),
            ..self
        }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.table.is_empty() {
            write!(f, "{}.", self.table)?;
        }
        f.write_str(self.key)?;
        if let Some(index) = self.index {
            write!(f, "[{index}]")?;
        }
        if let Some(field) = self.field {
            write!(f, ".{field}")?;
        }
        if let Some(item) = self.item {
            write!(f, "[{item}]")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use super::*;

    #[test]
    fn paths_print_like_field_accesses() {
        let regions = Path::key("kernel", "memory_regions");
        assert_eq!(regions.to_string(), "kernel.memory_regions");
        assert_eq!(
            regions.index(1).field("size").to_string(),
            "kernel.memory_regions[1].size"
        );
        let cfg = Path::key("devices", "emu_devices")
            .index(0)
            .field("cfg_list")
            .item(2);
        assert_eq!(cfg.to_string(), "devices.emu_devices[0].cfg_list[2]");
        assert_eq!(Path::key("", "base").to_string(), "base");
    }
}
