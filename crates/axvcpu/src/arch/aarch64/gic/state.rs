//! [`CpuInterfaceState`]: one vCPU's GICv3 virtual CPU interface — the interrupts
//! loaded for it in list registers and the registers the guest changes through its
//! `ICV_*` view (`ICH_VMCR_EL2`, the active priorities) — and when it moves between
//! the saved copy and the CPU.
//!
//! - `load` (bind): `ICH_VMCR_EL2`, the active-priority registers, every list
//!   register (the unused ones zeroed) and `ICH_HCR_EL2`.
//! - `before_entry` (each entry): only what changed: the list registers after a
//!   `set_list`, `ICH_HCR_EL2` after an exit that cleared it. Nothing when the list
//!   is unchanged.
//! - `after_exit` (each exit): reads back the list registers of the interrupts that
//!   are not yet inactive and zeroes those the guest finished (which also withdraws
//!   their EOI maintenance request); clears `ICH_HCR_EL2` when it asks for
//!   maintenance interrupts, so none is raised while the hypervisor runs. Nothing
//!   when no loaded interrupt is live.
//! - `save` (unbind): `ICH_VMCR_EL2`, the active priorities; a loaded interrupt
//!   linked to a physical one (still active on this CPU until the guest deactivates
//!   the virtual one) has its physical interrupt deactivated (`ICC_DIR_EL1`) and
//!   becomes a software interrupt with EOI maintenance, so the next vCPU here can
//!   take that physical interrupt; then every list register and `ICH_HCR_EL2` are
//!   zeroed.

use axvm_types::{AxVmError, AxVmResult, VirqState, VirtualIrq};

use super::{
    cpuif::CpuInterfaceHw,
    lr::{check_lr, linked_intid, lr_state, lr_value, unlink},
    regs::{IchVtr, MAX_LIST_REGS, ich_hcr},
};

/// The active-priority registers per group the architecture defines.
const MAX_APRS: usize = 4;

/// One vCPU's virtual CPU interface, saved or loaded.
#[derive(Debug, Clone)]
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))] // Loaded by `hw`.
pub(crate) struct CpuInterfaceState {
    /// The CPU's implementation; `None`: no usable GICv3 interface, nothing to switch.
    vtr: Option<IchVtr>,
    /// The interrupts of the last `set_list`, with their states after the last exit.
    irqs: [VirtualIrq; MAX_LIST_REGS],
    /// How many of `irqs` (and `lrs`) are in use.
    len: usize,
    /// The list register values of `irqs`.
    lrs: [u64; MAX_LIST_REGS],
    /// `ICH_HCR_EL2` while the guest runs.
    hcr: u64,
    vmcr: u64,
    ap0r: [u64; MAX_APRS],
    ap1r: [u64; MAX_APRS],
    /// While loaded: the list registers that may be non-zero on the CPU.
    hw_len: usize,
    /// `lrs` changed since they were written to the CPU.
    lrs_dirty: bool,
    /// `ICH_HCR_EL2` on the CPU holds `hcr`.
    hcr_loaded: bool,
    /// `before_entry` has something to write: `lrs_dirty` or not `hcr_loaded`.
    entry_work: bool,
    /// `after_exit` has something to read: a loaded interrupt is live, or `hcr`
    /// asks for maintenance interrupts.
    exit_work: bool,
}

#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))] // `load`/`save` by `hw`.
impl CpuInterfaceState {
    /// The reset state of a vCPU on a CPU with interface `vtr`: nothing loaded, the
    /// guest's priority mask and group enables zero (as out of reset).
    pub(crate) fn new(vtr: Option<IchVtr>) -> Self {
        Self {
            vtr,
            irqs: [VirtualIrq::default(); MAX_LIST_REGS],
            len: 0,
            lrs: [0; MAX_LIST_REGS],
            hcr: ich_hcr::EN,
            vmcr: 0,
            ap0r: [0; MAX_APRS],
            ap1r: [0; MAX_APRS],
            hw_len: 0,
            lrs_dirty: false,
            hcr_loaded: false,
            entry_work: true,
            exit_work: false,
        }
    }

