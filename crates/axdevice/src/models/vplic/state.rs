//! The whole PLIC's state: the sources and the contexts, and the one path every change
//! goes through, which keeps each context's best deliverable source current and decides
//! whom to tell.

use alloc::{vec, vec::Vec};

use super::{
    config::VPlicConfig,
    gateway::{Sources, bit_mask, locate},
    regs::{PRIORITY_MAX, PlicReg},
};
use crate::models::vcpu_set::VcpuSet;

/// The vCPUs a change concerns, collected under the lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Changes {
    /// Whose best deliverable source changed: their lists are stale.
    pub(super) stale: VcpuSet,
    /// Who had no deliverable source and has one now: to be notified.
    pub(super) gained: VcpuSet,
}

/// The best deliverable source of a context: its number and priority.
pub(super) type Best = Option<(u32, u8)>;

/// One context: a hart's M- or S-mode view of the sources.
#[derive(Debug, Clone)]
struct Context {
    /// One bit per source, as the sources' bit arrays.
    enable: Vec<u32>,
    threshold: u8,
    /// The vCPU the context interrupts (none for an M-mode context).
    vcpu: Option<usize>,
    /// What a claim would return now; kept current by every change.
    best: Best,
}

/// Every source and context of the PLIC.
#[derive(Debug, Clone)]
pub(super) struct PlicState {
    sources: Sources,
    contexts: Vec<Context>,
}

impl PlicState {
    /// The reset state of a PLIC shaped by `config` (already validated): priorities,
    /// enables and thresholds 0, lines low, nothing claimed.
    pub(super) fn new(config: &VPlicConfig) -> Self {
        let sources = Sources::new(config.sources);
        let contexts = (0..config.context_count())
            .map(|context| Context {
                enable: vec![0; sources.words()],
                threshold: 0,
                vcpu: config.vcpu_of(context),
                best: None,
            })
            .collect();
        Self { sources, contexts }
    }

    /// What a claim by `context` would return now.
    pub(super) fn best(&self, context: usize) -> Best {
        self.contexts.get(context).and_then(|ctx| ctx.best)
    }

    /// The highest-priority pending source `context` enables with a priority above its
    /// threshold, the lowest-numbered on a tie.
    fn compute(&self, context: usize) -> Best {
        let ctx = self.contexts.get(context)?;
        let mut best = None;
        let mut floor = ctx.threshold;
        for (word, &enabled) in ctx.enable.iter().enumerate() {
            let mut bits = self.sources.pending(word) & enabled;
            while bits != 0 {
                let bit = bits.trailing_zeros();
                bits &= bits.wrapping_sub(1);
                let Some(id) = u32::try_from(word)
                    .ok()
                    .and_then(|word| word.checked_mul(32))
                    .and_then(|base| base.checked_add(bit))
                else {
                    continue;
                };
                let priority = self.sources.priority(id);
                // Ascending ids and a strict comparison: the lowest id wins a tie.
                if priority > floor {
                    best = Some((id, priority));
                    floor = priority;
                }
            }
        }
        best
    }

    /// Recomputes `context`'s best source and notes its vCPU if it changed.
    fn refresh(&mut self, context: usize, changes: &mut Changes) {
        let best = self.compute(context);
        let Some(ctx) = self.contexts.get_mut(context) else {
            return;
        };
        if ctx.best == best {
            return;
        }
        let gained = ctx.best.is_none();
        ctx.best = best;
        if let Some(vcpu) = ctx.vcpu {
            changes.stale.add(vcpu);
            if gained {
                changes.gained.add(vcpu);
            }
        }
    }

    /// Refreshes every context that enables source `id`: only they can see it.
    fn refresh_enabling(&mut self, id: u32, changes: &mut Changes) {
        for context in 0..self.contexts.len() {
            if self.enables(context, id) {
                self.refresh(context, changes);
            }
        }
    }

    /// Whether `context` enables source `id`.
    fn enables(&self, context: usize, id: u32) -> bool {
        let (word, bit) = locate(id);
        self.contexts
            .get(context)
            .and_then(|ctx| ctx.enable.get(word))
            .is_some_and(|bits| bits & bit_mask(bit) != 0)
    }

    /// Drives the line of source `id` (ignored if it does not exist).
    pub(super) fn set_level(&mut self, id: u32, asserted: bool, changes: &mut Changes) {
        if self.sources.set_level(id, asserted) {
            self.refresh_enabling(id, changes);
        }
    }

    /// Latches an edge on source `id` (ignored if it does not exist).
    pub(super) fn latch_edge(&mut self, id: u32, changes: &mut Changes) {
        if self.sources.latch_edge(id) {
            self.refresh_enabling(id, changes);
        }
    }

    /// Whether source `id` exists.
    pub(super) fn has_source(&self, id: u32) -> bool {
        self.sources.exists(id)
    }

    /// A claim by `context`: its best source, now claimed, or 0 if it has none.
    fn claim(&mut self, context: usize, changes: &mut Changes) -> u32 {
        let Some((id, _)) = self.best(context) else {
            return 0;
        };
        if !self.sources.claim(id) {
            return 0;
        }
        self.refresh_enabling(id, changes);
        id
    }

    /// A completion of source `id` by `context`; ignored unless the source is claimed
    /// and enabled for the context (PLIC specification, "Interrupt Completion").
    fn complete(&mut self, context: usize, id: u32, changes: &mut Changes) {
        if !self.enables(context, id) {
            log::debug!("vplic: context {context} completes source {id} it does not enable");
            return;
        }
        if self.sources.complete(id) {
            self.refresh_enabling(id, changes);
        } else {
            log::debug!("vplic: context {context} completes source {id}, which is not claimed");
        }
    }

