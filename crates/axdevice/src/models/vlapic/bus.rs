//! The APIC bus: how interrupt messages reach the VM's local APICs, and how the end of a
//! level-triggered interrupt gets back to the IOAPIC that sent it.

use super::icr::Icr;

/// Takes interrupt messages to the local APICs they address: the VM-wide local APIC
/// model implements it, an IOAPIC (or an MSI source) sends through it.
pub trait ApicBus: Send + Sync {
    /// Delivers `message`. A device's message (an IOAPIC redirection entry) has no
    /// shorthand, `assert` set and `sender` `None`; an IPI names the vCPU that sent it.
    fn deliver(&self, message: &Icr, sender: Option<usize>);
}

/// Told when a guest ends a level-triggered interrupt (SDM 11.8.5, the EOI broadcast):
/// an IOAPIC clears the remote IRR of the entries with that vector and, if their line is
/// still asserted, sends them again.
pub trait EoiListener: Send + Sync {
    /// The guest wrote EOI for level-triggered `vector`.
    fn end_of_interrupt(&self, vector: u8);
}
