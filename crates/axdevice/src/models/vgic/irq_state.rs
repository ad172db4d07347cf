//! The state of one interrupt, and how its input line and the software registers move it.
//!
//! Pending follows the GICv3 rules: an edge-triggered interrupt latches a rising edge of
//! its line; a level-sensitive one is pending while its line is high, or while software
//! made it pending (ISPENDR) until it is acknowledged or cleared (ICPENDR). A
//! hardware-linked interrupt (the virtual timer) is latched by every assertion the host
//! reports, because the host never sees its line fall: the guest's deactivation goes to
//! the physical interrupt, which signals again if the line is still high.

/// One interrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct IrqState {
    /// Group 1 (the only group this model delivers).
    pub(super) group1: bool,
    pub(super) enabled: bool,
    /// Edge-triggered (ICFGR 0b10) rather than level-sensitive.
    pub(super) edge: bool,
    /// Linked to the physical interrupt of the same INTID.
    pub(super) hw: bool,
    /// The input line's level as the device last drove it.
    pub(super) line: bool,
    /// The pending latch: a latched edge, or software pending of a level interrupt.
    pub(super) latch: bool,
    /// The latch was set again while the interrupt sat in a vCPU's list: if the guest
    /// acknowledged the listed instance, this one stays pending.
    pub(super) latch_again: bool,
    pub(super) active: bool,
    pub(super) priority: u8,
    /// The vCPU whose current interrupt list holds it.
    pub(super) listed_on: Option<u8>,
    /// The vCPU that acknowledged it, while active (SPIs; a private interrupt's is its
    /// own).
    pub(super) active_on: u8,
}

impl IrqState {
    /// The reset state: group 1 (as KVM's GICv3 does, since group 0 is not delivered),
    /// disabled, inactive, priority 0, level-sensitive unless `edge`.
    pub(super) const fn reset(edge: bool) -> Self {
        Self {
            group1: true,
            enabled: false,
            edge,
            hw: false,
            line: false,
            latch: false,
            latch_again: false,
            active: false,
            priority: 0,
            listed_on: None,
            active_on: 0,
        }
    }

    /// Whether the interrupt is pending.
    pub(super) const fn pending(&self) -> bool {
        self.latch || (self.line && !self.edge && !self.hw)
    }

    /// Whether a pending state would be forwarded: enabled, group 1, and group 1 enabled
    /// in the distributor (`grp1_enabled`).
    pub(super) const fn forwarded(&self, grp1_enabled: bool) -> bool {
        self.enabled && self.group1 && grp1_enabled
    }

    /// Whether the interrupt can be taken now: pending, forwarded and not active.
    pub(super) const fn deliverable(&self, grp1_enabled: bool) -> bool {
        self.pending() && !self.active && self.forwarded(grp1_enabled)
    }

    /// Whether there is anything to track: a scan may skip an interrupt without it.
    pub(super) const fn live(&self) -> bool {
        self.latch || self.line || self.active || self.listed_on.is_some()
    }

    /// Sets the pending latch, remembering whether it happened while listed.
    pub(super) fn set_latch(&mut self) {
        self.latch = true;
        if self.listed_on.is_some() {
            self.latch_again = true;
        }
    }

    /// Clears the pending latch (ICPENDR). A level-sensitive line that is still high
    /// keeps the interrupt pending.
    pub(super) fn clear_latch(&mut self) {
        self.latch = false;
        self.latch_again = false;
    }

    /// Drives the input line.
    pub(super) fn set_line(&mut self, asserted: bool) {
        let rising = asserted && !self.line;
        self.line = asserted;
        if (self.hw && asserted) || (self.edge && rising) {
            self.set_latch();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_pending_follows_the_line_or_the_software_latch() {
        let mut irq = IrqState::reset(false);
        assert!(!irq.pending());
        irq.set_line(true);
        assert!(irq.pending());
        irq.set_line(false);
        assert!(!irq.pending());
        irq.set_latch();
        assert!(irq.pending(), "ISPENDR on a low line");
        irq.clear_latch();
        assert!(!irq.pending());
        irq.set_line(true);
        irq.clear_latch();
        assert!(irq.pending(), "ICPENDR does not lower a high line");
    }

    #[test]
    fn edge_latches_rising_edges_only() {
        let mut irq = IrqState::reset(true);
        irq.set_line(true);
        irq.set_line(false);
        assert!(irq.pending(), "the latch outlives the pulse");
        irq.clear_latch();
        irq.set_line(false);
        assert!(!irq.pending());
        irq.set_line(true);
        irq.clear_latch();
        irq.set_line(true);
        assert!(!irq.pending(), "held high: no new edge");
    }

    #[test]
    fn hardware_linked_latches_every_assertion() {
        let mut irq = IrqState::reset(false);
        irq.hw = true;
        irq.set_line(true);
        assert!(irq.pending());
        irq.clear_latch();
        assert!(!irq.pending(), "the line alone does not make it pending");
        irq.set_line(true);
        assert!(
            irq.pending(),
            "asserted again: the physical interrupt fired again"
        );
        irq.set_line(false);
        assert!(irq.pending(), "lowering does not take it back");
    }

    #[test]
    fn delivery_needs_enable_group_and_distributor_enable() {
        let mut irq = IrqState::reset(true);
        irq.set_line(true);
        assert!(!irq.deliverable(true), "disabled");
        irq.enabled = true;
        assert!(irq.deliverable(true));
        assert!(!irq.deliverable(false), "group 1 disabled in GICD_CTLR");
        irq.group1 = false;
        assert!(!irq.deliverable(true), "group 0 is never delivered");
        irq.group1 = true;
        irq.active = true;
        assert!(!irq.deliverable(true), "active: taken once deactivated");
    }

    #[test]
    fn a_latch_set_while_listed_is_remembered() {
        let mut irq = IrqState::reset(true);
        irq.set_latch();
        assert!(!irq.latch_again);
        irq.listed_on = Some(0);
        irq.set_latch();
        assert!(irq.latch_again && irq.live());
        irq.clear_latch();
        assert!(!irq.latch_again);
    }
}
