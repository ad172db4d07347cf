//! Interrupt lines between device models and interrupt-controller models.
//!
//! A device raises and lowers its line through an [`IrqSink`] it is given at
//! construction; it never knows who receives it. An interrupt controller model implements
//! [`VirtualInterruptController`]: it says which interrupts a vCPU should see and learns
//! back what the guest did with them. When an interrupt becomes deliverable to a vCPU the
//! controller calls its [`VcpuNotifier`], so the host can kick a vCPU running elsewhere
//! or wake one waiting for interrupts.

use alloc::vec::Vec;

use axvm_types::VirtualIrq;

/// Where a device's interrupt output goes.
pub trait IrqSink: Send + Sync {
    /// Drives interrupt `line` (the controller's number for it, e.g. a GIC INTID) to
    /// `asserted`. Level-triggered inputs follow the level; edge-triggered ones latch a
    /// rising edge. Lines the controller does not have are ignored (logged).
    fn set_level(&self, line: u32, asserted: bool);

    /// Signals one edge on `line`: asserts it and lowers it again.
    fn pulse(&self, line: u32) {
        self.set_level(line, true);
        self.set_level(line, false);
    }
}

/// Told when a vCPU has a new interrupt to take.
pub trait VcpuNotifier: Send + Sync {
    /// Interrupt state for `vcpu` changed so that it should re-evaluate what it injects:
    /// kick it if it runs on another physical CPU, wake it if it waits for interrupts.
    fn notify(&self, vcpu: usize);
}

/// An interrupt-controller model as the VM's run loop sees it.
pub trait VirtualInterruptController: Send + Sync {
    /// Takes back the states the backend reports for the interrupts it held for `vcpu`
    /// after an exit (see `AxArchVCpu::irq_list`).
    fn sync_from_vcpu(&self, vcpu: usize, loaded: &[VirtualIrq]);

    /// Fills `out` (cleared first) with at most `slots` interrupts `vcpu` should hold at
    /// its next entry, the active ones first, then the pending ones most urgent first.
    /// Returns whether more were pending than fit.
    fn irqs_for_vcpu(&self, vcpu: usize, slots: usize, out: &mut Vec<VirtualIrq>) -> bool;

    /// Whether `vcpu` has an interrupt it could take now (a waiting vCPU wakes for it).
    fn has_deliverable(&self, vcpu: usize) -> bool;

    /// Whether anything changed since `vcpu`'s last [`irqs_for_vcpu`](Self::irqs_for_vcpu)
    /// that could change its list. `false` lets the run loop keep the loaded list, and
    /// skip the model, when the guest did nothing with it either. The default, `true`,
    /// always recomputes.
    fn needs_relist(&self, vcpu: usize) -> bool {
        let _ = vcpu;
        true
    }
}
