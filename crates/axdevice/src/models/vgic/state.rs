//! The whole GIC's interrupt state: the shared SPIs, each vCPU's private interrupts and
//! redistributor, and the one path every change goes through, which decides whom to tell.

use alloc::{vec, vec::Vec};

use axvm_types::VirqState;

use super::{
    config::VGicConfig,
    irq_state::IrqState,
    regs::{IROUTER_IRM, IROUTER_UPPER_AFF, IROUTER_WRITABLE, PRIVATE_COUNT, SGI_COUNT},
};

/// The vCPUs to notify once the lock is dropped.
pub(super) use crate::models::vcpu_set::VcpuSet as Notify;

/// An interrupt handed to a vCPU by the last list, with the state it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Handed {
    pub(super) intid: u32,
    pub(super) given: VirqState,
}

/// One vCPU's part of the GIC: its SGIs and PPIs, its redistributor's WAKER, and what
/// its last interrupt list held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CpuState {
    pub(super) private: [IrqState; PRIVATE_COUNT as usize],
    /// One bit per private interrupt, kept like [`GicState::live`] for the SPIs: a
    /// list visits only these.
    pub(super) live: u32,
    /// GICR_WAKER.ProcessorSleep (set at reset).
    pub(super) asleep: bool,
    pub(super) handed: Vec<Handed>,
}

impl CpuState {
    fn new() -> Self {
        let mut private = [IrqState::reset(false); PRIVATE_COUNT as usize];
        for sgi in private.iter_mut().take(SGI_COUNT as usize) {
            sgi.edge = true;
        }
        Self {
            private,
            live: 0,
            asleep: true,
            // As many as a CPU interface has list registers: listing never allocates.
            handed: Vec::with_capacity(16),
        }
    }
}

/// Every interrupt of the GIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct GicState {
    pub(super) vcpu_num: usize,
    /// Implemented INTIDs: 0 to `intids - 1`.
    pub(super) intids: u32,
    /// GICD_CTLR.EnableGrp1.
    pub(super) grp1_enabled: bool,
    /// INTID 32 + i.
    pub(super) spis: Vec<IrqState>,
    /// GICD_IROUTER of INTID 32 + i.
    pub(super) routes: Vec<u64>,
    /// One bit per SPI, set whenever the SPI may be live (see [`IrqState::live`]) and
    /// cleared lazily by the list scan, so a scan skips idle words.
    pub(super) live: Vec<u32>,
    pub(super) cpus: Vec<CpuState>,
}

impl GicState {
    /// The reset state of a GIC shaped by `config` (already validated).
    pub(super) fn new(config: &VGicConfig) -> Self {
        let intids = config.intid_count();
        let spis = usize::try_from(intids.saturating_sub(PRIVATE_COUNT)).unwrap_or(0);
        Self {
            vcpu_num: config.vcpu_num,
            intids,
            grp1_enabled: false,
            spis: vec![IrqState::reset(false); spis],
            routes: vec![0; spis],
            live: vec![0; spis.div_ceil(32)],
            cpus: (0..config.vcpu_num).map(|_| CpuState::new()).collect(),
        }
    }

    fn spi_index(&self, intid: u32) -> Option<usize> {
        if intid < self.intids {
            usize::try_from(intid.checked_sub(PRIVATE_COUNT)?).ok()
        } else {
            None
        }
    }

    /// Interrupt `intid` as vCPU `vcpu` sees it (its own bank for INTIDs below 32).
    pub(super) fn irq(&self, vcpu: usize, intid: u32) -> Option<&IrqState> {
        if intid < PRIVATE_COUNT {
            self.cpus
                .get(vcpu)?
                .private
                .get(usize::try_from(intid).ok()?)
        } else {
            self.spis.get(self.spi_index(intid)?)
        }
    }

    /// Sets the live bit of interrupt `intid` of bank `vcpu`: it changed, and the next
    /// scan must look at it again.
    fn mark_live(&mut self, vcpu: usize, intid: u32) {
        if intid < PRIVATE_COUNT {
            if let Some(cpu) = self.cpus.get_mut(vcpu) {
                cpu.live |= 1 << intid;
            }
        } else if let Some(index) = self.spi_index(intid)
            && let Some(word) = self.live.get_mut(index / 32)
        {
            *word |= 1 << (index % 32);
        }
    }

