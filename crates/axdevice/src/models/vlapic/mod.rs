//! The x86 local APIC: [`LocalApic`], one CPU's registers and interrupt state (the
//! VM-wide model that routes IPIs and IOAPIC messages between them, and the backend's
//! injection, build on it).

mod apic;
mod regs;
#[cfg(test)]
mod tests;
mod vectors;

pub use apic::{ApicWrite, LocalApic};
