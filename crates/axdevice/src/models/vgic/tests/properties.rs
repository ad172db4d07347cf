//! Property tests: random line changes, runs and re-routing against a guest model never
//! lose or duplicate an interrupt; random register traffic never panics.

use alloc::{collections::BTreeMap, vec, vec::Vec};

use axvm_types::{AccessWidth, GuestPhysAddr, VirqState, VirtualIrq};
use proptest::prelude::*;

use super::{GICD, GICR, Gic, GuestDoes, STRIDE, after, gic};
use crate::{
    irq::{IrqSink, VirtualInterruptController},
    traits::BaseDeviceOps,
};

/// SPIs 32-35 are edge-triggered, 36-39 level-sensitive.
const SPIS: core::ops::Range<u32> = 32..40;
const VCPUS: usize = 3;

fn is_edge(intid: u32) -> bool {
    intid < 36
}

#[derive(Debug, Clone)]
enum Op {
    /// An edge on an edge-triggered SPI.
    Pulse(u32),
    /// Raises a level-sensitive SPI's line (its device wants service).
    Raise(u32),
    /// Runs a vCPU with `slots` list registers; the guest does `does[i]` to entry `i`,
    /// and `pulse` arrives while it runs.
    Run {
        vcpu: usize,
        slots: usize,
        does: Vec<GuestDoes>,
        pulse: Option<u32>,
    },
    /// Routes an SPI to another vCPU.
    Route(u32, usize),
}

fn guest_does() -> impl Strategy<Value = GuestDoes> {
    prop_oneof![
        Just(GuestDoes::Nothing),
        Just(GuestDoes::Acknowledge),
        Just(GuestDoes::Deactivate),
        Just(GuestDoes::Handle),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (32u32..36).prop_map(Op::Pulse),
        2 => (36u32..40).prop_map(Op::Raise),
        5 => (
            0..VCPUS,
            1usize..5,
            proptest::collection::vec(guest_does(), 4),
            proptest::option::of(32u32..36),
        )
            .prop_map(|(vcpu, slots, does, pulse)| Op::Run { vcpu, slots, does, pulse }),
        1 => (SPIS, 0..VCPUS).prop_map(|(spi, vcpu)| Op::Route(spi, vcpu)),
    ]
}

/// What the guest and the devices have seen, in operation "time".
#[derive(Default)]
struct Record {
    now: u64,
    /// Per SPI: edges or raises, acknowledges, time of the last of each.
    events: BTreeMap<u32, u64>,
    acks: BTreeMap<u32, u64>,
    last_event: BTreeMap<u32, u64>,
    last_ack: BTreeMap<u32, u64>,
    /// Level lines that are high.
    high: BTreeMap<u32, bool>,
}

impl Record {
    fn event(&mut self, intid: u32) {
        *self.events.entry(intid).or_default() += 1;
        self.last_event.insert(intid, self.now);
    }
}

fn setup() -> Gic {
    let gic = gic(VCPUS, 32);
    gic.enable_grp1();
    for spi in SPIS {
        let spi = usize::try_from(spi).unwrap();
        gic.spi(spi, spi % VCPUS, is_edge(u32::try_from(spi).unwrap()), 0x80);
    }
    gic
}

