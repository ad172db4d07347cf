//! The riscv64 guest platform (a QEMU-virt-like machine, `riscv-virtio`): harts
//! started through SBI HSM, each with its local interrupt controller, a PLIC whose
//! context N is hart N's S-mode, and NS16550A UARTs, on a `simple-bus`.
//!
//! As on aarch64 the tree holds only what a Linux guest needs to boot on what axvm
//! emulates, from the config; what the config cannot know (the ISA the backend
//! offers, the MMU type, the timebase) comes from its [`FdtOptions`].

use alloc::{string::String, vec::Vec};

use axvm_types::{AxVmError, AxVmResult, EmulatedDeviceConfig, EmulatedDeviceType};

use super::{
    FdtOptions, Initrd,
    common::{chosen, consoles, cpus, memory, window},
    tree::{Tree, cell, path, unit},
};
use crate::AxVMConfig;

/// The PLIC's phandle.
const PLIC_PHANDLE: u32 = 1;
/// Hart N's local interrupt controller has phandle `FIRST_INTC_PHANDLE + N`.
const FIRST_INTC_PHANDLE: u32 = 2;
/// The supervisor external interrupt (cause 9): the line from the PLIC into a
/// hart's S-mode, which the backend delivers to the guest as VSEIP.
const IRQ_S_EXT: u32 = 9;
/// The most PLIC sources (ids 1..=1023; 0 means "no interrupt").
const MAX_SOURCES: usize = 1023;
/// The NS16550A's input clock, as on QEMU virt (the 8250 driver derives divisors
/// from it; the model ignores them).
const UART_CLOCK_HZ: u32 = 3_686_400;
/// `riscv,isa-base`: every extension list builds on RV64I.
const ISA_BASE: &str = "rv64i";
/// The root's `compatible` and `model`.
const COMPATIBLE: &str = "riscv-virtio";
const MODEL: &str = "riscv-virtio,axvm";
/// The bus the devices sit on (its node name and path), and the UART nodes' name.
const SOC: &str = "soc";
const SOC_PATH: &str = "/soc";
const SERIAL: &str = "serial";

/// The PLIC the config emulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plic {
    /// Its register window.
    reg: (u64, u64),
    /// `riscv,ndev`: sources 1..=`sources` exist.
    sources: usize,
}

impl Plic {
    /// From the config's first interrupt-controller line: emu_type 0x1, or 0x30
    /// (a PLIC in the ArceOS hypervisor's configs, whose `cfg_list[0]` is a context
    /// count). The window is `base_gpa`/`length`; the source count is `cfg_list[0]`
    /// of a 0x1 line when given (1..=1023, as the vPLIC reads it), else the highest
    /// `irq_id` of the other device lines (at least 1: Linux refuses a PLIC
    /// without sources).
    fn from_config(config: &AxVMConfig) -> AxVmResult<Option<Self>> {
        let is_plic = |device: &&EmulatedDeviceConfig| {
            matches!(
                device.emu_type,
                EmulatedDeviceType::InterruptController | EmulatedDeviceType::PPPTGlobal
            )
        };
        let Some(device) = config.emu_devices().iter().find(is_plic) else {
            return Ok(None);
        };
        let configured = device
            .cfg_list
            .first()
            .filter(|_| device.emu_type == EmulatedDeviceType::InterruptController);
        let sources = match configured {
            Some(&sources) => sources,
            None => config
                .emu_devices()
                .iter()
                .filter(|other| !is_plic(other))
                .map(|other| other.irq_id)
                .max()
                .unwrap_or(0)
                .max(1),
        };
        if !(1..=MAX_SOURCES).contains(&sources) {
            log::warn!(
                "VM {}: PLIC {}: {sources} sources (1..={MAX_SOURCES})",
                config.id(),
                device.name
            );
            return Err(AxVmError::InvalidInput);
        }
        Ok(Some(Self {
            reg: window(device)?,
            sources,
        }))
    }
}