    /// Back to the reset state (the CPU's implementation kept); only while unloaded.
    pub(crate) fn reset(&mut self) {
        *self = Self::new(self.vtr);
    }

    /// The CPU's implementation, if there is one.
    pub(crate) const fn vtr(&self) -> Option<IchVtr> {
        self.vtr
    }

    /// How many interrupts fit: the CPU's list registers (0 without a GICv3 interface).
    pub(crate) fn slots(&self) -> usize {
        self.vtr.map_or(0, IchVtr::list_regs)
    }

    /// The loaded interrupts with their states as of the last exit.
    pub(crate) fn list(&self) -> &[VirtualIrq] {
        self.irqs.get(..self.len).unwrap_or(&[])
    }

    /// `ICH_HCR_EL2` the guest runs with.
    #[cfg(test)]
    pub(crate) const fn hcr(&self) -> u64 {
        self.hcr
    }

    /// `ICH_VMCR_EL2` as of the last save.
    #[cfg(test)]
    pub(crate) const fn vmcr(&self) -> u64 {
        self.vmcr
    }

    /// Replaces the loaded interrupts (written to the CPU at the next entry); with
    /// `more_pending`, the guest exits (maintenance interrupt) once none of them is
    /// pending any more (NPIE) or at most one list register stays valid (UIE).
    ///
    /// # Errors
    ///
    /// `Unsupported` without a GICv3 interface; `InvalidInput` when `irqs` holds more
    /// than [`slots`](Self::slots), the same vINTID twice, or one that
    /// [`encode_lr`] refuses. Nothing changes then.
    pub(crate) fn set_list(&mut self, irqs: &[VirtualIrq], more_pending: bool) -> AxVmResult {
        let vtr = self.vtr.ok_or(AxVmError::Unsupported)?;
        if irqs.len() > vtr.list_regs() {
            return Err(AxVmError::InvalidInput);
        }
        // Everything is checked before anything changes (and without a copy of the
        // list registers: this runs before most entries that inject).
        for (index, irq) in irqs.iter().enumerate() {
            let earlier = irqs.get(..index).unwrap_or(&[]);
            if earlier.iter().any(|other| other.intid == irq.intid) {
                return Err(AxVmError::InvalidInput);
            }
            check_lr(irq, vtr)?;
        }
        let mut live = false;
        for (index, (saved, value)) in self.irqs.iter_mut().zip(self.lrs.iter_mut()).enumerate() {
            match irqs.get(index) {
                Some(irq) => {
                    live |= irq.state != VirqState::Inactive;
                    // An inactive one occupies an empty list register: an EOI
                    // request in it would raise a maintenance interrupt at once.
                    *value = match irq.state {
                        VirqState::Inactive => 0,
                        _ => lr_value(irq, vtr),
                    };
                    *saved = *irq;
                }
                // The rest of the previous list; beyond it they are zero already.
                None if index < self.len => *value = 0,
                None => break,
            }
        }
        self.len = irqs.len();
        self.lrs_dirty = true;
        self.entry_work = true;
        let hcr = if more_pending {
            ich_hcr::EN | ich_hcr::NPIE | ich_hcr::UIE
        } else {
            ich_hcr::EN
        };
        if hcr != self.hcr {
            self.hcr = hcr;
            self.hcr_loaded = false;
        }
        self.exit_work = live || more_pending;
        Ok(())
    }

    /// Whether a loaded interrupt is not yet inactive (the guest may change it).
    fn live(&self) -> bool {
        self.list()
            .iter()
            .any(|irq| irq.state != VirqState::Inactive)
    }

