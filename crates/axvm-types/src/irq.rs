//! Virtual interrupts as the interrupt-controller models hand them to a vCPU backend.
//!
//! The controller model (in `axdevice`) is the authority on every interrupt's state. Before
//! each entry it hands the backend the highest-priority interrupts a vCPU should see, as
//! [`VirtualIrq`]s; the backend loads them into its injection hardware (aarch64 list
//! registers, riscv `hvip`, x86 VM-entry interruption information) and, after the exit,
//! reports their new states back, so the model learns which ones the guest acknowledged
//! and which it finished.

/// The state of an interrupt loaded for a guest, as GICv3 list registers name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VirqState {
    /// Finished: the guest deactivated it (or it was never loaded).
    #[default]
    Inactive,
    /// Waiting for the guest to acknowledge it.
    Pending,
    /// Acknowledged and being handled by the guest.
    Active,
    /// Being handled, and asserted again meanwhile.
    PendingActive,
}

impl VirqState {
    /// Whether the guest still has something to acknowledge.
    #[must_use]
    pub const fn is_pending(self) -> bool {
        matches!(self, Self::Pending | Self::PendingActive)
    }

    /// Whether the guest is handling it.
    #[must_use]
    pub const fn is_active(self) -> bool {
        matches!(self, Self::Active | Self::PendingActive)
    }
}

/// One interrupt handed to a vCPU backend, or reported back by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VirtualIrq {
    /// The interrupt's number as the guest sees it (GIC INTID, PLIC source, x86 vector).
    pub intid: u32,
    /// Its priority; lower is more urgent (the GIC convention).
    pub priority: u8,
    /// Its state.
    pub state: VirqState,
    /// The physical interrupt it is linked to, if any: the guest's deactivation then
    /// deactivates that one in hardware (aarch64 LR.HW, used for the virtual timer).
    pub hw_intid: Option<u32>,
    /// Whether the backend should exit when the guest ends it (aarch64 LR.EOI), so a
    /// level-triggered line that is still asserted can be made pending again.
    pub notify_eoi: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_and_active_overlap_only_in_pending_active() {
        assert!(VirqState::PendingActive.is_pending() && VirqState::PendingActive.is_active());
        assert!(VirqState::Pending.is_pending() && !VirqState::Pending.is_active());
        assert!(!VirqState::Active.is_pending() && VirqState::Active.is_active());
        assert!(!VirqState::Inactive.is_pending() && !VirqState::Inactive.is_active());
        assert_eq!(VirtualIrq::default().state, VirqState::Inactive);
    }
}