/// The riscv64 device tree of `config`.
pub(super) fn generate(config: &AxVMConfig, initrd: Option<Initrd>) -> AxVmResult<Vec<u8>> {
    let options = config.fdt_options();
    let isa = isa_string(&options.isa_extensions)?;
    let plic = Plic::from_config(config)?;
    let consoles = consoles(config);
    let stdout = consoles
        .first()
        .map(|console| path(SOC_PATH, SERIAL, console.base_gpa as u64));
    let mut tree = Tree::new()?;
    tree.node("", |tree| {
        tree.u32("#address-cells", 2)?;
        tree.u32("#size-cells", 2)?;
        tree.string("compatible", COMPATIBLE)?;
        tree.string("model", MODEL)?;
        memory(tree, config.memory_regions())?;
        harts(tree, config.cpu_num(), options, &isa)?;
        if plic.is_some() || !consoles.is_empty() {
            tree.node(SOC, |tree| {
                tree.u32("#address-cells", 2)?;
                tree.u32("#size-cells", 2)?;
                tree.string("compatible", "simple-bus")?;
                tree.flag("ranges")?;
                if let Some(plic) = plic {
                    plic_node(tree, plic, config.cpu_num())?;
                }
                for console in &consoles {
                    ns16550(tree, console, plic)?;
                }
                Ok(())
            })?;
        }
        chosen(tree, config, stdout.as_deref(), initrd)
    })?;
    tree.finish()
}

/// `/cpus` with the timebase and a `cpu@<hart id>` per vCPU (hart id = vCPU id,
/// as SBI HSM numbers them): the ISA and MMU of the options, and the hart's local
/// interrupt controller, which the PLIC's contexts name.
fn harts(tree: &mut Tree, count: usize, options: &FdtOptions, isa: &str) -> AxVmResult {
    let hart_ids = (0..count)
        .map(|id| cell(id as u64, "hart id"))
        .collect::<AxVmResult<Vec<u32>>>()?;
    let extensions: Vec<&str> = options.isa_extensions.iter().map(String::as_str).collect();
    cpus(
        tree,
        &hart_ids,
        |tree| tree.u32("timebase-frequency", options.timebase_frequency),
        |tree, index| {
            tree.string("status", "okay")?;
            tree.string("compatible", "riscv")?;
            tree.string("riscv,isa", isa)?;
            tree.string("riscv,isa-base", ISA_BASE)?;
            tree.strings("riscv,isa-extensions", &extensions)?;
            tree.string("mmu-type", &options.mmu_type)?;
            tree.node("interrupt-controller", |tree| {
                // No interrupt-map refers to it: #address-cells 0, as dtc asks of
                // every interrupt provider.
                tree.u32("#address-cells", 0)?;
                tree.u32("#interrupt-cells", 1)?;
                tree.flag("interrupt-controller")?;
                tree.string("compatible", "riscv,cpu-intc")?;
                tree.phandle(intc_phandle(index)?)
            })
        },
    )
}

/// The phandle of vCPU `index`'s local interrupt controller.
fn intc_phandle(index: usize) -> AxVmResult<u32> {
    u32::try_from(index)
        .ok()
        .and_then(|index| index.checked_add(FIRST_INTC_PHANDLE))
        .ok_or(AxVmError::InvalidInput)
}

/// The PLIC: context N is hart N's S-mode external interrupt (the guest has no
/// M-mode), the convention the vPLIC implements.
fn plic_node(tree: &mut Tree, plic: Plic, harts: usize) -> AxVmResult {
    let contexts = (0..harts)
        .map(|index| Ok([intc_phandle(index)?, IRQ_S_EXT]))
        .collect::<AxVmResult<Vec<[u32; 2]>>>()?
        .concat();
    tree.node(&unit("plic", plic.reg.0), |tree| {
        tree.strings("compatible", &["sifive,plic-1.0.0", "riscv,plic0"])?;
        tree.u64s("reg", &[plic.reg.0, plic.reg.1])?;
        tree.cells("interrupts-extended", &contexts)?;
        tree.flag("interrupt-controller")?;
        tree.u32("#address-cells", 0)?;
        tree.u32("#interrupt-cells", 1)?;
        tree.u32("riscv,ndev", cell(plic.sources as u64, "PLIC sources")?)?;
        tree.phandle(PLIC_PHANDLE)
    })
}