    /// Reads register `reg`; a claim read changes the state.
    pub(super) fn read(&mut self, reg: PlicReg, changes: &mut Changes) -> u32 {
        match reg {
            PlicReg::Priority(id) => u32::from(self.sources.priority(id)),
            PlicReg::Pending(word) => self.sources.pending(word),
            PlicReg::Enable { context, word } => self
                .contexts
                .get(context)
                .and_then(|ctx| ctx.enable.get(word))
                .copied()
                .unwrap_or(0),
            PlicReg::Threshold(context) => self
                .contexts
                .get(context)
                .map_or(0, |ctx| u32::from(ctx.threshold)),
            PlicReg::Claim(context) => self.claim(context, changes),
            PlicReg::Reserved => 0,
        }
    }

    /// Writes `value` to register `reg`; read-only and reserved ones ignore it.
    pub(super) fn write(&mut self, reg: PlicReg, value: u32, changes: &mut Changes) {
        match reg {
            PlicReg::Priority(id) => {
                if self.sources.set_priority(id, value) {
                    self.refresh_enabling(id, changes);
                }
            }
            PlicReg::Enable { context, word } => {
                let value = value & self.sources.valid(word);
                let Some(slot) = self
                    .contexts
                    .get_mut(context)
                    .and_then(|ctx| ctx.enable.get_mut(word))
                else {
                    return;
                };
                if *slot != value {
                    *slot = value;
                    self.refresh(context, changes);
                }
            }
            PlicReg::Threshold(context) => {
                let value = u8::try_from(value & PRIORITY_MAX).unwrap_or(0);
                let Some(ctx) = self.contexts.get_mut(context) else {
                    return;
                };
                if ctx.threshold != value {
                    ctx.threshold = value;
                    self.refresh(context, changes);
                }
            }
            PlicReg::Claim(context) => self.complete(context, value, changes),
            PlicReg::Pending(word) => {
                log::debug!("vplic: write {value:#x} to read-only pending word {word} ignored");
            }
            PlicReg::Reserved => {}
        }
    }

    /// Whether source `id` is claimed and not completed.
    #[cfg(test)]
    pub(super) fn is_claimed(&self, id: u32) -> bool {
        self.sources.is_claimed(id)
    }

    /// Whether every context's kept best source is the one a fresh scan finds.
    #[cfg(test)]
    pub(super) fn bests_are_current(&self) -> bool {
        (0..self.contexts.len()).all(|context| self.best(context) == self.compute(context))
    }

    /// The highest source number.
    pub(super) const fn source_count(&self) -> u32 {
        self.sources.count()
    }
}

#[cfg(test)]
mod tests {
    use axvm_types::GuestPhysAddr;

    use super::*;
    use crate::models::vplic::config::PlicContexts;

    fn state(vcpus: usize, contexts: PlicContexts) -> PlicState {
        PlicState::new(
            &VPlicConfig::new(GuestPhysAddr::from(0x0c00_0000), vcpus, 63).with_contexts(contexts),
        )
    }

    fn enable(plic: &mut PlicState, context: usize, ids: &[u32], changes: &mut Changes) {
        let mut words = [0u32; 2];
        for &id in ids {
            let (word, bit) = locate(id);
            words[word] |= bit_mask(bit);
        }
        for (word, bits) in words.into_iter().enumerate() {
            plic.write(PlicReg::Enable { context, word }, bits, changes);
        }
    }

    #[test]
    fn changes_note_the_vcpus_whose_best_changed() {
        let mut plic = state(2, PlicContexts::Supervisor);
        let mut changes = Changes::default();
        plic.write(PlicReg::Priority(40), 1, &mut changes);
        plic.set_level(40, true, &mut changes);
        assert_eq!(changes, Changes::default(), "enabled nowhere");
        enable(&mut plic, 1, &[40], &mut changes);
        assert_eq!((changes.stale.0, changes.gained.0), (0b10, 0b10));
        let mut changes = Changes::default();
        plic.write(PlicReg::Priority(40), 3, &mut changes);
        assert_eq!(
            (changes.stale.0, changes.gained.0),
            (0b10, 0),
            "priority changed"
        );
        let mut changes = Changes::default();
        plic.set_level(40, true, &mut changes);
        plic.write(PlicReg::Threshold(0), 7, &mut changes);
        assert_eq!(changes, Changes::default(), "nothing anyone sees changed");
        assert_eq!(plic.read(PlicReg::Claim(1), &mut changes), 40);
        assert_eq!((changes.stale.0, changes.gained.0), (0b10, 0));
    }

    #[test]
    fn machine_contexts_claim_but_interrupt_nobody() {
        let mut plic = state(1, PlicContexts::MachineAndSupervisor);
        let mut changes = Changes::default();
        plic.write(PlicReg::Priority(5), 1, &mut changes);
        enable(&mut plic, 0, &[5], &mut changes);
        plic.set_level(5, true, &mut changes);
        assert_eq!(changes, Changes::default(), "context 0 is hart 0's M-mode");
        assert_eq!(plic.best(0), Some((5, 1)));
        enable(&mut plic, 1, &[5], &mut changes);
        assert_eq!(changes.gained.0, 1, "context 1 is hart 0's S-mode");
        assert_eq!(plic.read(PlicReg::Claim(0), &mut changes), 5);
        assert_eq!(plic.best(1), None, "claimed through the other context");
        assert!(plic.bests_are_current());
    }
}
