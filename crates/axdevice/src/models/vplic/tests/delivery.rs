//! The PLIC's delivery rules: claims by priority, threshold and enable, the gateways,
//! completions, per-context isolation, and what the run loop and the host are told.

use alloc::{vec, vec::Vec};

use axvm_types::{VirqState, VirtualIrq};

use super::{CONTEXT, ENABLE, Plic, plic, qemu_plic};
use crate::irq::{IrqSink, VirtualInterruptController};

/// Sources 3, 5, 7, 9 at priorities 2, 5, 5, 1, all asserted and enabled in context 0.
fn four_sources() -> Plic {
    let plic = plic(1, 31);
    for (id, priority) in [(3, 2), (5, 5), (7, 5), (9, 1)] {
        plic.set_priority(id, priority);
        plic.plic.set_level(id, true);
    }
    plic.enable(0, &[3, 5, 7, 9]);
    plic
}

#[test]
fn claims_go_by_priority_then_lowest_id() {
    let plic = four_sources();
    let claims: Vec<u32> = (0..5).map(|_| plic.claim(0)).collect();
    assert_eq!(claims, [5, 7, 3, 9, 0], "5 and 7 tie: 5 first");
}

#[test]
fn the_threshold_masks_priorities_at_or_below_it() {
    let plic = four_sources();
    plic.set_threshold(0, 5);
    assert_eq!(plic.claim(0), 0, "priority 5 is not above threshold 5");
    assert_eq!(plic.listed(0), None);
    plic.set_threshold(0, 4);
    assert_eq!(plic.claim(0), 5);
    plic.set_threshold(0, 7);
    assert_eq!(plic.claim(0), 0, "threshold 7 masks everything");
}

#[test]
fn priority_zero_never_interrupts() {
    let plic = plic(1, 31);
    plic.enable(0, &[4]);
    plic.plic.set_level(4, true);
    assert!(plic.pending(4), "pending, but");
    assert_eq!(plic.claim(0), 0);
    assert!(!plic.plic.has_deliverable(0));
    plic.set_priority(4, 1);
    assert!(plic.plic.has_deliverable(0));
    plic.set_priority(4, 0);
    assert!(!plic.plic.has_deliverable(0), "back to 0");
}

#[test]
fn only_enabled_sources_are_claimed() {
    let plic = plic(1, 63);
    plic.set_priority(40, 1);
    plic.plic.set_level(40, true);
    assert_eq!(plic.claim(0), 0);
    plic.enable(0, &[40]);
    assert_eq!(plic.claim(0), 40);
}

#[test]
fn a_claim_clears_pending_and_holds_the_source_until_completed() {
    let plic = plic(2, 31);
    plic.set_priority(10, 1);
    plic.enable(0, &[10]);
    plic.enable(1, &[10]);
    plic.plic.set_level(10, true);
    assert_eq!(plic.claim(1), 10);
    assert!(
        !plic.pending(10),
        "claimed: not pending although the line is high"
    );
    assert_eq!(plic.claim(0), 0, "nobody else gets it");
    assert_eq!(plic.claim(1), 0, "nor the claimer again");
    plic.plic.set_level(10, false);
    plic.plic.set_level(10, true);
    assert!(!plic.pending(10), "not re-signalled while claimed");
    plic.complete(1, 10);
    assert!(
        plic.pending(10),
        "still asserted at the completion: pending again"
    );
    assert_eq!(plic.claim(0), 10);
    plic.plic.set_level(10, false);
    plic.complete(0, 10);
    assert!(!plic.pending(10), "lowered before the completion: done");
    assert_eq!(plic.claim(0), 0);
}

#[test]
fn a_level_that_falls_before_the_claim_is_not_pending() {
    let plic = plic(1, 31);
    plic.set_priority(10, 1);
    plic.enable(0, &[10]);
    plic.plic.set_level(10, true);
    plic.plic.set_level(10, false);
    assert!(!plic.pending(10));
    assert_eq!(plic.claim(0), 0);
}

