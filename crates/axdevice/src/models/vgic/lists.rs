//! The interrupt lists handed to a vCPU before each entry, and taking back what the
//! guest did with them.
//!
//! The model stays the authority: a listed interrupt keeps its pending state here, and
//! the list is rebuilt whole before every entry. What the guest did shows in the states
//! the backend reports ([`GicState::sync`]):
//!
//! - a listed pending interrupt reported active or inactive was acknowledged: its pending
//!   latch is consumed (an edge, or software pending), unless it was set again while
//!   listed (an edge that may have come after the acknowledge is kept, never lost);
//! - a reported active state that differs from the given one is the guest's acknowledge
//!   or deactivation;
//! - a level-sensitive interrupt whose line is still high is pending again once inactive
//!   (listed active only, with EOI notification, so the backend exits at the
//!   deactivation and the next list re-asserts it).

use alloc::vec::Vec;

use axvm_types::{VirqState, VirtualIrq};

use super::{
    irq_state::IrqState,
    regs::PRIVATE_COUNT,
    state::{GicState, Handed, Notify},
};

impl GicState {
    /// What interrupt `intid` (of bank `vcpu`) should be in `vcpu`'s list, if anything.
    fn entry_for(&self, vcpu: usize, intid: u32) -> Option<VirtualIrq> {
        let irq = self.irq(vcpu, intid)?;
        if irq
            .listed_on
            .is_some_and(|holder| usize::from(holder) != vcpu)
        {
            return None;
        }
        let state = if irq.active {
            let owner = if intid < PRIVATE_COUNT {
                vcpu
            } else {
                usize::from(irq.active_on)
            };
            if owner != vcpu {
                return None;
            }
            // Only an edge can be pending and active at once in a list register: a level
            // line is re-sampled at the deactivation instead, and a hardware-linked one
            // signals again through the physical interrupt.
            if irq.edge && !irq.hw && irq.pending() && irq.forwarded(self.grp1_enabled) {
                VirqState::PendingActive
            } else {
                VirqState::Active
            }
        } else if irq.deliverable(self.grp1_enabled) && self.target(vcpu, intid) == Some(vcpu) {
            VirqState::Pending
        } else {
            return None;
        };
        Some(VirtualIrq {
            intid,
            priority: irq.priority,
            state,
            hw_intid: irq.hw.then_some(intid),
            notify_eoi: !irq.edge && !irq.hw,
        })
    }

    /// Fills `out` with at most `slots` interrupts for `vcpu`: the active ones, then the
    /// deliverable pending ones, each group by priority then INTID. Returns whether more
    /// were due than fit. A list that was never synced back is first taken back
    /// unchanged, as if the vCPU had not run (`notify` learns of other vCPUs that
    /// should re-evaluate then, see [`sync`](Self::sync)).
    pub(super) fn list(
        &mut self,
        vcpu: usize,
        slots: usize,
        out: &mut Vec<VirtualIrq>,
        notify: &mut Notify,
    ) -> bool {
        out.clear();
        if vcpu >= self.vcpu_num {
            return false;
        }
        if self
            .cpus
            .get(vcpu)
            .is_some_and(|cpu| !cpu.handed.is_empty())
        {
            self.sync(vcpu, &[], notify);
        }
        if let Some(word) = self.cpus.get(vcpu).map(|cpu| cpu.live) {
            let still_live = self.scan_word(vcpu, 0, word, out);
            if let Some(cpu) = self.cpus.get_mut(vcpu) {
                cpu.live = still_live;
            }
        }
        self.scan_spis(vcpu, out);
        if out.len() > 1 {
            out.sort_unstable_by_key(|irq| (!irq.state.is_active(), irq.priority, irq.intid));
        }
        let more = out.len() > slots;
        out.truncate(slots);
        let holder = u8::try_from(vcpu).ok();
        for irq in out.iter() {
            // Only the holder changes, so no `update` is needed: the scan kept the
            // interrupt's live bit (it is live), and the only vCPU an update would note
            // (its target, or its holder or owner: `entry_for` lists nothing another
            // vCPU holds or owns) is this one, whose list this is.
            if let Some(state) = self.slot_mut(vcpu, irq.intid) {
                state.listed_on = holder;
            }
        }
        if let Some(cpu) = self.cpus.get_mut(vcpu) {
            // Empty: taken back above, or by the sync after the last exit.
            cpu.handed.clear();
            cpu.handed.extend(out.iter().map(|irq| Handed {
                intid: irq.intid,
                given: irq.state,
            }));
        }
        more
    }

    /// Adds the SPIs due on `vcpu` to `out`, visiting only words of the live bitmap
    /// with a bit set and clearing the bits of SPIs found idle.
    fn scan_spis(&mut self, vcpu: usize, out: &mut Vec<VirtualIrq>) {
        for word_index in 0..self.live.len() {
            let (Some(&word), Some(base)) = (
                self.live.get(word_index),
                u32::try_from(word_index)
                    .ok()
                    .and_then(|w| w.checked_mul(32))
                    .and_then(|first| first.checked_add(PRIVATE_COUNT)),
            ) else {
                continue;
            };
            if word == 0 {
                continue;
            }
            let still_live = self.scan_word(vcpu, base, word, out);
            if let Some(word) = self.live.get_mut(word_index) {
                *word = still_live;
            }
        }
    }