/// Runs `vcpu` once, as the guest and its devices would.
fn run_once(
    gic: &Gic,
    record: &mut Record,
    vcpu: usize,
    slots: usize,
    does: &[GuestDoes],
    pulse: Option<u32>,
) -> usize {
    let (given, more) = gic.list(vcpu, slots);
    assert!(given.len() <= slots);
    let mut intids: Vec<u32> = given.iter().map(|irq| irq.intid).collect();
    intids.sort_unstable();
    intids.dedup();
    assert_eq!(intids.len(), given.len(), "an INTID listed twice");
    if more {
        assert_eq!(
            given.len(),
            slots,
            "more is only reported with every slot used"
        );
    }
    let mut reported = Vec::new();
    for (index, irq) in given.iter().enumerate() {
        let what = does.get(index).copied().unwrap_or(GuestDoes::Handle);
        let state = after(irq.state, what);
        if irq.state.is_pending() && !state.is_pending() {
            // The guest took it: its handler services the device.
            *record.acks.entry(irq.intid).or_default() += 1;
            record.last_ack.insert(irq.intid, record.now);
            if !is_edge(irq.intid) {
                assert!(
                    record.high.get(&irq.intid).copied().unwrap_or(false),
                    "level SPI {} taken with its line low",
                    irq.intid
                );
                record.high.insert(irq.intid, false);
                gic.vgic.set_level(irq.intid, false);
            }
        }
        reported.push(VirtualIrq { state, ..*irq });
    }
    if let Some(spi) = pulse {
        record.event(spi);
        gic.vgic.pulse(spi);
    }
    gic.vgic.sync_from_vcpu(vcpu, &reported);
    given.len()
}

fn apply(gic: &Gic, record: &mut Record, op: &Op) {
    record.now += 1;
    match op {
        Op::Pulse(spi) => {
            record.event(*spi);
            gic.vgic.pulse(*spi);
        }
        Op::Raise(spi) => {
            if !record.high.get(spi).copied().unwrap_or(false) {
                record.event(*spi);
                record.high.insert(*spi, true);
                gic.vgic.set_level(*spi, true);
            }
        }
        Op::Run {
            vcpu,
            slots,
            does,
            pulse,
        } => {
            run_once(gic, record, *vcpu, *slots, does, *pulse);
        }
        Op::Route(spi, vcpu) => {
            let router = 0x6000 + 8 * usize::try_from(*spi).unwrap();
            gic.d_write(router, AccessWidth::Qword, *vcpu).unwrap();
        }
    }
}

