//! Property tests: random line changes and register traffic against a reference model
//! of the gateways and of the claim rule; nothing panics, and the invariants hold after
//! every step.

use alloc::{vec, vec::Vec};

use axvm_types::{AccessWidth, VirtualIrq};
use proptest::prelude::*;

use super::{CONTEXT, ENABLE, PENDING, Plic, qemu_plic};
use crate::irq::{IrqSink, VirtualInterruptController};

/// Sources 1-40 (two enable words, the second partial); QEMU's layout for 2 harts.
const SOURCES: u32 = 40;
const VCPUS: usize = 2;
const CONTEXTS: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    Level(u32, bool),
    Pulse(u32),
    Priority(u32, u32),
    Enable(usize, usize, u32),
    Threshold(usize, u32),
    Claim(usize),
    Complete(usize, u32),
    /// An access that must change nothing: a width or alignment no register takes, or
    /// a reserved offset.
    Ignored {
        offset: usize,
        width: AccessWidth,
        write: Option<u32>,
    },
}

/// Source numbers, with some the PLIC does not have.
fn id() -> impl Strategy<Value = u32> {
    prop_oneof![8 => 0..=SOURCES + 1, 1 => Just(1023), 1 => any::<u32>()]
}

fn ignored() -> impl Strategy<Value = Op> {
    let odd_width = (
        0usize..0x20_4000,
        prop_oneof![
            Just(AccessWidth::Byte),
            Just(AccessWidth::Word),
            Just(AccessWidth::Qword)
        ],
    );
    let misaligned = (0usize..0x20_4000)
        .prop_filter("misaligned", |offset| offset % 4 != 0)
        .prop_map(|offset| (offset, AccessWidth::Dword));
    let reserved = prop_oneof![
        (0x1080usize..0x2000).prop_map(|offset| offset & !3),
        (0x2200usize..0x20_0000).prop_map(|offset| offset & !3),
        (0x20_0008usize..0x20_1000).prop_map(|offset| offset & !3),
        (0x20_4000usize..0x60_0000).prop_map(|offset| offset & !3),
    ]
    .prop_map(|offset| (offset, AccessWidth::Dword));
    (
        prop_oneof![odd_width, misaligned, reserved],
        proptest::option::of(any::<u32>()),
    )
        .prop_map(|((offset, width), write)| Op::Ignored {
            offset,
            width,
            write,
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (id(), any::<bool>()).prop_map(|(id, high)| Op::Level(id, high)),
        2 => id().prop_map(Op::Pulse),
        2 => (id(), 0u32..10).prop_map(|(id, priority)| Op::Priority(id, priority)),
        2 => (0..CONTEXTS, 0usize..3, any::<u32>())
            .prop_map(|(context, word, bits)| Op::Enable(context, word, bits)),
        1 => (0..CONTEXTS, 0u32..9).prop_map(|(context, value)| Op::Threshold(context, value)),
        4 => (0..CONTEXTS).prop_map(Op::Claim),
        3 => (0..CONTEXTS, id()).prop_map(|(context, id)| Op::Complete(context, id)),
        1 => ignored(),
    ]
}

/// One flag per source number 0 to `SOURCES`.
type Flags = [bool; SOURCES as usize + 1];

/// The gateways as the specification describes them, kept beside the model.
struct Reference {
    level: Flags,
    edge: Flags,
    claimed: Flags,
}

impl Reference {
    fn new() -> Self {
        let none = [false; SOURCES as usize + 1];
        Self {
            level: none,
            edge: none,
            claimed: none,
        }
    }

    fn exists(id: u32) -> bool {
        (1..=SOURCES).contains(&id)
    }

    fn pending(&self, id: u32) -> bool {
        let i = id as usize;
        (self.level[i] || self.edge[i]) && !self.claimed[i]
    }
}

/// Every register a guest can read without side effects.
fn snapshot(plic: &Plic) -> Vec<u32> {
    let mut regs = Vec::new();
    regs.extend((0..=SOURCES as usize).map(|id| plic.r32(4 * id)));
    regs.extend((0..2).map(|word| plic.r32(PENDING + 4 * word)));
    for context in 0..CONTEXTS {
        regs.extend((0..2).map(|word| plic.r32(ENABLE + 0x80 * context + 4 * word)));
        regs.push(plic.r32(CONTEXT + 0x1000 * context));
    }
    regs
}

/// What a claim by `context` must return, computed from the registers.
fn expected_claim(plic: &Plic, context: usize) -> u32 {
    let threshold = plic.r32(CONTEXT + 0x1000 * context);
    let enabled = |id: u32| {
        plic.r32(ENABLE + 0x80 * context + 4 * (id as usize / 32)) & (1 << (id % 32)) != 0
    };
    let mut best = (0, threshold);
    for id in 1..=SOURCES {
        let priority = plic.r32(4 * id as usize);
        if plic.pending(id) && enabled(id) && priority > best.1 {
            best = (id, priority);
        }
    }
    best.0
}

fn apply(plic: &Plic, reference: &mut Reference, op: &Op) {
    match *op {
        Op::Level(id, high) => {
            plic.plic.set_level(id, high);
            if Reference::exists(id) {
                reference.level[id as usize] = high;
            }
        }
        Op::Pulse(id) => {
            plic.plic.pulse(id);
            if Reference::exists(id) {
                reference.edge[id as usize] = true;
            }
        }
        Op::Priority(id, priority) => plic.set_priority(id.min(1023), priority),
        Op::Enable(context, word, bits) => plic.w32(ENABLE + 0x80 * context + 4 * word, bits),
        Op::Threshold(context, value) => plic.set_threshold(context, value),
        Op::Claim(context) => {
            let expected = expected_claim(plic, context);
            let claimed = plic.claim(context);
            assert_eq!(claimed, expected, "claim by context {context}");
            if claimed != 0 {
                let i = claimed as usize;
                reference.claimed[i] = true;
                reference.edge[i] = false;
            }
        }
        Op::Complete(context, id) => {
            let enabled = Reference::exists(id)
                && plic.r32(ENABLE + 0x80 * context + 4 * (id as usize / 32)) & (1 << (id % 32))
                    != 0;
            plic.complete(context, id);
            if enabled {
                reference.claimed[id as usize] = false;
            }
        }
        Op::Ignored {
            offset,
            width,
            write,
        } => {
            let before = snapshot(plic);
            match write {
                Some(value) => plic.write(offset, width, value as usize).unwrap(),
                None => assert_eq!(plic.read(offset, width), Ok(0)),
            }
            assert_eq!(
                snapshot(plic),
                before,
                "{offset:#x} {width:?} changed state"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_traffic_keeps_the_plic_rules(ops in proptest::collection::vec(op(), 1..80)) {
        let plic = qemu_plic(VCPUS, SOURCES);
        let mut reference = Reference::new();
        let mut lists: Vec<Vec<VirtualIrq>> = vec![Vec::new(); VCPUS];
        for op in &ops {
            let had: Vec<bool> = (0..VCPUS).map(|vcpu| plic.plic.has_deliverable(vcpu)).collect();
            apply(&plic, &mut reference, op);
            let kicks = plic.kicks.take();
            prop_assert!(plic.plic.state.lock().bests_are_current(), "after {op:?}");
            for id in 1..=SOURCES {
                prop_assert_eq!(plic.pending(id), reference.pending(id), "source {} after {:?}", id, op);
                prop_assert_eq!(plic.plic.state.lock().is_claimed(id), reference.claimed[id as usize]);
            }
            for vcpu in 0..VCPUS {
                let stale = plic.plic.needs_relist(vcpu);
                let list = plic.list(vcpu);
                let deliverable = plic.plic.has_deliverable(vcpu);
                // VSEIP (a non-empty list) is exactly "a deliverable interrupt exists".
                prop_assert_eq!(!list.is_empty(), deliverable);
                if let Some(irq) = list.first() {
                    prop_assert!(!reference.claimed[irq.intid as usize], "a claimed source listed");
                    prop_assert!(reference.pending(irq.intid));
                    prop_assert_eq!(irq.intid, expected_claim(&plic, 2 * vcpu + 1));
                }
                prop_assert!(stale || list == lists[vcpu], "vCPU {} list changed unflagged after {:?}", vcpu, op);
                prop_assert_eq!(kicks.contains(&vcpu), !had[vcpu] && deliverable, "kick of {} after {:?}", vcpu, op);
                lists[vcpu] = list;
            }
        }
    }
}