    /// Whether the live bitmap proves the `count` SPIs from `first` idle: all their bits
    /// clear (every change sets an SPI's bit, and an SPI becomes live only by a change,
    /// so a live SPI has it set; a set bit proves nothing, the scan clears it lazily).
    /// False for private INTIDs.
    fn idle_spis(&self, first: u32, count: usize) -> bool {
        let Some(index) = first
            .checked_sub(PRIVATE_COUNT)
            .and_then(|index| usize::try_from(index).ok())
        else {
            return false;
        };
        let shift = index % 32;
        if count == 0 || shift.saturating_add(count) > 32 {
            return false;
        }
        // 1 <= count <= 32 - shift: neither shift overflows.
        let mask = (u32::MAX >> 32usize.wrapping_sub(count)) << shift;
        self.live
            .get(index / 32)
            .is_some_and(|word| word & mask == 0)
    }

    /// Interrupt `intid` of bank `vcpu`, its live bit untouched.
    pub(super) fn slot_mut(&mut self, vcpu: usize, intid: u32) -> Option<&mut IrqState> {
        self.slots_mut(vcpu, intid, 1)?.first_mut()
    }

    /// The `count` interrupts from `first` of bank `vcpu`, their live bits untouched;
    /// `None` unless all of them exist in one bank (private or shared).
    fn slots_mut(&mut self, vcpu: usize, first: u32, count: usize) -> Option<&mut [IrqState]> {
        let (bank, start) = if first < PRIVATE_COUNT {
            (
                self.cpus.get_mut(vcpu)?.private.as_mut_slice(),
                usize::try_from(first).ok()?,
            )
        } else {
            let start = self.spi_index(first)?;
            (self.spis.as_mut_slice(), start)
        };
        bank.get_mut(start..start.checked_add(count)?)
    }

    /// The vCPU an SPI's IROUTER names: IRM = 1 ("any PE") goes to vCPU 0; IRM = 0 to
    /// the vCPU whose affinity matches (Aff0 = id, Aff1-Aff3 = 0), none if none does.
    pub(super) fn route_target(&self, route: u64) -> Option<usize> {
        if route & IROUTER_IRM != 0 {
            return Some(0);
        }
        if route & IROUTER_UPPER_AFF != 0 {
            return None;
        }
        usize::try_from(route & 0xff)
            .ok()
            .filter(|&vcpu| vcpu < self.vcpu_num)
    }

    /// The vCPU interrupt `intid` of bank `vcpu` is delivered to.
    pub(super) fn target(&self, vcpu: usize, intid: u32) -> Option<usize> {
        if intid < PRIVATE_COUNT {
            (vcpu < self.vcpu_num).then_some(vcpu)
        } else {
            self.route_target(*self.routes.get(self.spi_index(intid)?)?)
        }
    }

    /// The vCPU that holds `irq` (of bank `vcpu`) in its list or has it active.
    fn holders(&self, vcpu: usize, intid: u32, irq: &IrqState, notify: &mut Notify) {
        if let Some(holder) = irq.listed_on {
            notify.add(usize::from(holder));
        }
        if irq.active {
            notify.add(if intid < PRIVATE_COUNT {
                vcpu
            } else {
                usize::from(irq.active_on)
            });
        }
    }

    /// Applies `change` to interrupt `intid` of bank `vcpu`. If that changed anything,
    /// notes the vCPUs that should re-evaluate their lists: the target if the interrupt
    /// is now deliverable, and whoever holds it listed or active (their list is stale).
    pub(super) fn update(
        &mut self,
        vcpu: usize,
        intid: u32,
        notify: &mut Notify,
        change: impl FnOnce(&mut IrqState),
    ) {
        let Some(irq) = self.slot_mut(vcpu, intid) else {
            return;
        };
        let before = *irq;
        change(irq);
        let after = *irq;
        // Unchanged, it is as live as it was: its bit needs no setting.
        if before == after {
            return;
        }
        self.mark_live(vcpu, intid);
        if after.deliverable(self.grp1_enabled) {
            if let Some(target) = self.target(vcpu, intid) {
                notify.add(target);
            }
        }
        self.holders(vcpu, intid, &before, notify);
        self.holders(vcpu, intid, &after, notify);
    }

