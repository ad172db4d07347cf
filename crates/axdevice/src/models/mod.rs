//! The device models this crate ships.

mod dummy;
mod fifo;
mod irq_output;
mod ns16550;
mod pit8254;
mod pl011;
mod relist;
mod vcpu_set;
mod vgic;
mod vlapic;
mod vplic;

pub use dummy::DummyDevice;
pub use ns16550::Ns16550;
pub use pit8254::{PIT_HZ, Pit};
pub use pl011::Pl011;
pub use vgic::{
    GicDistributor, GicRedistributors, GicSgiRegister, SgiRegister, SgiTargets, VGic, VGicConfig,
    aarch64_sysreg_addr, spis_for_lines,
};
pub use vlapic::{
    ApicAddress, ApicBus, ApicWrite, DeliveryMode, EoiListener, Icr, LocalApic, Shorthand,
    targets as apic_targets,
};
pub use vplic::{PlicContexts, VPlic, VPlicConfig};
