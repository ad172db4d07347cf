use proptest::prelude::*;

use super::{ApicWrite, LocalApic, regs::*};

/// A 1 GHz bus: one timer tick per nanosecond at divide-by-1.
const GHZ: u64 = 1_000_000_000;

fn enabled() -> LocalApic {
    let mut apic = LocalApic::new(1, GHZ);
    apic.write(SVR, 0x1ff, 0);
    apic
}

#[test]
fn reset_state_is_software_disabled_with_every_lvt_masked() {
    let apic = LocalApic::new(3, GHZ);
    assert_eq!(apic.read(ID, 0), 3 << 24);
    assert_eq!(apic.read(VERSION, 0), 0x0005_0014);
    assert_eq!(apic.read(SVR, 0), 0xff);
    assert!(!apic.enabled());
    for lvt in (LVT_TIMER..=LVT_ERROR).step_by(0x10) {
        assert_eq!(apic.read(lvt, 0), LVT_MASKED, "{lvt:#x}");
    }
    assert_eq!(apic.read(DFR, 0), u32::MAX);
}

#[test]
fn a_disabled_apic_delivers_nothing_and_keeps_its_lvts_masked() {
    let mut apic = LocalApic::new(0, GHZ);
    assert!(apic.accept(0x40, false));
    assert_eq!(apic.deliverable(), None);
    apic.write(0x350, 0x0700, 0); // LINT0 ExtINT, unmasked
    assert_eq!(apic.read(0x350, 0), 0x0001_0700);
    apic.write(SVR, 0x1ff, 0);
    assert_eq!(apic.deliverable(), Some(0x40));
    apic.write(0x350, 0x0700, 0);
    assert_eq!(apic.read(0x350, 0), 0x0700);
    apic.write(SVR, 0xff, 0);
    assert_eq!(apic.read(0x350, 0), 0x0001_0700, "disabling masks them");
}

#[test]
fn ppr_and_tpr_gate_delivery_by_priority_class() {
    let mut apic = enabled();
    apic.accept(0x51, false);
    apic.write(TPR, 0x50, 0);
    assert_eq!(
        apic.deliverable(),
        None,
        "class 5 is not above TPR's class 5"
    );
    apic.write(TPR, 0x4f, 0);
    assert_eq!(apic.deliverable(), Some(0x51));
    assert!(apic.acknowledge(0x51));
    assert_eq!(apic.read(PPR, 0), 0x50, "ISR's class wins over a lower TPR");
    apic.accept(0x5f, false);
    assert_eq!(apic.deliverable(), None, "same class as the one in service");
    apic.accept(0x61, false);
    assert_eq!(apic.deliverable(), Some(0x61), "a higher class nests");
    apic.write(TPR, 0x70, 0);
    assert_eq!(apic.read(PPR, 0), 0x70);
    assert_eq!(apic.deliverable(), None);
}

#[test]
fn eoi_ends_the_highest_in_service_and_reports_level_triggered_ones() {
    let mut apic = enabled();
    apic.accept(0x30, true);
    apic.acknowledge(0x30);
    apic.accept(0x80, false);
    apic.acknowledge(0x80);
    assert_eq!(apic.read(ISR + 0x40, 0), 1, "vector 0x80 in ISR word 4");
    assert_eq!(apic.read(TMR + 0x10, 0), 1 << 16, "0x30 level: TMR word 1");
    assert_eq!(
        apic.write(EOI, 0, 0),
        ApicWrite::Eoi {
            vector: 0x80,
            level: false
        }
    );
    assert_eq!(
        apic.write(EOI, 0, 0),
        ApicWrite::Eoi {
            vector: 0x30,
            level: true
        }
    );
    assert_eq!(
        apic.write(EOI, 0, 0),
        ApicWrite::Stored,
        "nothing in service"
    );
    assert!(!apic.acknowledge(0x30), "not pending");
}

#[test]
fn illegal_vectors_show_in_esr_after_a_write() {
    let mut apic = enabled();
    assert!(!apic.accept(0x0f, false));
    assert_eq!(apic.read(ESR, 0), 0, "ESR updates on a write");
    apic.write(ESR, 0, 0);
    assert_eq!(apic.read(ESR, 0), ESR_RECEIVE_ILLEGAL);
    apic.write(ESR, 0, 0);
    assert_eq!(apic.read(ESR, 0), 0);
    assert_eq!(apic.read(IRR, 0), 0);
}