    /// Sets the priorities of the interrupts from `first` of bank `vcpu`, one byte each,
    /// as an [`update`](Self::update) of each would. When none of them has anything to
    /// track (none pending, active or listed: see [`IrqState::live`]), none is
    /// deliverable or held, so no update would note a vCPU, and no scan needs to see
    /// them: the priorities are simply stored. That is the common case (an OS sets every
    /// interrupt's priority before it enables any), and it needs no full update.
    #[inline(never)]
    pub(super) fn set_priorities(
        &mut self,
        vcpu: usize,
        first: u32,
        priorities: &[u8],
        notify: &mut Notify,
    ) {
        let idle = self.idle_spis(first, priorities.len());
        if let Some(irqs) = self.slots_mut(vcpu, first, priorities.len())
            && (idle || irqs.iter().all(|irq| !irq.live()))
        {
            for (irq, &priority) in irqs.iter_mut().zip(priorities) {
                irq.priority = priority;
            }
            return;
        }
        self.update_priorities(vcpu, first, priorities, notify);
    }

    /// [`set_priorities`](Self::set_priorities) with something to track: an update of
    /// each (out of line, so the common store saves no registers for it).
    #[inline(never)]
    fn update_priorities(
        &mut self,
        vcpu: usize,
        first: u32,
        priorities: &[u8],
        notify: &mut Notify,
    ) {
        for (intid, &priority) in (first..).zip(priorities) {
            self.update(vcpu, intid, notify, |irq| irq.priority = priority);
        }
    }

    /// Drives the input line of interrupt `intid` (of bank `vcpu` if private).
    /// Drives the line of private interrupt `intid` (below 32) of `vcpu`, as
    /// [`set_line`](Self::set_line) does; whether anything changed. No notification set
    /// is needed: a vCPU's private interrupt is delivered to that vCPU alone, and only
    /// its own list holds it (`entry_for` lists a bank's interrupts for its vCPU only),
    /// so a change concerns that vCPU alone.
    pub(super) fn set_private_line(&mut self, vcpu: usize, intid: u32, asserted: bool) -> bool {
        if intid >= PRIVATE_COUNT {
            return false;
        }
        let Some(irq) = self.slot_mut(vcpu, intid) else {
            return false;
        };
        let before = *irq;
        irq.set_line(asserted);
        if *irq == before {
            return false;
        }
        self.mark_live(vcpu, intid);
        true
    }

    pub(super) fn set_line(
        &mut self,
        vcpu: usize,
        intid: u32,
        asserted: bool,
        notify: &mut Notify,
    ) {
        self.update(vcpu, intid, notify, |irq| irq.set_line(asserted));
    }

    /// Sets or clears GICD_CTLR.EnableGrp1; every vCPU re-evaluates on a change.
    pub(super) fn set_grp1_enabled(&mut self, enabled: bool, notify: &mut Notify) {
        if self.grp1_enabled != enabled {
            self.grp1_enabled = enabled;
            notify.add_all(self.vcpu_num);
        }
    }

    /// GICD_IROUTER of SPI `intid`; 0 for an INTID without one.
    pub(super) fn route(&self, intid: u32) -> u64 {
        self.spi_index(intid)
            .and_then(|index| self.routes.get(index))
            .copied()
            .unwrap_or(0)
    }

    /// Writes GICD_IROUTER of SPI `intid` (writes to other INTIDs are ignored).
    pub(super) fn set_route(&mut self, intid: u32, value: u64, notify: &mut Notify) {
        let Some(index) = self.spi_index(intid) else {
            return;
        };
        let Some(route) = self.routes.get_mut(index) else {
            return;
        };
        let value = value & IROUTER_WRITABLE;
        if *route == value {
            return;
        }
        *route = value;
        let Some(irq) = self.spis.get(index).copied() else {
            return;
        };
        if irq.deliverable(self.grp1_enabled) {
            if let Some(target) = self.route_target(value) {
                notify.add(target);
            }
        }
        self.holders(0, intid, &irq, notify);
    }

