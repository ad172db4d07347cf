//! The GICv3 delivery rules, through lists and syncs.

use alloc::{vec, vec::Vec};

use axvm_types::{AccessWidth, VirqState, VirtualIrq};

use super::{GuestDoes, SGI_FRAME, gic, run};
use crate::irq::{IrqSink, VirtualInterruptController};

use VirqState::{Active, Inactive, Pending, PendingActive};

#[test]
fn a_level_spi_is_listed_while_its_line_is_high() {
    let gic = gic(1, 32);
    gic.enable_grp1();
    gic.spi(33, 0, false, 0xa0);
    assert_eq!(gic.list(0, 4), (vec![], false));
    gic.vgic.set_level(33, true);
    let (list, more) = gic.list(0, 4);
    assert!(!more);
    assert_eq!(
        list,
        [VirtualIrq {
            intid: 33,
            priority: 0xa0,
            state: Pending,
            hw_intid: None,
            notify_eoi: true,
        }]
    );
    gic.vgic.set_level(33, false);
    assert_eq!(gic.states(0, 4), [], "lowered before the guest took it");
}

#[test]
fn a_level_spi_is_asserted_again_after_eoi_while_the_line_stays_high() {
    let gic = gic(1, 32);
    gic.enable_grp1();
    gic.spi(33, 0, false, 0xa0);
    gic.vgic.set_level(33, true);
    run(&gic, 0, 4, GuestDoes::Acknowledge);
    assert_eq!(
        gic.states(0, 4),
        [(33, Active)],
        "active only: re-sampled at the EOI"
    );
    assert_eq!(gic.d32(0x304) & 0x2, 0x2, "ISACTIVER shows it");
    run(&gic, 0, 4, GuestDoes::Deactivate);
    assert_eq!(
        gic.states(0, 4),
        [(33, Pending)],
        "still high: pending again"
    );
    gic.vgic.set_level(33, false);
    run(&gic, 0, 4, GuestDoes::Handle);
    assert_eq!(gic.states(0, 4), []);
    assert!(!gic.vgic.has_deliverable(0));
}

#[test]
fn software_pending_of_a_level_spi_is_consumed_by_the_acknowledge() {
    let gic = gic(1, 32);
    gic.enable_grp1();
    gic.spi(40, 0, false, 0x10);
    gic.set_d32(0x204, 1 << 8);
    assert_eq!(gic.states(0, 4), [(40, Pending)]);
    run(&gic, 0, 4, GuestDoes::Handle);
    assert_eq!(gic.states(0, 4), []);
    assert_eq!(gic.d32(0x204), 0);
}

#[test]
fn an_edge_is_latched_and_consumed_once() {
    let gic = gic(1, 32);
    gic.enable_grp1();
    gic.spi(34, 0, true, 0x20);
    gic.vgic.pulse(34);
    let given = run(&gic, 0, 4, GuestDoes::Nothing);
    assert_eq!(
        given.first().map(|irq| irq.notify_eoi),
        Some(false),
        "edges need no EOI exit"
    );
    assert_eq!(
        gic.states(0, 4),
        [(34, Pending)],
        "not taken: still pending"
    );
    run(&gic, 0, 4, GuestDoes::Handle);
    assert_eq!(gic.states(0, 4), []);
}

#[test]
fn an_edge_while_active_becomes_pending_and_active() {
    let gic = gic(1, 32);
    gic.enable_grp1();
    gic.spi(34, 0, true, 0x20);
    gic.vgic.pulse(34);
    run(&gic, 0, 4, GuestDoes::Acknowledge);
    assert_eq!(gic.states(0, 4), [(34, Active)]);
    gic.vgic.pulse(34);
    assert_eq!(gic.states(0, 4), [(34, PendingActive)]);
    run(&gic, 0, 4, GuestDoes::Deactivate);
    assert_eq!(gic.states(0, 4), [(34, Pending)]);
    run(&gic, 0, 4, GuestDoes::Handle);
    assert_eq!(gic.states(0, 4), []);
}

#[test]
fn an_edge_while_listed_pending_is_never_lost() {
    let gic = gic(1, 32);
    gic.enable_grp1();
    gic.spi(34, 0, true, 0x20);
    gic.vgic.pulse(34);
    let (given, _) = gic.list(0, 4);
    // The guest acknowledges it; a second edge arrives before the exit.
    gic.vgic.pulse(34);
    let reported = [VirtualIrq {
        state: Active,
        ..given[0]
    }];
    gic.vgic.sync_from_vcpu(0, &reported);
    assert_eq!(gic.states(0, 4), [(34, PendingActive)]);
}

