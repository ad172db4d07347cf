//! A thin layer over `vm_fdt::FdtWriter`: nodes opened and closed by one call,
//! cells written from `u64` values that must fit, and every writer error turned into
//! the VM's error, so that the platform files read as the tree they build.

use alloc::{format, string::String, vec::Vec};

use axvm_types::{AxVmError, AxVmResult};
use vm_fdt::FdtWriter;

/// A device tree being written.
pub(super) struct Tree(FdtWriter);

impl Tree {
    /// An empty tree (no memory reservations).
    pub(super) fn new() -> AxVmResult<Self> {
        FdtWriter::new().map(Self).map_err(writer_error)
    }

    /// Writes node `name` with what `body` puts in it.
    pub(super) fn node(
        &mut self,
        name: &str,
        body: impl FnOnce(&mut Self) -> AxVmResult,
    ) -> AxVmResult {
        let node = self.0.begin_node(name).map_err(writer_error)?;
        body(self)?;
        self.0.end_node(node).map_err(writer_error)
    }

    /// An empty property (a flag such as `interrupt-controller`).
    pub(super) fn flag(&mut self, name: &str) -> AxVmResult {
        self.0.property_null(name).map_err(writer_error)
    }

    /// A string property.
    pub(super) fn string(&mut self, name: &str, value: &str) -> AxVmResult {
        self.0.property_string(name, value).map_err(writer_error)
    }

    /// A string-list property.
    pub(super) fn strings(&mut self, name: &str, values: &[&str]) -> AxVmResult {
        let values = values.iter().map(|&value| String::from(value)).collect();
        self.0
            .property_string_list(name, values)
            .map_err(writer_error)
    }

    /// A one-cell property.
    pub(super) fn u32(&mut self, name: &str, value: u32) -> AxVmResult {
        self.0.property_u32(name, value).map_err(writer_error)
    }

    /// A property of 32-bit cells.
    pub(super) fn cells(&mut self, name: &str, cells: &[u32]) -> AxVmResult {
        self.0.property_array_u32(name, cells).map_err(writer_error)
    }

    /// A property of 64-bit values, two cells each (addresses and sizes under
    /// `#address-cells = #size-cells = 2`).
    pub(super) fn u64s(&mut self, name: &str, values: &[u64]) -> AxVmResult {
        self.0
            .property_array_u64(name, values)
            .map_err(writer_error)
    }

    /// This node's phandle (unique in the tree).
    pub(super) fn phandle(&mut self, phandle: u32) -> AxVmResult {
        self.0.property_phandle(phandle).map_err(writer_error)
    }

    /// The blob.
    pub(super) fn finish(self) -> AxVmResult<Vec<u8>> {
        self.0.finish().map_err(writer_error)
    }
}

/// `name@<address in hex>`, the unit-address form of a node name.
pub(super) fn unit(name: &str, address: u64) -> String {
    format!("{name}@{address:x}")
}

/// The full path of node `name@<address>` under the node at `parent` (`""` for
/// the root, else a path such as `"/soc"`): what `stdout-path` names.
pub(super) fn path(parent: &str, name: &str, address: u64) -> String {
    format!("{parent}/{name}@{address:x}")
}

/// A value that must fit one 32-bit cell.
pub(super) fn cell(value: u64, what: &str) -> AxVmResult<u32> {
    u32::try_from(value).map_err(|_| {
        log::warn!("device tree: {what} {value:#x} does not fit a 32-bit cell");
        AxVmError::InvalidInput
    })
}

/// The writer refuses what the spec forbids (a NUL in a string, a bad name, a blob
/// over 4 GiB): the config asked for it.
fn writer_error(error: vm_fdt::Error) -> AxVmError {
    log::warn!("device tree: {error}");
    AxVmError::InvalidInput
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_errors_are_invalid_input() {
        let mut tree = Tree::new().unwrap();
        let written = tree.node("", |tree| tree.string("bootargs", "a\0b"));
        assert_eq!(written, Err(AxVmError::InvalidInput));
        let mut tree = Tree::new().unwrap();
        assert_eq!(
            tree.node("bad name", |_| Ok(())),
            Err(AxVmError::InvalidInput)
        );
        assert_eq!(cell(1 << 32, "x"), Err(AxVmError::InvalidInput));
        assert_eq!(cell(7, "x"), Ok(7));
        assert_eq!(unit("memory", 0x4000_0000), "memory@40000000");
        assert_eq!(path("", "pl011", 0x900_0000), "/pl011@9000000");
        assert_eq!(path("/soc", "serial", 0x1000_0000), "/soc/serial@10000000");
    }
}