    /// Marks private interrupt `intid` of `vcpu` as linked to the physical interrupt of
    /// the same INTID. Returns whether `vcpu` and `intid` name a private interrupt.
    pub(super) fn set_hw(
        &mut self,
        vcpu: usize,
        intid: u32,
        hw: bool,
        notify: &mut Notify,
    ) -> bool {
        if intid >= PRIVATE_COUNT || vcpu >= self.vcpu_num {
            return false;
        }
        self.update(vcpu, intid, notify, |irq| irq.hw = hw);
        true
    }
}

#[cfg(test)]
mod tests {
    use axvm_types::GuestPhysAddr;
    use proptest::prelude::*;

    use super::*;

    fn state(vcpus: usize) -> GicState {
        GicState::new(&VGicConfig::new(
            GuestPhysAddr::from(0x0800_0000),
            GuestPhysAddr::from(0x080a_0000),
            vcpus,
            64,
        ))
    }

    #[test]
    fn banks_and_bounds() {
        let gic = state(2);
        assert_eq!(gic.intids, 96);
        assert!(gic.irq(0, 0).unwrap().edge, "SGIs are edge-triggered");
        assert!(!gic.irq(1, 27).unwrap().edge, "PPIs reset level-sensitive");
        assert!(gic.irq(2, 27).is_none(), "no vCPU 2");
        assert!(gic.irq(7, 95).is_some(), "SPIs do not depend on the bank");
        assert!(gic.irq(0, 96).is_none());
        assert!(gic.irq(0, u32::MAX).is_none());
    }

    #[test]
    fn routes_name_one_vcpu_or_none() {
        let gic = state(4);
        assert_eq!(gic.route_target(3), Some(3));
        assert_eq!(gic.route_target(4), None, "no such vCPU");
        assert_eq!(gic.route_target(0x100), None, "Aff1 = 1");
        assert_eq!(gic.route_target(0x01_0000_0000), None, "Aff3 = 1");
        assert_eq!(gic.route_target(IROUTER_IRM | 3), Some(0), "1-of-N: vCPU 0");
    }

    #[test]
    fn changes_notify_the_target_only_when_deliverable() {
        let mut gic = state(2);
        let mut notify = Notify::default();
        gic.set_route(40, 1, &mut notify);
        gic.set_line(0, 40, true, &mut notify);
        assert_eq!(notify, Notify::default(), "disabled: nobody to tell");
        gic.set_grp1_enabled(true, &mut notify);
        assert_eq!(notify.0, 0b11);
        let mut notify = Notify::default();
        gic.update(0, 40, &mut notify, |irq| irq.enabled = true);
        assert_eq!(notify.0, 0b10, "SPI 40 is routed to vCPU 1");
        let mut notify = Notify::default();
        gic.set_line(0, 40, true, &mut notify);
        assert_eq!(notify.0, 0, "no change");
        gic.set_route(40, 0, &mut notify);
        assert_eq!(notify.0, 0b01, "the new target");
        let mut notify = Notify::default();
        gic.update(1, 27, &mut notify, |irq| {
            irq.enabled = true;
            irq.latch = true;
        });
        assert_eq!(notify.0, 0b10, "a PPI goes to its own vCPU");
    }

    fn any_irq() -> impl Strategy<Value = IrqState> {
        (
            any::<[bool; 8]>(),
            any::<u8>(),
            proptest::option::of(0u8..3),
            0u8..3,
        )
            .prop_map(
                |(
                    [group1, enabled, edge, hw, line, latch, latch_again, active],
                    priority,
                    listed_on,
                    active_on,
                )| IrqState {
                    group1,
                    enabled,
                    edge,
                    hw,
                    line,
                    latch,
                    latch_again,
                    active,
                    priority,
                    listed_on,
                    active_on,
                },
            )
    }