#[test]
fn an_edge_latches_pending_once() {
    let plic = plic(1, 31);
    plic.set_priority(6, 1);
    plic.enable(0, &[6]);
    plic.plic.pulse(6);
    plic.plic.pulse(6);
    assert!(
        plic.pending(6),
        "the line is low again, the edge is latched"
    );
    assert_eq!(plic.claim(0), 6);
    plic.complete(0, 6);
    assert_eq!(
        plic.claim(0),
        0,
        "two edges before the claim: one interrupt"
    );
    plic.plic.pulse(6);
    assert_eq!(plic.claim(0), 6);
    plic.plic.pulse(6);
    plic.plic.pulse(6);
    assert_eq!(plic.claim(0), 0, "claimed: not re-signalled");
    plic.complete(0, 6);
    assert_eq!(
        plic.claim(0),
        6,
        "the edges that came meanwhile: one interrupt"
    );
    plic.complete(0, 6);
    assert_eq!(plic.claim(0), 0);
}

#[test]
fn completions_of_unclaimed_or_disabled_sources_are_ignored() {
    let plic = plic(2, 31);
    plic.set_priority(8, 1);
    plic.enable(0, &[8]);
    plic.plic.set_level(8, true);
    plic.complete(0, 8);
    assert!(
        plic.pending(8),
        "a completion without a claim changes nothing"
    );
    assert_eq!(plic.claim(0), 8);
    plic.complete(1, 8);
    assert_eq!(plic.claim(0), 0, "context 1 does not enable 8: ignored");
    for id in [0, 32, 1023, u32::MAX] {
        plic.complete(0, id);
    }
    assert_eq!(plic.claim(0), 0, "still claimed");
    plic.complete(0, 8);
    assert_eq!(plic.claim(0), 8);
    // Disabling a claimed source makes its completion ignored, as Linux knows: it
    // enables the source around the completion of a disabled interrupt.
    plic.enable(0, &[]);
    plic.complete(0, 8);
    plic.enable(0, &[8]);
    assert_eq!(
        plic.claim(0),
        0,
        "the completion while disabled was ignored"
    );
    plic.complete(0, 8);
    assert_eq!(plic.claim(0), 8);
}

#[test]
fn contexts_are_isolated() {
    let plic = plic(2, 63);
    for id in [2, 3, 40] {
        plic.set_priority(id, 3);
        plic.plic.set_level(id, true);
    }
    plic.enable(0, &[2, 40]);
    plic.enable(1, &[3, 40]);
    plic.set_threshold(1, 3);
    assert_eq!(plic.listed(0), Some(2));
    assert_eq!(
        plic.listed(1),
        None,
        "context 1's threshold masks its sources"
    );
    assert_eq!(plic.claim(1), 0);
    assert_eq!(plic.claim(0), 2);
    assert_eq!(plic.claim(0), 40);
    assert_eq!(plic.claim(0), 0, "3 is not context 0's");
    plic.set_threshold(1, 0);
    assert_eq!(plic.claim(1), 3);
    assert_eq!(plic.r32(CONTEXT), 0, "context 0's threshold is its own");
    assert_eq!(plic.r32(ENABLE), 1 << 2);
}

#[test]
fn a_vcpu_is_given_its_contexts_best_source_as_one_pending_interrupt() {
    let plic = four_sources();
    assert_eq!(
        plic.list(0),
        vec![VirtualIrq {
            intid: 5,
            priority: 2,
            state: VirqState::Pending,
            hw_intid: None,
            notify_eoi: false,
        }],
        "priority 5 of 7 is urgency 2 (lower is more urgent)"
    );
    let mut out = vec![VirtualIrq::default(); 3];
    assert!(
        plic.plic.irqs_for_vcpu(0, 0, &mut out),
        "no slot: more than fits"
    );
    assert!(out.is_empty());
    assert!(!plic.plic.irqs_for_vcpu(0, 4, &mut out));
    assert_eq!(
        out.len(),
        1,
        "one interrupt stands for all: VSEIP is one bit"
    );
    assert!(!plic.plic.irqs_for_vcpu(1, 1, &mut out), "no vCPU 1");
    assert!(out.is_empty());
    assert!(!plic.plic.has_deliverable(1));
    for expected in [7, 3, 9] {
        plic.claim(0);
        assert_eq!(plic.listed(0), Some(expected));
    }
    plic.claim(0);
    assert!(plic.list(0).is_empty());
    assert!(!plic.plic.has_deliverable(0));
    plic.plic.sync_from_vcpu(0, &[]);
    assert!(plic.list(0).is_empty(), "a sync takes nothing back");
}