/// Runs every vCPU, handling everything, until no list holds anything.
fn drain(gic: &Gic, record: &mut Record) {
    for _ in 0..64 {
        record.now += 1;
        let listed: usize = (0..VCPUS)
            .map(|vcpu| run_once(gic, record, vcpu, 2, &[], None))
            .sum();
        if listed == 0 {
            return;
        }
    }
    panic!("interrupts still listed after 64 rounds");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_interrupt_is_lost_or_duplicated(ops in proptest::collection::vec(op(), 1..120)) {
        let gic = setup();
        let mut record = Record::default();
        for op in &ops {
            apply(&gic, &mut record, op);
        }
        drain(&gic, &mut record);
        for spi in SPIS {
            let events = record.events.get(&spi).copied().unwrap_or(0);
            let acks = record.acks.get(&spi).copied().unwrap_or(0);
            prop_assert!(acks <= events, "SPI {spi}: {acks} deliveries for {events} events");
            if let Some(&event) = record.last_event.get(&spi) {
                let ack = record.last_ack.get(&spi).copied();
                prop_assert!(
                    ack.is_some_and(|ack| ack > event),
                    "SPI {spi}: the event at {event} was never delivered after (last {ack:?})"
                );
            }
            prop_assert!(!record.high.get(&spi).copied().unwrap_or(false));
        }
        for vcpu in 0..VCPUS {
            prop_assert!(!gic.vgic.has_deliverable(vcpu));
        }
    }

    /// Lists stay outstanding until a sync, so listing every vCPU, re-routing every SPI,
    /// then listing again in reverse order (the new target before the old holder)
    /// shows whether an SPI is ever held by two vCPUs at once.
    #[test]
    fn an_spi_is_never_listed_on_two_vcpus(ops in proptest::collection::vec(op(), 1..80)) {
        let gic = setup();
        let mut record = Record::default();
        let list = |vcpu: usize| -> Vec<u32> {
            let mut out = Vec::new();
            gic.vgic.irqs_for_vcpu(vcpu, 8, &mut out);
            out.iter().map(|irq| irq.intid).collect()
        };
        let check = |lists: &[Vec<u32>]| {
            for spi in SPIS {
                let holders = lists.iter().filter(|list| list.contains(&spi)).count();
                assert!(holders <= 1, "SPI {spi} listed on {holders} vCPUs");
            }
        };
        for (step, op) in ops.iter().enumerate() {
            apply(&gic, &mut record, op);
            let mut lists: Vec<Vec<u32>> = (0..VCPUS).map(list).collect();
            check(&lists);
            for spi in SPIS {
                let router = 0x6000 + 8 * usize::try_from(spi).unwrap();
                let vcpu = (usize::try_from(spi).unwrap() + step + 1) % VCPUS;
                gic.d_write(router, AccessWidth::Qword, vcpu).unwrap();
            }
            for vcpu in (0..VCPUS).rev() {
                lists[vcpu] = list(vcpu);
                check(&lists);
            }
            for vcpu in 0..VCPUS {
                gic.vgic.sync_from_vcpu(vcpu, &[]);
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Traffic {
    Gicd {
        offset: usize,
        width: AccessWidth,
        value: usize,
        write: bool,
    },
    Gicr {
        offset: usize,
        width: AccessWidth,
        value: usize,
        write: bool,
    },
    SysReg {
        value: u64,
    },
    Line {
        intid: u32,
        level: bool,
    },
    Ppi {
        vcpu: usize,
        intid: u32,
        level: bool,
    },
    List {
        vcpu: usize,
        slots: usize,
    },
    Sync {
        vcpu: usize,
        reported: Vec<(u32, u8)>,
    },
    HwLink {
        vcpu: usize,
        intid: u32,
        linked: bool,
    },
}

fn width() -> impl Strategy<Value = AccessWidth> {
    prop_oneof![
        Just(AccessWidth::Byte),
        Just(AccessWidth::Word),
        Just(AccessWidth::Dword),
        Just(AccessWidth::Qword),
    ]
}

/// Offsets where registers are, often, and anywhere, sometimes.
fn offset(limit: usize) -> impl Strategy<Value = usize> {
    prop_oneof![
        3 => 0usize..0x1000,
        1 => 0x6000usize..0x8000,
        1 => 0xffe0usize..0x1_0000,
        1 => 0x1_0000usize..0x1_1000,
        2 => 0..limit,
    ]
}

fn traffic() -> impl Strategy<Value = Traffic> {
    let state = prop_oneof![Just(0u8), Just(1), Just(2), Just(3)];
    prop_oneof![
        4 => (offset(0x1_0000), width(), any::<usize>(), any::<bool>())
            .prop_map(|(offset, width, value, write)| Traffic::Gicd { offset, width, value, write }),
        4 => (offset(2 * STRIDE), width(), any::<usize>(), any::<bool>())
            .prop_map(|(offset, width, value, write)| Traffic::Gicr { offset, width, value, write }),
        1 => any::<u64>().prop_map(|value| Traffic::SysReg { value }),
        2 => (0u32..1100, any::<bool>()).prop_map(|(intid, level)| Traffic::Line { intid, level }),
        1 => (0usize..4, 0u32..40, any::<bool>())
            .prop_map(|(vcpu, intid, level)| Traffic::Ppi { vcpu, intid, level }),
        2 => (0usize..4, 0usize..6).prop_map(|(vcpu, slots)| Traffic::List { vcpu, slots }),
        2 => (0usize..4, proptest::collection::vec((0u32..100, state), 0..6))
            .prop_map(|(vcpu, reported)| Traffic::Sync { vcpu, reported }),
        1 => (0usize..4, 0u32..40, any::<bool>())
            .prop_map(|(vcpu, intid, linked)| Traffic::HwLink { vcpu, intid, linked }),
    ]
}

fn state_of(code: u8) -> VirqState {
    match code {
        0 => VirqState::Inactive,
        1 => VirqState::Pending,
        2 => VirqState::Active,
        _ => VirqState::PendingActive,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_traffic_never_panics(traffic in proptest::collection::vec(traffic(), 1..200)) {
        let gic = gic(2, 64);
        for step in traffic {
            match step {
                Traffic::Gicd { offset, width, write: false, .. } => {
                    if let Ok(read) = gic.gicd.handle_read(GuestPhysAddr::from(GICD + offset), width) {
                        prop_assert!(read as u64 <= width.mask());
                    }
                }
                Traffic::Gicr { offset, width, write: false, .. } => {
                    if let Ok(read) = gic.gicr.handle_read(GuestPhysAddr::from(GICR + offset), width) {
                        prop_assert!(read as u64 <= width.mask());
                    }
                }
                Traffic::List { vcpu, slots } => {
                    let mut out = vec![VirtualIrq::default(); 3];
                    let more = gic.vgic.irqs_for_vcpu(vcpu, slots, &mut out);
                    prop_assert!(out.len() <= slots);
                    prop_assert!(!more || out.len() == slots);
                    let _ = gic.vgic.has_deliverable(vcpu);
                }
                step => apply_traffic(&gic, &step, false),
            }
        }
    }
}

/// Applies `step` to `gic` (reads and lists are the callers'), driving PPIs with
/// `set_own_ppi_level` when `own`.
fn apply_traffic(gic: &Gic, step: &Traffic, own: bool) {
    match *step {
        Traffic::Gicd {
            offset,
            width,
            value,
            write: true,
        } => {
            let _ = gic
                .gicd
                .handle_write(GuestPhysAddr::from(GICD + offset), width, value);
        }
        Traffic::Gicr {
            offset,
            width,
            value,
            write: true,
        } => {
            let _ = gic
                .gicr
                .handle_write(GuestPhysAddr::from(GICR + offset), width, value);
        }
        Traffic::SysReg { value } => gic.vgic.send_sgi(Some(0), value),
        Traffic::Line { intid, level } => gic.vgic.set_level(intid, level),
        Traffic::Ppi { vcpu, intid, level } if own => {
            gic.vgic.set_own_ppi_level(vcpu, intid, level)
        }
        Traffic::Ppi { vcpu, intid, level } => gic.vgic.set_ppi_level(vcpu, intid, level),
        Traffic::Sync { vcpu, ref reported } => {
            let reported: Vec<VirtualIrq> = reported
                .iter()
                .map(|&(intid, state)| VirtualIrq {
                    intid,
                    state: state_of(state),
                    ..VirtualIrq::default()
                })
                .collect();
            gic.vgic.sync_from_vcpu(vcpu, &reported);
        }
        Traffic::HwLink {
            vcpu,
            intid,
            linked,
        } => {
            let _ = gic.vgic.set_hw_linked(vcpu, intid, linked);
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Asserting a vCPU's own PPI (the host on that vCPU's CPU) changes the model as
    /// `set_ppi_level` does, and leaves that vCPU's list stale whenever the other's
    /// would be; it only skips that vCPU's notification.
    #[test]
    fn own_ppi_assertion_matches_the_notifying_one(traffic in proptest::collection::vec(traffic(), 1..120)) {
        let (own, plain) = (gic(2, 64), gic(2, 64));
        for step in &traffic {
            if let Traffic::List { vcpu, slots } = *step {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                let more = (own.vgic.irqs_for_vcpu(vcpu, slots, &mut a), plain.vgic.irqs_for_vcpu(vcpu, slots, &mut b));
                prop_assert_eq!(a, b);
                prop_assert_eq!(more.0, more.1);
                continue;
            }
            let stale_before = [own.vgic.needs_relist(0), own.vgic.needs_relist(1)];
            own.kicks.take();
            apply_traffic(&own, step, true);
            apply_traffic(&plain, step, false);
            for (vcpu, &was_stale) in stale_before.iter().enumerate() {
                prop_assert_eq!(own.vgic.has_deliverable(vcpu), plain.vgic.has_deliverable(vcpu));
                if plain.vgic.needs_relist(vcpu) && !was_stale {
                    prop_assert!(own.vgic.needs_relist(vcpu));
                }
            }
            if let Traffic::Ppi { vcpu, .. } = *step {
                prop_assert!(!own.kicks.take().contains(&vcpu), "the vCPU itself is not kicked");
            }
        }
    }
}
