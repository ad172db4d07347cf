//! The aarch64 guest platform (a QEMU-virt-like machine, `linux,dummy-virt`): CPUs
//! started through PSCI over `hvc`, a GICv3, the architected timer and PL011 UARTs.
//!
//! The tree holds only what a Linux guest needs to boot on what axvm emulates (see
//! the crate docs); everything comes from the config.

use alloc::vec::Vec;

use axvm_types::{AxVmError, AxVmResult, EmulatedDeviceConfig, EmulatedDeviceType};

use super::{
    Initrd,
    common::{chosen, consoles, cpus, memory, window},
    tree::{Tree, cell, path, unit},
};
use crate::AxVMConfig;

/// The GIC's phandle: the root's `interrupt-parent`.
const GIC_PHANDLE: u32 = 1;
/// The PL011s' clock's phandle.
const APB_PCLK_PHANDLE: u32 = 2;
/// One redistributor (RD + SGI frame) per vCPU.
const GICR_STRIDE: u64 = 0x2_0000;
/// The first shared peripheral interrupt's INTID.
const FIRST_SPI: usize = 32;
/// The last SPI INTID (1020..1023 are special).
const LAST_SPI: usize = 1019;
/// GIC interrupt specifier types.
const GIC_SPI: u32 = 0;
const GIC_PPI: u32 = 1;
/// IRQ_TYPE_LEVEL_HIGH. The timer PPIs carry no CPU mask: in the GICv3 binding the
/// flags cell has only the trigger type (the mask bits are GICv2's), as QEMU gives
/// its GICv3 guests.
const LEVEL_HIGH: u32 = 4;
/// The architected timer's PPIs, in the binding's order: secure physical,
/// non-secure physical, virtual, hypervisor physical.
const TIMER_PPIS: [u32; 4] = [13, 14, 11, 10];
/// The PL011 nodes' name.
const PL011: &str = "pl011";
/// The PL011's reference clock.
const APB_PCLK_HZ: u32 = 24_000_000;
/// The cpu nodes' compatible: the generic ARMv8 one, because the vCPUs run on
/// whatever core the host has (axvm does not know its model) and arm64 Linux does
/// not match on it.
const CPU_COMPATIBLE: &str = "arm,armv8";
/// `VMPIDR_EL2` gives each vCPU its id in Aff2..Aff0 (axvcpu's `default_mpidr`).
const MPIDR_AFFINITY_MASK: u64 = 0xff_ffff;

/// The GICv3 the config emulates: its distributor window and where its
/// redistributors start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Gic {
    gicd: (u64, u64),
    gicr: (u64, u64),
}

impl Gic {
    /// From the config's first interrupt-controller device: `base_gpa`/`length` is
    /// the GICD, `cfg_list[0]` the GICR base, one 128 KiB redistributor per vCPU.
    fn from_config(config: &AxVMConfig) -> AxVmResult<Option<Self>> {
        let Some(device) = config
            .emu_devices()
            .iter()
            .find(|device| device.emu_type == EmulatedDeviceType::InterruptController)
        else {
            return Ok(None);
        };
        let Some(&gicr_base) = device.cfg_list.first() else {
            log::warn!(
                "VM {}: interrupt controller {}: cfg_list[0] must be the GICR base",
                config.id(),
                device.name
            );
            return Err(AxVmError::InvalidInput);
        };
        let gicr_size = (config.cpu_num() as u64)
            .checked_mul(GICR_STRIDE)
            .ok_or(AxVmError::InvalidInput)?;
        let gicd = window(device)?;
        let gicr_base = gicr_base as u64;
        gicr_base
            .checked_add(gicr_size)
            .ok_or(AxVmError::InvalidInput)?;
        Ok(Some(Self {
            gicd,
            gicr: (gicr_base, gicr_size),
        }))
    }
}

/// The aarch64 device tree of `config`.
pub(super) fn generate(config: &AxVMConfig, initrd: Option<Initrd>) -> AxVmResult<Vec<u8>> {
    let gic = Gic::from_config(config)?;
    let consoles = consoles(config);
    let stdout = consoles
        .first()
        .map(|console| path("", PL011, console.base_gpa as u64));
    let mut tree = Tree::new()?;
    tree.node("", |tree| {
        tree.string("compatible", "linux,dummy-virt")?;
        tree.u32("#address-cells", 2)?;
        tree.u32("#size-cells", 2)?;
        if gic.is_some() {
            tree.u32("interrupt-parent", GIC_PHANDLE)?;
        }
        memory(tree, config.memory_regions())?;
        cpu_nodes(tree, config.cpu_num())?;
        psci(tree)?;
        if let Some(gic) = gic {
            gic_node(tree, gic)?;
        }
        timer(tree, gic.is_some())?;
        if !consoles.is_empty() {
            apb_pclk(tree)?;
        }
        for console in &consoles {
            pl011(tree, console, gic.is_some())?;
        }
        chosen(tree, config, stdout.as_deref(), initrd)
    })?;
    tree.finish()
}

