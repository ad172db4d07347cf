//! What a generated tree says that the config file cannot: what the vCPU backend
//! offers the guest and the platform's clocks. The hypervisor knows these (it
//! chose the backend and its set-up), so it sets them on the VM's config
//! ([`AxVMConfig::set_fdt_options`](crate::AxVMConfig::set_fdt_options)).

use alloc::{string::String, vec::Vec};

/// The riscv64 extensions every backend of this workspace offers a guest: RV64GC
/// (`zicsr` and `zifencei` named, as the ISA manual now splits them from `i`) and
/// the `time`/`cycle`/`instret` counters (`zicntr`: the backend sets
/// `hcounteren`). No `h` (no nested virtualization) and no `sstc`: see
/// [`FdtOptions::isa_extensions`].
pub const RISCV_BASE_EXTENSIONS: [&str; 9] =
    ["i", "m", "a", "f", "d", "c", "zicntr", "zicsr", "zifencei"];

/// The `time` counter rate of QEMU's virt machine (10 MHz), the default
/// `timebase-frequency`.
pub const QEMU_VIRT_TIMEBASE_HZ: u32 = 10_000_000;

/// Options of the generated device tree (see [`generate`](super::generate)); the
/// fields name the architecture they are for and are ignored on the others.
///
/// The default suits every riscv64 backend: [`RISCV_BASE_EXTENSIONS`], Sv39,
/// QEMU virt's timebase. It is safe, not complete: a hypervisor whose backend
/// enables Sstc for the guest must add `"sstc"` ([`with_extensions`](Self::with_extensions)),
/// or the guest programs its timer through SBI calls (an exit each) although it
/// could write `stimecmp` directly.
///
/// ```
/// use axvm::{AxVMConfig, fdt::{self, FdtOptions}};
/// use axvm_types::Arch;
/// use axvmconfig::AxVMCrateConfig;
///
/// let toml = r#"
/// [base]
/// id = 1
/// name = "linux"
/// cpu_num = 1
/// [kernel]
/// entry_point = 0x9020_0000
/// kernel_path = "Image"
/// kernel_load_addr = 0x9020_0000
/// memory_regions = [[0x9000_0000, 0x1000_0000, 0x7, 0]]
/// [devices]
/// emu_devices = [["ns16550", 0x1000_0000, 0x100, 10, 0x2, []]]
/// "#;
/// let file = AxVMCrateConfig::from_toml(toml).unwrap();
/// let mut config = AxVMConfig::new(file, Arch::Riscv64).unwrap();
/// // This backend enables Sstc for its guests.
/// config.set_fdt_options(FdtOptions::default().with_extensions(&["sstc"]));
/// let dtb = fdt::generate(&config, None).unwrap();
/// assert_eq!(dtb[..4], [0xd0, 0x0d, 0xfe, 0xed]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdtOptions {
    /// riscv64: the extensions of every hart, written as `riscv,isa-extensions` in
    /// this order and as the `riscv,isa` string (`rv64`, the single-letter ones,
    /// then `_` and each longer one). Lower-case letters and digits, the first
    /// letter a letter; the list must name `i` (the tree says `riscv,isa-base =
    /// "rv64i"`). Name exactly what the guest may use: `sstc` only when the
    /// backend sets `henvcfg.STCE` (and `hcounteren.TM`), because without them a
    /// guest write of `stimecmp` traps as a virtual instruction.
    pub isa_extensions: Vec<String>,
    /// riscv64: each hart's `mmu-type` (`"riscv,sv39"`, `"riscv,sv48"`,
    /// `"riscv,sv57"`): the widest guest paging mode the hart implements, which
    /// the backend passes through (`vsatp` is the guest's). Linux still probes
    /// `satp` itself.
    pub mmu_type: String,
    /// riscv64: `/cpus timebase-frequency`, the rate of the `time` counter the
    /// guest reads (the host's: the backend does not scale it), in Hz.
    pub timebase_frequency: u32,
}

impl FdtOptions {
    /// These options with `extensions` appended to
    /// [`isa_extensions`](Self::isa_extensions) (those already there are not
    /// repeated).
    #[must_use]
    pub fn with_extensions(mut self, extensions: &[&str]) -> Self {
        for &extension in extensions {
            if !self.isa_extensions.iter().any(|have| have == extension) {
                self.isa_extensions.push(String::from(extension));
            }
        }
        self
    }
}

impl Default for FdtOptions {
    fn default() -> Self {
        Self {
            isa_extensions: RISCV_BASE_EXTENSIONS.map(String::from).to_vec(),
            mmu_type: String::from("riscv,sv39"),
            timebase_frequency: QEMU_VIRT_TIMEBASE_HZ,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_are_appended_once() {
        let options = FdtOptions::default().with_extensions(&["sstc", "zicsr", "sstc"]);
        assert_eq!(
            options.isa_extensions,
            [
                "i", "m", "a", "f", "d", "c", "zicntr", "zicsr", "zifencei", "sstc"
            ]
        );
        assert_eq!(options.mmu_type, "riscv,sv39");
        assert_eq!(options.timebase_frequency, 10_000_000);
    }
}