    /// Whether the live bitmaps of `state` have interrupt `intid` of bank `vcpu`'s bit.
    fn live_bit(state: &GicState, vcpu: usize, intid: u32) -> bool {
        let (word, bit) = match intid.checked_sub(PRIVATE_COUNT) {
            None => (state.cpus[vcpu].live, intid),
            Some(index) => (state.live[index as usize / 32], index % 32),
        };
        word & (1 << bit) != 0
    }

    /// Every interrupt of a two-vCPU state, as (bank, INTID).
    fn every_irq(state: &GicState) -> impl Iterator<Item = (usize, u32)> {
        let privates = (0..2).flat_map(|vcpu| (0..PRIVATE_COUNT).map(move |intid| (vcpu, intid)));
        privates.chain((PRIVATE_COUNT..state.intids).map(|intid| (0, intid)))
    }

    proptest! {
        /// Setting priorities gives what an update of each gives: the same interrupts
        /// and the same vCPUs noted, whatever stale bits the live bitmaps hold; only
        /// those bitmaps may keep an idle interrupt's bit clear (a scan would clear it
        /// anyway), never a live one's.
        #[test]
        fn set_priorities_is_an_update_of_each(
            irqs in proptest::collection::vec((any_irq(), any::<bool>()), 8),
            grp1_enabled: bool,
            route in prop_oneof![Just(IROUTER_IRM), 0u64..3],
            vcpu in 0usize..2,
            first in prop_oneof![Just(24u32), Just(26u32), Just(30u32), Just(40u32), Just(92u32), Just(94u32), Just(96u32)],
            priorities in proptest::collection::vec(any::<u8>(), 1..=4),
            stale_bits in any::<[u32; 4]>(),
        ) {
            let mut fast = state(2);
            fast.grp1_enabled = grp1_enabled;
            // The interrupts around the written ones, each idle (reset) or random.
            let around = [(0, 24), (0, 27), (1, 27), (0, 31), (0, 40), (0, 42), (0, 93), (0, 95)];
            for ((bank, intid), (irq, keep_reset)) in around.into_iter().zip(irqs) {
                if let (Some(slot), false) = (fast.slot_mut(bank, intid), keep_reset) {
                    *slot = irq;
                }
            }
            fast.set_route(40, route, &mut Notify::default());
            // Stale bits of idle interrupts, and every live one's (the scans' invariant).
            let [spis_low, spis_high, cpu0, cpu1] = stale_bits;
            fast.live.copy_from_slice(&[spis_low, spis_high]);
            fast.cpus[0].live = cpu0;
            fast.cpus[1].live = cpu1;
            for (bank, intid) in every_irq(&fast).collect::<Vec<_>>() {
                if fast.irq(bank, intid).unwrap().live() {
                    fast.mark_live(bank, intid);
                }
            }
            let mut slow = fast.clone();
            let (mut noted_fast, mut noted_slow) = (Notify::default(), Notify::default());
            fast.set_priorities(vcpu, first, &priorities, &mut noted_fast);
            for (intid, &priority) in (first..).zip(&priorities) {
                slow.update(vcpu, intid, &mut noted_slow, |irq| irq.priority = priority);
            }
            prop_assert_eq!(noted_fast, noted_slow);
            for (bank, intid) in every_irq(&slow) {
                prop_assert!(live_bit(&fast, bank, intid) <= live_bit(&slow, bank, intid));
                prop_assert!(
                    !slow.irq(bank, intid).unwrap().live() || live_bit(&fast, bank, intid),
                    "a live interrupt keeps its bit"
                );
            }
            fast.live.clone_from(&slow.live);
            for (fast, slow) in fast.cpus.iter_mut().zip(&slow.cpus) {
                fast.live = slow.live;
            }
            prop_assert_eq!(fast, slow);
        }
    }

    #[test]
    fn hardware_links_exist_for_private_interrupts_only() {
        let mut gic = state(1);
        let mut notify = Notify::default();
        assert!(gic.set_hw(0, 27, true, &mut notify));
        assert!(gic.irq(0, 27).unwrap().hw);
        assert!(!gic.set_hw(0, 32, true, &mut notify));
        assert!(!gic.set_hw(1, 27, true, &mut notify));
    }
}