#[test]
fn disabled_and_group_disabled_interrupts_are_not_delivered() {
    let gic = gic(1, 32);
    gic.spi(33, 0, false, 0);
    gic.vgic.set_level(33, true);
    assert_eq!(gic.states(0, 4), [], "GICD_CTLR.EnableGrp1 clear");
    assert!(!gic.vgic.has_deliverable(0));
    gic.enable_grp1();
    assert_eq!(gic.states(0, 4), [(33, Pending)]);
    assert!(gic.vgic.has_deliverable(0));
    gic.set_d32(0x184, 1 << 1);
    assert_eq!(gic.states(0, 4), [], "disabled");
    gic.set_d32(0x104, 1 << 1);
    gic.set_d32(0x84, 0);
    assert_eq!(gic.states(0, 4), [], "group 0");
    gic.set_d32(0x84, 0xffff_ffff);
    assert_eq!(gic.states(0, 4), [(33, Pending)]);
}

#[test]
fn an_active_interrupt_stays_listed_when_disabled() {
    let gic = gic(1, 32);
    gic.enable_grp1();
    gic.spi(34, 0, true, 0);
    gic.vgic.pulse(34);
    run(&gic, 0, 4, GuestDoes::Acknowledge);
    gic.set_d32(0x184, 1 << 2);
    gic.vgic.pulse(34);
    assert_eq!(
        gic.states(0, 4),
        [(34, Active)],
        "the guest must be able to end it"
    );
}

#[test]
fn lists_put_active_first_then_priority_then_intid() {
    let gic = gic(1, 64);
    gic.enable_grp1();
    gic.spi(40, 0, true, 0x80);
    gic.spi(41, 0, true, 0x40);
    gic.spi(42, 0, true, 0x40);
    gic.spi(90, 0, true, 0x10);
    gic.private(0, 27, 0x40);
    gic.vgic.pulse(90);
    run(&gic, 0, 4, GuestDoes::Acknowledge);
    for spi in [40, 41, 42] {
        gic.vgic.pulse(spi);
    }
    gic.vgic.set_ppi_level(0, 27, true);
    assert_eq!(
        gic.states(0, 8),
        [
            (90, Active),
            (27, Pending),
            (41, Pending),
            (42, Pending),
            (40, Pending)
        ]
    );
}

#[test]
fn irouter_routes_spis_to_one_vcpu() {
    let gic = gic(3, 32);
    gic.enable_grp1();
    gic.spi(33, 2, false, 0);
    gic.kicks.take();
    gic.vgic.set_level(33, true);
    assert_eq!(gic.kicks.take(), [2]);
    assert_eq!(gic.states(0, 4), []);
    assert_eq!(gic.states(2, 4), [(33, Pending)]);
    assert!(gic.vgic.has_deliverable(2) && !gic.vgic.has_deliverable(0));
    // Re-routed while vCPU 2's list holds it: it stays there until vCPU 2 gives it back.
    gic.d_write(0x6000 + 8 * 33, AccessWidth::Qword, 1).unwrap();
    assert_eq!(gic.kicks.take(), [1, 2], "the new target and the holder");
    assert_eq!(gic.states(1, 4), [], "held by vCPU 2");
    gic.vgic.sync_from_vcpu(2, &[]);
    assert_eq!(gic.states(2, 4), []);
    assert_eq!(gic.states(1, 4), [(33, Pending)]);
    // IRM = 1: "any PE" is vCPU 0; an affinity no vCPU has: nobody.
    gic.vgic.sync_from_vcpu(1, &[]);
    gic.d_write(0x6000 + 8 * 33, AccessWidth::Qword, 1 << 31)
        .unwrap();
    assert_eq!(gic.states(0, 4), [(33, Pending)]);
    gic.vgic.sync_from_vcpu(0, &[]);
    gic.d_write(0x6000 + 8 * 33, AccessWidth::Qword, 0x100)
        .unwrap();
    for vcpu in 0..3 {
        assert_eq!(gic.states(vcpu, 4), [], "Aff1 = 1 matches no vCPU");
    }
}