/// An NS16550A console (every console line is one on riscv64); its PLIC source
/// when it raises one and there is a PLIC, else none, and Linux polls it.
fn ns16550(tree: &mut Tree, console: &EmulatedDeviceConfig, plic: Option<Plic>) -> AxVmResult {
    let (base, size) = window(console)?;
    let source = match plic {
        Some(plic) if console.irq_id != 0 => {
            if console.irq_id > plic.sources {
                log::warn!(
                    "console {}: interrupt {} is no PLIC source (1..={})",
                    console.name,
                    console.irq_id,
                    plic.sources
                );
                return Err(AxVmError::InvalidInput);
            }
            Some(cell(console.irq_id as u64, "console interrupt")?)
        }
        _ => None,
    };
    tree.node(&unit(SERIAL, base), |tree| {
        tree.string("compatible", "ns16550a")?;
        tree.u64s("reg", &[base, size])?;
        tree.u32("clock-frequency", UART_CLOCK_HZ)?;
        if let Some(source) = source {
            tree.u32("interrupt-parent", PLIC_PHANDLE)?;
            tree.u32("interrupts", source)?;
        }
        Ok(())
    })
}

/// The `riscv,isa` string of `extensions`: `rv64`, the single-letter ones, then
/// `_<name>` for each longer one, in the given order. `InvalidInput` (logged) when
/// a name is empty, does not start with a letter or has other than lower-case
/// letters and digits, or `i` is missing.
fn isa_string(extensions: &[String]) -> AxVmResult<String> {
    let valid = |name: &str| {
        name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    if let Some(bad) = extensions.iter().find(|name| !valid(name)) {
        log::warn!("device tree: {bad:?} is no riscv ISA extension name");
        return Err(AxVmError::InvalidInput);
    }
    if !extensions.iter().any(|name| name == "i") {
        log::warn!("device tree: the riscv ISA extensions {extensions:?} lack the base, i");
        return Err(AxVmError::InvalidInput);
    }
    let mut isa = String::from("rv64");
    for single in extensions.iter().filter(|name| name.len() == 1) {
        isa.push_str(single);
    }
    for multi in extensions.iter().filter(|name| name.len() > 1) {
        isa.push('_');
        isa.push_str(multi);
    }
    Ok(isa)
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|&name| String::from(name)).collect()
    }

    #[test]
    fn the_isa_string_puts_single_letters_first() {
        let extensions = names(&["i", "m", "zicsr", "a", "sstc", "c"]);
        assert_eq!(isa_string(&extensions).unwrap(), "rv64imac_zicsr_sstc");
        assert_eq!(isa_string(&names(&["i"])).unwrap(), "rv64i");
        for bad in [
            vec!["i", ""],
            vec!["i", "Zicsr"],
            vec!["i", "zi_csr"],
            vec!["i", "1x"],
            vec!["i", "a\0"],
            vec!["m", "a"],
            vec![],
        ] {
            assert_eq!(
                isa_string(&names(&bad)),
                Err(AxVmError::InvalidInput),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn intc_phandles_follow_the_plic_and_never_overflow() {
        assert_eq!(intc_phandle(0), Ok(2));
        assert_eq!(intc_phandle(7), Ok(9));
        assert_eq!(
            intc_phandle(u32::MAX as usize),
            Err(AxVmError::InvalidInput)
        );
        assert_eq!(intc_phandle(usize::MAX), Err(AxVmError::InvalidInput));
    }
}