    /// Loads the interface into the CPU (bind).
    pub(crate) fn load(&mut self, hw: &mut impl CpuInterfaceHw) {
        let Some(vtr) = self.vtr else {
            return;
        };
        hw.write_vmcr(self.vmcr);
        for index in 0..vtr.active_priority_regs().min(MAX_APRS) {
            hw.write_apr(false, index, self.ap0r.get(index).copied().unwrap_or(0));
            hw.write_apr(true, index, self.ap1r.get(index).copied().unwrap_or(0));
        }
        // Every list register: the previous occupant zeroed its own, but nothing
        // zeroed them out of reset.
        for (index, value) in self.lrs.iter().enumerate().take(vtr.list_regs()) {
            hw.write_lr(index, *value);
        }
        hw.write_hcr(self.hcr);
        self.hw_len = self.len;
        self.lrs_dirty = false;
        self.hcr_loaded = true;
        self.entry_work = false;
        self.exit_work = self.live() || self.hcr & ich_hcr::MAINTENANCE != 0;
    }

    /// Writes what changed since the last exit (before each entry): usually nothing,
    /// which costs one test on the hot path.
    #[inline(always)]
    pub(crate) fn before_entry(&mut self, hw: &mut impl CpuInterfaceHw) {
        if self.entry_work {
            self.write_changes(hw);
        }
    }

    #[inline(never)]
    fn write_changes(&mut self, hw: &mut impl CpuInterfaceHw) {
        if self.lrs_dirty {
            let count = self.len.max(self.hw_len);
            for (index, value) in self.lrs.iter().enumerate().take(count) {
                hw.write_lr(index, *value);
            }
            self.hw_len = self.len;
            self.lrs_dirty = false;
        }
        if !self.hcr_loaded {
            hw.write_hcr(self.hcr);
            self.hcr_loaded = true;
        }
        self.entry_work = false;
    }

    /// Reads back what the guest changed (after each exit): nothing while no loaded
    /// interrupt is live, which costs one test on the hot path.
    #[inline(always)]
    pub(crate) fn after_exit(&mut self, hw: &mut impl CpuInterfaceHw) {
        if self.exit_work {
            self.read_changes(hw);
        }
    }

    #[inline(never)]
    fn read_changes(&mut self, hw: &mut impl CpuInterfaceHw) {
        let mut live = false;
        for index in 0..self.len {
            let (Some(irq), Some(value)) = (self.irqs.get_mut(index), self.lrs.get_mut(index))
            else {
                break;
            };
            if irq.state == VirqState::Inactive {
                continue;
            }
            let current = hw.read_lr(index);
            irq.state = lr_state(current);
            if irq.state == VirqState::Inactive {
                // Finished: an EOI maintenance request left in it would hold the
                // maintenance interrupt up from the next entry on.
                hw.write_lr(index, 0);
                *value = 0;
            } else {
                *value = current;
                live = true;
            }
        }
        let maintenance = self.hcr & ich_hcr::MAINTENANCE != 0;
        if maintenance {
            hw.write_hcr(0);
            self.hcr_loaded = false;
            self.entry_work = true;
        }
        self.exit_work = maintenance || live;
    }