#[test]
fn an_active_spi_belongs_to_the_vcpu_that_acknowledged_it() {
    let gic = gic(2, 32);
    gic.enable_grp1();
    gic.spi(34, 0, true, 0);
    gic.vgic.pulse(34);
    run(&gic, 0, 4, GuestDoes::Acknowledge);
    gic.d_write(0x6000 + 8 * 34, AccessWidth::Qword, 1).unwrap();
    gic.vgic.pulse(34);
    assert_eq!(
        gic.states(1, 4),
        [],
        "its pending part waits for the deactivation"
    );
    assert_eq!(gic.states(0, 4), [(34, PendingActive)]);
    run(&gic, 0, 4, GuestDoes::Deactivate);
    assert_eq!(gic.states(0, 4), []);
    assert_eq!(gic.states(1, 4), [(34, Pending)]);
}

#[test]
fn ppis_are_per_vcpu_and_the_timer_can_be_hardware_linked() {
    let gic = gic(2, 32);
    gic.enable_grp1();
    gic.private(1, 27, 0xa0);
    gic.vgic.set_hw_linked(1, 27, true).unwrap();
    gic.kicks.take();
    gic.vgic.set_ppi_level(1, 27, true);
    assert_eq!(gic.kicks.take(), [1]);
    assert_eq!(gic.states(0, 4), []);
    let (list, _) = gic.list(1, 4);
    assert_eq!(
        list,
        [VirtualIrq {
            intid: 27,
            priority: 0xa0,
            state: Pending,
            hw_intid: Some(27),
            notify_eoi: false,
        }]
    );
    gic.vgic.sync_from_vcpu(
        1,
        &[VirtualIrq {
            state: Inactive,
            ..list[0]
        }],
    );
    assert_eq!(
        gic.states(1, 4),
        [],
        "handled: the line is the hardware's now"
    );
    gic.vgic.set_ppi_level(1, 27, true);
    assert_eq!(gic.states(1, 4), [(27, Pending)], "the next expiry");
    assert!(gic.vgic.set_hw_linked(0, 32, true).is_err());
    assert!(gic.vgic.set_hw_linked(2, 27, true).is_err());
    gic.vgic.set_ppi_level(0, 33, true);
    gic.vgic.set_ppi_level(5, 27, true);
    gic.vgic.set_level(27, true);
    gic.vgic.set_level(64, true);
    assert_eq!(gic.states(0, 4), [], "lines that do not exist are ignored");
}

#[test]
fn lr_overflow_reports_more_and_loses_nothing() {
    let gic = gic(1, 32);
    gic.enable_grp1();
    for spi in 32..40 {
        gic.spi(spi, 0, true, 0x80);
        gic.vgic.pulse(u32::try_from(spi).unwrap());
    }
    let mut handled = Vec::new();
    loop {
        let remaining = 8 - handled.len();
        let (given, more) = gic.list(0, 3);
        assert_eq!(more, remaining > 3);
        assert_eq!(given.len(), remaining.min(3));
        let reported: Vec<VirtualIrq> = given
            .iter()
            .map(|irq| VirtualIrq {
                state: Inactive,
                ..*irq
            })
            .collect();
        gic.vgic.sync_from_vcpu(0, &reported);
        handled.extend(given.iter().map(|irq| irq.intid));
        if given.is_empty() {
            break;
        }
    }
    assert_eq!(
        handled,
        (32..40).collect::<Vec<_>>(),
        "each exactly once, by INTID"
    );
}

#[test]
fn a_list_never_synced_is_taken_back_unchanged() {
    let gic = gic(1, 32);
    gic.enable_grp1();
    gic.spi(34, 0, true, 0);
    gic.vgic.pulse(34);
    assert_eq!(gic.states(0, 4), [(34, Pending)]);
    assert_eq!(gic.states(0, 4), [(34, Pending)], "listed again, not lost");
    gic.vgic.sync_from_vcpu(
        0,
        &[VirtualIrq {
            intid: 99,
            ..Default::default()
        }],
    );
    assert_eq!(
        gic.states(0, 4),
        [(34, Pending)],
        "unknown reports are ignored"
    );
}

#[test]
fn software_active_and_clear_from_registers() {
    let gic = gic(1, 32);
    gic.enable_grp1();
    gic.spi(33, 0, false, 0);
    gic.set_d32(0x304, 1 << 1);
    assert_eq!(gic.states(0, 4), [(33, Active)]);
    gic.set_d32(0x384, 1 << 1);
    assert_eq!(gic.states(0, 4), []);
    gic.set_sgi32(0, 0x300, 1 << 5);
    gic.set_sgi32(0, 0x100, 1 << 5);
    assert_eq!(gic.states(0, 4), [(5, Active)]);
    gic.r_write(0, SGI_FRAME + 0x380, AccessWidth::Dword, 1 << 5)
        .unwrap();
    assert_eq!(gic.states(0, 4), []);
}

