//! The x86 local APIC: [`LocalApic`], one CPU's registers and interrupt state, and
//! [`Icr`] with [`targets`], whom an interrupt command addresses (the VM-wide model that
//! routes IPIs and IOAPIC messages between the APICs, and the backend's injection, build
//! on them).

mod apic;
mod bus;
mod icr;
mod regs;
#[cfg(test)]
mod tests;
mod vectors;

pub use apic::{ApicWrite, LocalApic};
pub use bus::{ApicBus, EoiListener};
pub use icr::{ApicAddress, DeliveryMode, Icr, Shorthand, targets};