    /// Saves the interface from the CPU and leaves the CPU's clean (unbind). The
    /// list register states are current: `after_exit` read them at the last exit.
    pub(crate) fn save(&mut self, hw: &mut impl CpuInterfaceHw) {
        let Some(vtr) = self.vtr else {
            return;
        };
        self.vmcr = hw.read_vmcr();
        for index in 0..vtr.active_priority_regs().min(MAX_APRS) {
            if let Some(slot) = self.ap0r.get_mut(index) {
                *slot = hw.read_apr(false, index);
            }
            if let Some(slot) = self.ap1r.get_mut(index) {
                *slot = hw.read_apr(true, index);
            }
        }
        for (irq, value) in self.irqs.iter_mut().zip(self.lrs.iter_mut()).take(self.len) {
            if irq.state == VirqState::Inactive {
                continue;
            }
            if let Some(pintid) = linked_intid(*value) {
                hw.deactivate(pintid);
                *value = unlink(*value);
                irq.hw_intid = None;
                irq.notify_eoi = true;
            }
        }
        // `before_entry` wrote `hw_len` of them (a later `set_list` is not on the CPU).
        for index in 0..self.hw_len.min(vtr.list_regs()) {
            hw.write_lr(index, 0);
        }
        hw.write_hcr(0);
        self.hw_len = 0;
        self.lrs_dirty = false;
        self.hcr_loaded = false;
        self.entry_work = true;
        self.exit_work = false;
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use proptest::prelude::*;

    use super::*;
    use crate::arch::aarch64::gic::lr::{decode_lr, encode_lr};

    const A72: IchVtr = IchVtr(0x90b8_0003);

    /// A CPU's virtual interface registers, with counts of the writes.
    #[derive(Debug, Default)]
    struct FakeCpu {
        lrs: [u64; MAX_LIST_REGS],
        hcr: u64,
        vmcr: u64,
        aprs: [[u64; MAX_APRS]; 2],
        deactivated: Vec<u32>,
        lr_writes: usize,
        hcr_writes: usize,
    }

    impl CpuInterfaceHw for FakeCpu {
        fn read_lr(&mut self, index: usize) -> u64 {
            self.lrs[index]
        }
        fn write_lr(&mut self, index: usize, value: u64) {
            self.lr_writes += 1;
            self.lrs[index] = value;
        }
        fn write_hcr(&mut self, value: u64) {
            self.hcr_writes += 1;
            self.hcr = value;
        }
        fn read_vmcr(&mut self) -> u64 {
            self.vmcr
        }
        fn write_vmcr(&mut self, value: u64) {
            self.vmcr = value;
        }
        fn read_apr(&mut self, group1: bool, index: usize) -> u64 {
            self.aprs[usize::from(group1)][index]
        }
        fn write_apr(&mut self, group1: bool, index: usize, value: u64) {
            self.aprs[usize::from(group1)][index] = value;
        }
        fn deactivate(&mut self, intid: u32) {
            self.deactivated.push(intid);
        }
    }

    fn irq(intid: u32, state: VirqState) -> VirtualIrq {
        VirtualIrq {
            intid,
            priority: 0xa0,
            state,
            hw_intid: None,
            notify_eoi: false,
        }
    }

    fn timer(state: VirqState) -> VirtualIrq {
        VirtualIrq {
            hw_intid: Some(27),
            ..irq(27, state)
        }
    }

    /// The guest acknowledging (pending -> active) or ending (active -> invalid) the
    /// interrupt in list register `index`.
    fn guest_sets(cpu: &mut FakeCpu, index: usize, state: u64) {
        cpu.lrs[index] = (cpu.lrs[index] & !(0b11 << 62)) | (state << 62);
    }

    #[test]
    fn a_list_longer_than_the_list_registers_or_with_a_repeated_intid_is_refused() {
        let mut gic = CpuInterfaceState::new(Some(A72));
        assert_eq!(gic.slots(), 4);
        let five: Vec<_> = (40..45).map(|n| irq(n, VirqState::Pending)).collect();
        assert_eq!(gic.set_list(&five, false), Err(AxVmError::InvalidInput));
        let repeated = [irq(40, VirqState::Pending), irq(40, VirqState::Active)];
        assert_eq!(gic.set_list(&repeated, false), Err(AxVmError::InvalidInput));
        let special = [irq(40, VirqState::Pending), irq(1023, VirqState::Pending)];
        assert_eq!(gic.set_list(&special, false), Err(AxVmError::InvalidInput));
        assert!(gic.list().is_empty(), "a refused list changes nothing");
        assert!(gic.set_list(&five[..4], false).is_ok());
        assert_eq!(gic.list(), &five[..4]);
        let mut none = CpuInterfaceState::new(None);
        assert_eq!(none.slots(), 0);
        assert_eq!(none.set_list(&[], false), Err(AxVmError::Unsupported));
    }

    #[test]
    fn more_pending_asks_for_a_maintenance_interrupt_which_is_off_while_the_host_runs() {
        let mut cpu = FakeCpu::default();
        let mut gic = CpuInterfaceState::new(Some(A72));
        gic.load(&mut cpu);
        assert_eq!(cpu.hcr, ich_hcr::EN);
        let four: Vec<_> = (40..44).map(|n| irq(n, VirqState::Pending)).collect();
        gic.set_list(&four, true).unwrap();
        assert_eq!(gic.hcr(), ich_hcr::EN | ich_hcr::NPIE | ich_hcr::UIE);
        gic.before_entry(&mut cpu);
        assert_eq!(cpu.hcr, 0b1011);
        gic.after_exit(&mut cpu);
        assert_eq!(
            cpu.hcr, 0,
            "no maintenance interrupt while the hypervisor runs"
        );
        gic.before_entry(&mut cpu);
        assert_eq!(cpu.hcr, 0b1011);
        gic.set_list(&four, false).unwrap();
        gic.after_exit(&mut cpu);
        gic.before_entry(&mut cpu);
        assert_eq!(cpu.hcr, ich_hcr::EN);
    }

    #[test]
    fn exits_report_what_the_guest_did_and_free_the_finished_list_registers() {
        let mut cpu = FakeCpu {
            lrs: [0xdead; MAX_LIST_REGS], // unknown out of reset
            ..FakeCpu::default()
        };
        let mut gic = CpuInterfaceState::new(Some(A72));
        gic.load(&mut cpu);
        assert_eq!(&cpu.lrs[..4], &[0; 4]);
        let eoi = VirtualIrq {
            notify_eoi: true,
            ..irq(33, VirqState::Pending)
        };
        gic.set_list(&[timer(VirqState::Pending), eoi], false)
            .unwrap();
        gic.before_entry(&mut cpu);
        assert_eq!(decode_lr(cpu.lrs[0]), timer(VirqState::Pending));
        assert_eq!(decode_lr(cpu.lrs[1]), eoi);
        guest_sets(&mut cpu, 0, 0b10); // acknowledged the timer
        gic.after_exit(&mut cpu);
        assert_eq!(gic.list()[0].state, VirqState::Active);
        assert_eq!(gic.list()[1].state, VirqState::Pending);
        guest_sets(&mut cpu, 0, 0b00); // ended it
        guest_sets(&mut cpu, 1, 0b00); // and took and ended the UART's
        gic.after_exit(&mut cpu);
        assert_eq!(gic.list()[0].state, VirqState::Inactive);
        assert_eq!(gic.list()[1].state, VirqState::Inactive);
        assert_eq!(
            cpu.lrs[1], 0,
            "the EOI request is withdrawn with the register"
        );
        // The host keeps or drops them; finished ones are not read again.
        let writes = cpu.lr_writes;
        cpu.lrs[0] = 0x4000_0000_0000_0099;
        gic.after_exit(&mut cpu);
        assert_eq!(gic.list()[0].state, VirqState::Inactive);
        assert_eq!(cpu.lr_writes, writes);
    }

    #[test]
    fn an_unchanged_empty_list_costs_nothing_per_entry_and_exit() {
        let mut cpu = FakeCpu::default();
        let mut gic = CpuInterfaceState::new(Some(A72));
        gic.load(&mut cpu);
        let (lrs, hcrs) = (cpu.lr_writes, cpu.hcr_writes);
        for _ in 0..8 {
            gic.before_entry(&mut cpu);
            gic.after_exit(&mut cpu);
        }
        assert_eq!((cpu.lr_writes, cpu.hcr_writes), (lrs, hcrs));
        // Emptying a list writes the registers it used once.
        gic.set_list(&[irq(40, VirqState::Pending)], false).unwrap();
        gic.before_entry(&mut cpu);
        gic.after_exit(&mut cpu);
        gic.set_list(&[], false).unwrap();
        gic.before_entry(&mut cpu);
        assert_eq!(cpu.lr_writes, lrs + 2);
        assert_eq!(cpu.lrs[0], 0);
    }

    #[test]
    fn unbinding_deactivates_a_linked_physical_interrupt_and_keeps_the_virtual_one() {
        let mut cpu = FakeCpu::default();
        let mut gic = CpuInterfaceState::new(Some(A72));
        gic.load(&mut cpu);
        gic.set_list(
            &[timer(VirqState::Pending), irq(40, VirqState::Pending)],
            false,
        )
        .unwrap();
        gic.before_entry(&mut cpu);
        guest_sets(&mut cpu, 0, 0b10); // the guest is in its timer handler
        cpu.vmcr = 0xf000_0002; // PMR 0xf0, Group 1 on
        cpu.aprs[1][0] = 1 << 20;
        gic.after_exit(&mut cpu);
        gic.save(&mut cpu);
        assert_eq!(cpu.deactivated, [27]);
        assert_eq!(cpu.lrs, [0; MAX_LIST_REGS]);
        assert_eq!(cpu.hcr, 0);
        let unlinked = VirtualIrq {
            hw_intid: None,
            notify_eoi: true,
            ..timer(VirqState::Active)
        };
        assert_eq!(gic.list(), &[unlinked, irq(40, VirqState::Pending)]);
        assert_eq!(gic.vmcr(), 0xf000_0002);
        // Another vCPU used the CPU; this one comes back with its state.
        let mut other = FakeCpu::default();
        gic.load(&mut other);
        assert_eq!(decode_lr(other.lrs[0]), unlinked);
        assert_eq!(other.vmcr, 0xf000_0002);
        assert_eq!(other.aprs[1][0], 1 << 20);
        assert_eq!(other.hcr, ich_hcr::EN);
        // An interrupt the guest already finished is not deactivated again.
        gic.set_list(&[timer(VirqState::Pending)], false).unwrap();
        gic.before_entry(&mut other);
        guest_sets(&mut other, 0, 0b00);
        gic.after_exit(&mut other);
        gic.save(&mut other);
        assert!(other.deactivated.is_empty());
    }

    #[test]
    fn reset_forgets_the_list_and_the_guests_interface_settings() {
        let mut cpu = FakeCpu::default();
        let mut gic = CpuInterfaceState::new(Some(A72));
        gic.load(&mut cpu);
        cpu.vmcr = 0xff00_0002;
        gic.set_list(&[irq(40, VirqState::Pending)], true).unwrap();
        gic.save(&mut cpu);
        gic.reset();
        assert!(gic.list().is_empty());
        assert_eq!((gic.vmcr(), gic.hcr(), gic.slots()), (0, ich_hcr::EN, 4));
    }

    fn state() -> impl Strategy<Value = VirqState> {
        prop_oneof![
            Just(VirqState::Inactive),
            Just(VirqState::Pending),
            Just(VirqState::Active),
        ]
    }

    /// A list of up to 4 interrupts with distinct INTIDs.
    fn list() -> impl Strategy<Value = Vec<VirtualIrq>> {
        proptest::collection::btree_set(0u32..64, 0..=4).prop_flat_map(|intids| {
            let intids: Vec<u32> = intids.into_iter().collect();
            let count = intids.len();
            (Just(intids), proptest::collection::vec(state(), count)).prop_map(|(ids, states)| {
                ids.into_iter()
                    .zip(states)
                    .map(|(intid, state)| irq(intid, state))
                    .collect()
            })
        })
    }

    proptest! {
        #[test]
        fn the_cpu_always_holds_the_last_list_and_nothing_else(
            lists in proptest::collection::vec((list(), any::<bool>()), 1..8),
        ) {
            let mut cpu = FakeCpu::default();
            let mut gic = CpuInterfaceState::new(Some(A72));
            gic.load(&mut cpu);
            for (list, more) in &lists {
                gic.set_list(list, *more).unwrap();
                gic.before_entry(&mut cpu);
                for (index, irq) in list.iter().enumerate() {
                    let expected = if irq.state == VirqState::Inactive { 0 } else { encode_lr(irq, A72).unwrap() };
                    prop_assert_eq!(cpu.lrs[index], expected);
                }
                prop_assert!(cpu.lrs[list.len()..].iter().all(|&lr| lr == 0));
                prop_assert_eq!(cpu.hcr & ich_hcr::NPIE != 0, *more);
                gic.after_exit(&mut cpu);
                prop_assert_eq!(gic.list(), list.as_slice());
            }
            gic.save(&mut cpu);
            prop_assert!(cpu.lrs.iter().all(|&lr| lr == 0));
            prop_assert_eq!(cpu.hcr, 0);
        }
    }
}