#[test]
fn notifications_name_the_vcpus_that_should_look() {
    let gic = gic(2, 32);
    gic.spi(33, 1, false, 0);
    gic.vgic.set_level(33, true);
    assert_eq!(gic.kicks.take(), [], "group 1 still disabled");
    gic.enable_grp1();
    assert_eq!(gic.kicks.take(), [0, 1], "CTLR: everyone");
    gic.d_write(0x421, AccessWidth::Byte, 0x30).unwrap();
    assert_eq!(gic.kicks.take(), [1], "priority of a deliverable interrupt");
    gic.d_write(0x421, AccessWidth::Byte, 0x30).unwrap();
    assert_eq!(gic.kicks.take(), [], "no change");
    gic.set_sgi32(0, 0x100, 1 << 3);
    gic.set_sgi32(0, 0x200, 1 << 3);
    assert_eq!(gic.kicks.take(), [0]);
    let _ = gic.list(1, 4);
    gic.vgic.set_level(33, false);
    assert_eq!(gic.kicks.take(), [1], "its list holds a stale entry");
    gic.vgic.sync_from_vcpu(1, &[]);
    assert_eq!(
        gic.kicks.take(),
        [],
        "a vCPU is not told about its own sync"
    );
}

#[test]
fn a_notifier_may_call_back_into_the_gic() {
    use alloc::sync::Arc;

    use super::super::{VGic, VGicConfig};
    use crate::irq::VcpuNotifier;

    /// Asks the GIC what to load from inside the notification, as a host that handles
    /// its own vCPU at once would.
    struct Reentrant(spin::Mutex<Option<Arc<VGic>>>, spin::Mutex<usize>);

    impl VcpuNotifier for Reentrant {
        fn notify(&self, vcpu: usize) {
            let gic = self.0.lock().clone();
            if let Some(gic) = gic {
                let mut out = Vec::new();
                gic.irqs_for_vcpu(vcpu, 4, &mut out);
                *self.1.lock() += out.len();
            }
        }
    }

    let notifier = Arc::new(Reentrant(spin::Mutex::new(None), spin::Mutex::new(0)));
    let config = VGicConfig::new(0x0800_0000.into(), 0x080a_0000.into(), 1, 32);
    let vgic = Arc::new(VGic::new("gic", config, Some(notifier.clone())).unwrap());
    *notifier.0.lock() = Some(vgic.clone());
    let gicd = super::super::GicDistributor::new(vgic.clone());
    use crate::traits::BaseDeviceOps;
    let write = |offset: usize, val: usize| {
        gicd.handle_write((0x0800_0000 + offset).into(), AccessWidth::Dword, val)
            .unwrap();
    };
    write(0, 2);
    write(0x104, 1 << 1);
    vgic.set_level(33, true);
    assert_eq!(
        *notifier.1.lock(),
        1,
        "no deadlock, and it saw the interrupt"
    );
    // Break the cycle notifier -> GIC -> notifier.
    *notifier.0.lock() = None;
}

#[test]
fn a_list_stays_current_until_the_state_changes() {
    let gic = gic(2, 32);
    assert!(gic.vgic.needs_relist(0), "never listed");
    gic.enable_grp1();
    gic.spi(33, 0, false, 0xa0);
    let _ = gic.list(0, 4);
    assert!(!gic.vgic.needs_relist(0));
    assert!(gic.vgic.needs_relist(1), "vCPU 1 has no list yet");
    // Reading registers changes nothing.
    let _ = gic.d32(0);
    assert!(!gic.vgic.needs_relist(0));
    gic.vgic.set_level(33, true);
    assert!(gic.vgic.needs_relist(0), "a line moved");
    let (list, _) = gic.list(0, 4);
    assert_eq!(list.len(), 1);
    assert!(!gic.vgic.needs_relist(0));
    gic.vgic.sync_from_vcpu(
        0,
        &[VirtualIrq {
            state: Active,
            ..list[0]
        }],
    );
    assert!(gic.vgic.needs_relist(0), "the guest took it");
}