/// A named change a test applies to a PLIC.
type Step<'a> = (&'a str, &'a dyn Fn(&Plic));

/// Lists vCPU `vcpu` and says whether it needed it.
fn relisted(plic: &Plic, vcpu: usize) -> bool {
    let stale = plic.plic.needs_relist(vcpu);
    plic.list(vcpu);
    stale
}

#[test]
fn every_change_of_what_a_context_sees_makes_its_list_stale() {
    let plic = plic(2, 31);
    assert!(relisted(&plic, 0) && relisted(&plic, 1), "never listed");
    assert!(!relisted(&plic, 0));
    plic.set_priority(4, 1);
    plic.set_priority(5, 2);
    plic.plic.set_level(4, true);
    assert!(!relisted(&plic, 0), "not enabled: nothing it sees changed");
    let steps: [Step; 8] = [
        ("enable", &|p| p.enable(0, &[4, 5])),
        ("line", &|p| p.plic.set_level(5, true)),
        ("priority", &|p| p.set_priority(5, 3)),
        ("threshold", &|p| p.set_threshold(0, 3)),
        ("threshold back", &|p| p.set_threshold(0, 0)),
        ("claim", &|p| assert_eq!(p.claim(0), 5)),
        ("claim again", &|p| assert_eq!(p.claim(0), 4)),
        ("complete", &|p| p.complete(0, 4)),
    ];
    for (what, step) in steps {
        step(&plic);
        assert!(plic.plic.needs_relist(0), "{what}");
        assert!(
            !plic.plic.needs_relist(1),
            "{what}: vCPU 1 sees nothing of it"
        );
        plic.list(0);
        assert!(!plic.plic.needs_relist(0), "{what}: listed");
    }
    for offset in [0x10, 0x1000, 0x2000, 0x20_0000, 0x1ffc] {
        plic.r32(offset);
    }
    plic.set_priority(9, 1);
    plic.complete(0, 4);
    assert!(
        !plic.plic.needs_relist(0),
        "reads and changes it cannot see"
    );
    assert!(
        plic.plic.needs_relist(7),
        "no vCPU 7: always recomputed (to nothing)"
    );
}

#[test]
fn the_host_hears_of_vcpus_that_gain_a_deliverable_source() {
    let plic = plic(2, 31);
    plic.set_priority(1, 1);
    plic.set_priority(2, 2);
    plic.enable(1, &[1, 2]);
    assert!(plic.kicks.take().is_empty());
    plic.plic.set_level(1, true);
    assert_eq!(plic.kicks.take(), [1], "vCPU 1 gained source 1");
    plic.plic.set_level(2, true);
    assert!(plic.kicks.take().is_empty(), "it had one already");
    assert_eq!(plic.listed(1), Some(2), "but its list changed");
    plic.claim(1);
    plic.claim(1);
    assert!(plic.kicks.take().is_empty(), "claims only take away");
    plic.complete(1, 2);
    assert_eq!(plic.kicks.take(), [1], "still asserted at the completion");
    plic.set_threshold(1, 7);
    plic.set_threshold(1, 0);
    assert_eq!(plic.kicks.take(), [1], "unmasked again");
    plic.enable(0, &[1, 2]);
    assert_eq!(plic.kicks.take(), [0], "source 2 is pending for vCPU 0 too");
}

#[test]
fn machine_contexts_reach_no_vcpu() {
    let plic = qemu_plic(2, 31);
    plic.set_priority(10, 1);
    plic.enable(2, &[10]);
    plic.plic.set_level(10, true);
    assert!(plic.kicks.take().is_empty(), "context 2 is hart 1's M-mode");
    assert!(!plic.plic.has_deliverable(1));
    plic.enable(3, &[10]);
    assert_eq!(plic.kicks.take(), [1], "context 3 is hart 1's S-mode");
    assert_eq!(plic.listed(1), Some(10));
    assert_eq!(plic.listed(0), None);
    assert_eq!(plic.claim(3), 10);
    assert!(!plic.plic.has_deliverable(1));
}