    /// Adds what `vcpu` is due of the interrupts `base + n` for each bit `n` set in
    /// `word` (a word of a live bitmap) to `out`; returns `word` without the bits of
    /// the interrupts found idle.
    #[inline(always)]
    fn scan_word(&self, vcpu: usize, base: u32, word: u32, out: &mut Vec<VirtualIrq>) -> u32 {
        let mut bits = word;
        let mut still_live = word;
        while bits != 0 {
            let bit = bits.trailing_zeros();
            bits &= bits.wrapping_sub(1);
            let Some(intid) = base.checked_add(bit) else {
                continue;
            };
            if !self.irq(vcpu, intid).is_some_and(|irq| irq.live()) {
                still_live &= !(1 << bit);
                continue;
            }
            out.extend(self.entry_for(vcpu, intid));
        }
        still_live
    }

    /// Takes back the states `loaded` reports for `vcpu`'s last list. An interrupt of
    /// the list that `loaded` does not mention kept its given state; one that `loaded`
    /// mentions but the list did not hold is ignored. `notify` learns of the vCPUs that
    /// should re-evaluate: one whose SPI this vCPU's list held while it was re-routed.
    pub(super) fn sync(&mut self, vcpu: usize, loaded: &[VirtualIrq], notify: &mut Notify) {
        let Some(mut handed) = self
            .cpus
            .get_mut(vcpu)
            .map(|cpu| core::mem::take(&mut cpu.handed))
        else {
            return;
        };
        for entry in &handed {
            let reported = loaded
                .iter()
                .find(|irq| irq.intid == entry.intid)
                .map_or(entry.given, |irq| irq.state);
            self.fold(vcpu, entry.intid, entry.given, reported, notify);
        }
        for irq in loaded {
            if !handed.iter().any(|entry| entry.intid == irq.intid) {
                log::debug!(
                    "vgic: vCPU {vcpu} reported INTID {} it was not given",
                    irq.intid
                );
            }
        }
        handed.clear();
        if let Some(cpu) = self.cpus.get_mut(vcpu) {
            cpu.handed = handed;
        }
    }

    fn fold(
        &mut self,
        vcpu: usize,
        intid: u32,
        given: VirqState,
        reported: VirqState,
        notify: &mut Notify,
    ) {
        let acknowledged = given.is_pending() && !reported.is_pending();
        let active_changed = given.is_active() != reported.is_active();
        let owner = u8::try_from(vcpu).unwrap_or(0);
        self.update(vcpu, intid, notify, |irq: &mut IrqState| {
            if acknowledged {
                irq.latch = irq.latch_again;
            }
            if active_changed {
                irq.active = reported.is_active();
                if irq.active {
                    irq.active_on = owner;
                }
            }
            irq.listed_on = None;
            irq.latch_again = false;
        });
    }

    /// Whether `vcpu` has an interrupt it could take now: pending, forwarded, not
    /// active, delivered to it and not held by another vCPU's list.
    pub(super) fn has_deliverable(&self, vcpu: usize) -> bool {
        if vcpu >= self.vcpu_num {
            return false;
        }
        let free = |intid: u32| {
            self.irq(vcpu, intid).is_some_and(|irq| {
                irq.deliverable(self.grp1_enabled)
                    && irq
                        .listed_on
                        .is_none_or(|holder| usize::from(holder) == vcpu)
            }) && self.target(vcpu, intid) == Some(vcpu)
        };
        let private = self.cpus.get(vcpu).map_or(0, |cpu| cpu.live);
        set_bits(0, private).any(free) || self.live_spis().any(free)
    }

    /// The SPIs whose live bit is set, in INTID order.
    fn live_spis(&self) -> impl Iterator<Item = u32> + '_ {
        (0u32..)
            .zip(self.live.iter())
            .flat_map(|(word_index, &word)| {
                set_bits(
                    word_index.saturating_mul(32).saturating_add(PRIVATE_COUNT),
                    word,
                )
            })
    }
}

/// `base + n` for each bit `n` set in `word`, lowest first.
fn set_bits(base: u32, word: u32) -> impl Iterator<Item = u32> {
    (0..32u32)
        .filter(move |bit| word & (1 << bit) != 0)
        .map(move |bit| base.saturating_add(bit))
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use axvm_types::GuestPhysAddr;
    use proptest::prelude::*;

    use super::*;
    use crate::models::vgic::config::VGicConfig;

    proptest! {
        /// The list, which visits only interrupts whose live bit is set, holds what a
        /// visit of every interrupt finds.
        #[test]
        fn the_live_bitmaps_miss_nothing(
            changes in proptest::collection::vec((0u32..96, any::<[bool; 4]>(), any::<u8>()), 0..24),
            stale in any::<(u32, u32)>(),
            slots in 1usize..6,
        ) {
            let config = VGicConfig::new(GuestPhysAddr::from(0x0800_0000), GuestPhysAddr::from(0x080a_0000), 1, 64);
            let mut gic = GicState::new(&config);
            gic.grp1_enabled = true;
            gic.cpus[0].live = stale.0;
            gic.live[0] = stale.1;
            let mut notify = Notify::default();
            for (intid, [enabled, latch, line, active], priority) in changes {
                gic.update(0, intid, &mut notify, |irq| {
                    irq.enabled = enabled;
                    irq.latch = latch;
                    irq.line = line;
                    irq.active = active;
                    irq.priority = priority;
                });
            }
            let mut everything: Vec<VirtualIrq> = (0..gic.intids).filter_map(|intid| gic.entry_for(0, intid)).collect();
            everything.sort_unstable_by_key(|irq| (!irq.state.is_active(), irq.priority, irq.intid));
            everything.truncate(slots);
            let mut listed = Vec::new();
            gic.list(0, slots, &mut listed, &mut notify);
            prop_assert_eq!(listed, everything);
        }
    }
}