#[test]
fn the_one_shot_timer_counts_down_and_fires_once() {
    let mut apic = enabled();
    apic.write(LVT_TIMER, 0xec, 0);
    apic.write(TIMER_DIVIDE, 0b0000, 0); // divide by 2
    assert_eq!(apic.write(TIMER_INITIAL, 1000, 100), ApicWrite::Timer);
    assert_eq!(apic.read(TIMER_CURRENT, 600), 750);
    assert_eq!(apic.next_deadline(600), Some(2100));
    assert!(!apic.fire_timer(2099));
    assert!(apic.fire_timer(2100));
    assert_eq!(apic.deliverable(), Some(0xec));
    assert_eq!(apic.read(TIMER_CURRENT, 3000), 0);
    assert!(!apic.fire_timer(5000), "stopped");
    assert_eq!(apic.next_deadline(5000), None);
}

#[test]
fn the_periodic_timer_keeps_its_grid() {
    let mut apic = enabled();
    apic.write(TIMER_DIVIDE, 0b1011, 0); // divide by 1
    apic.write(LVT_TIMER, 0x0002_00ec, 0);
    apic.write(TIMER_INITIAL, 100, 0);
    assert_eq!(apic.read(TIMER_CURRENT, 30), 70);
    assert_eq!(apic.read(TIMER_CURRENT, 130), 70);
    assert!(!apic.fire_timer(99));
    assert!(apic.fire_timer(105));
    assert!(!apic.fire_timer(150), "fired for this period already");
    assert_eq!(apic.next_deadline(150), Some(200));
    // Late by several periods: one interrupt, the grid unchanged.
    assert!(apic.fire_timer(1_050));
    assert!(!apic.fire_timer(1_060));
    assert_eq!(apic.next_deadline(1_060), Some(1_100));
    assert!(apic.acknowledge(0xec));
}

#[test]
fn a_masked_timer_counts_without_raising() {
    let mut apic = enabled();
    apic.write(LVT_TIMER, LVT_MASKED | 0xec, 0);
    apic.write(TIMER_INITIAL, 10, 0);
    assert!(apic.fire_timer(100));
    assert_eq!(apic.deliverable(), None);
    // Initial count 0 stops it; TSC-deadline mode (not offered) keeps it stopped.
    apic.write(TIMER_INITIAL, 0, 200);
    assert_eq!(apic.next_deadline(200), None);
    apic.write(LVT_TIMER, 0x0004_00ec, 200);
    apic.write(TIMER_INITIAL, 10, 200);
    assert_eq!(apic.next_deadline(200), None);
}

#[test]
fn every_divide_encoding() {
    for (code, divisor) in [
        (0b0000, 2),
        (0b0001, 4),
        (0b0010, 8),
        (0b0011, 16),
        (0b1000, 32),
        (0b1001, 64),
        (0b1010, 128),
        (0b1011, 1),
    ] {
        let mut apic = enabled();
        apic.write(TIMER_DIVIDE, code, 0);
        apic.write(TIMER_INITIAL, 1000, 0);
        assert_eq!(apic.read(TIMER_CURRENT, divisor * 10), 990, "{code:#b}");
        assert_eq!(apic.read(TIMER_DIVIDE, 0), code);
    }
}

#[test]
fn icr_writes_ask_for_an_ipi() {
    let mut apic = enabled();
    apic.write(ICR_HIGH, 0x0200_0000, 0);
    assert_eq!(
        apic.write(ICR_LOW, 0x0000_4030 | ICR_PENDING, 0),
        ApicWrite::Ipi(0x0200_0000_0000_4030)
    );
    assert_eq!(
        apic.read(ICR_LOW, 0) & ICR_PENDING,
        0,
        "delivery status idle"
    );
    assert_eq!(apic.read(ICR_HIGH, 0), 0x0200_0000);
}

proptest! {
    /// Whatever the guest writes, what is delivered is the highest pending vector and of
    /// a class above PPR's, and no access panics.
    #[test]
    fn delivery_respects_priority(
        ops in proptest::collection::vec((0u32..0x40, any::<u32>(), any::<u8>(), 0u8..4), 1..200)
    ) {
        let mut apic = enabled();
        let mut now = 0u64;
        for (register, value, vector, action) in ops {
            now = now.saturating_add(u64::from(value % 1000));
            match action {
                0 => {
                    let _ = apic.write(register << 4, value, now);
                }
                1 => {
                    let _ = apic.accept(vector, value & 1 != 0);
                }
                2 => {
                    if let Some(taken) = apic.deliverable() {
                        prop_assert!(u32::from(taken) & 0xf0 > apic.read(PPR, now) & 0xf0);
                        prop_assert!(apic.acknowledge(taken));
                    }
                }
                _ => {
                    let _ = apic.fire_timer(now);
                    let _ = apic.read(register << 4, now);
                }
            }
            if let Some(best) = apic.deliverable() {
                for higher in best.saturating_add(1)..=255 {
                    let word = apic.read(IRR + u32::from(higher / 32) * 16, now);
                    prop_assert!(word & (1 << (higher % 32)) == 0 || higher == best);
                }
            }
        }
    }
}