/// `/cpus`: one `cpu@<id>` per vCPU, `reg` its MPIDR affinity, started by PSCI.
fn cpu_nodes(tree: &mut Tree, count: usize) -> AxVmResult {
    let affinities = (0..count)
        .map(|id| cell(id as u64 & MPIDR_AFFINITY_MASK, "MPIDR affinity"))
        .collect::<AxVmResult<Vec<u32>>>()?;
    cpus(
        tree,
        &affinities,
        |_| Ok(()),
        |tree, _| {
            tree.string("compatible", CPU_COMPATIBLE)?;
            tree.string("enable-method", "psci")
        },
    )
}

/// `/psci`: PSCI 1.0 over `hvc` (the vCPU backend answers it).
fn psci(tree: &mut Tree) -> AxVmResult {
    tree.node("psci", |tree| {
        tree.strings("compatible", &["arm,psci-1.0", "arm,psci-0.2"])?;
        tree.string("method", "hvc")
    })
}

/// The GICv3: distributor and one redistributor region, no ITS (no LPIs).
fn gic_node(tree: &mut Tree, gic: Gic) -> AxVmResult {
    tree.node(&unit("interrupt-controller", gic.gicd.0), |tree| {
        tree.string("compatible", "arm,gic-v3")?;
        tree.u32("#interrupt-cells", 3)?;
        tree.flag("interrupt-controller")?;
        tree.u32("#redistributor-regions", 1)?;
        tree.u64s("reg", &[gic.gicd.0, gic.gicd.1, gic.gicr.0, gic.gicr.1])?;
        tree.phandle(GIC_PHANDLE)
    })
}

/// `/timer`: the architected timer, with its PPIs when there is a GIC to route
/// them; its counter never stops (`always-on`).
fn timer(tree: &mut Tree, with_gic: bool) -> AxVmResult {
    tree.node("timer", |tree| {
        tree.string("compatible", "arm,armv8-timer")?;
        tree.flag("always-on")?;
        if with_gic {
            let cells: Vec<u32> = TIMER_PPIS
                .iter()
                .flat_map(|&ppi| [GIC_PPI, ppi, LEVEL_HIGH])
                .collect();
            tree.cells("interrupts", &cells)?;
        }
        Ok(())
    })
}

/// `/apb-pclk`: the fixed clock the PL011s name (the AMBA bus probes a primecell
/// only with its `apb_pclk`).
fn apb_pclk(tree: &mut Tree) -> AxVmResult {
    tree.node("apb-pclk", |tree| {
        tree.string("compatible", "fixed-clock")?;
        tree.u32("#clock-cells", 0)?;
        tree.u32("clock-frequency", APB_PCLK_HZ)?;
        tree.phandle(APB_PCLK_PHANDLE)
    })
}

/// A PL011 console; its SPI when it raises one and a GIC receives it.
fn pl011(tree: &mut Tree, console: &EmulatedDeviceConfig, with_gic: bool) -> AxVmResult {
    let (base, size) = window(console)?;
    let spi = if with_gic && console.irq_id >= FIRST_SPI {
        if console.irq_id > LAST_SPI {
            log::warn!(
                "console {}: interrupt {} is no SPI (32..=1019)",
                console.name,
                console.irq_id
            );
            return Err(AxVmError::InvalidInput);
        }
        Some(cell(
            console.irq_id.wrapping_sub(FIRST_SPI) as u64,
            "console SPI",
        )?)
    } else {
        None
    };
    tree.node(&unit(PL011, base), |tree| {
        tree.strings("compatible", &["arm,pl011", "arm,primecell"])?;
        tree.u64s("reg", &[base, size])?;
        if let Some(spi) = spi {
            tree.cells("interrupts", &[GIC_SPI, spi, LEVEL_HIGH])?;
        }
        tree.cells("clocks", &[APB_PCLK_PHANDLE, APB_PCLK_PHANDLE])?;
        tree.strings("clock-names", &["uartclk", "apb_pclk"])
    })
}
