use alloc::sync::Arc;
use core::sync::atomic::{AtomicUsize, Ordering};

use axvm_types::{AccessWidth, Port};
use proptest::prelude::*;

use super::*;
use crate::{addr::DeviceRange, clock::ManualClock};

/// Counts the rising edges driven on line 0.
#[derive(Default)]
struct Edges(AtomicUsize, core::sync::atomic::AtomicBool);

impl IrqSink for Edges {
    fn set_level(&self, line: u32, asserted: bool) {
        assert_eq!(line, 0);
        if asserted && !self.1.swap(true, Ordering::AcqRel) {
            self.0.fetch_add(1, Ordering::AcqRel);
        }
        if !asserted {
            self.1.store(false, Ordering::Release);
        }
    }
}

/// Nanoseconds of `ticks` input-clock ticks, rounded up.
fn ns(ticks: u64) -> u64 {
    nanos(ticks)
}

struct Rig {
    pit: Pit,
    clock: Arc<ManualClock>,
    edges: Arc<Edges>,
}

fn rig() -> Rig {
    let clock = Arc::new(ManualClock::new(0));
    let edges = Arc::new(Edges::default());
    let range = DeviceRange::new(Port(0x40), 0x22).unwrap();
    let pit = Pit::new("pit", range, clock.clone(), Some((edges.clone(), 0)));
    Rig { pit, clock, edges }
}

impl Rig {
    fn out(&self, port: u16, value: u8) {
        self.pit
            .handle_write(Port(port), AccessWidth::Byte, usize::from(value))
            .unwrap();
    }

    fn inb(&self, port: u16) -> u8 {
        u8::try_from(self.pit.handle_read(Port(port), AccessWidth::Byte).unwrap()).unwrap()
    }

    fn at_tick(&self, tick: u64) {
        self.clock.set(ns(tick));
    }
}

#[test]
fn channel_0_periodic_interrupts_follow_the_clock_without_drift() {
    let rig = rig();
    // Linux's PIT clockevent, periodic: channel 0, lo/hi, mode 2, LATCH for HZ=250.
    rig.out(0x43, 0x34);
    rig.out(0x40, 0x9b);
    rig.out(0x40, 0x12); // 0x129b = 4763 ticks
    assert_eq!(rig.pit.next_deadline(), Some(ns(4763)));
    rig.pit.fire_due();
    assert_eq!(rig.edges.0.load(Ordering::Acquire), 0, "nothing due yet");
    rig.at_tick(4763);
    rig.pit.fire_due();
    assert_eq!(rig.edges.0.load(Ordering::Acquire), 1);
    assert_eq!(rig.pit.next_deadline(), Some(ns(2 * 4763)));
    // The host is late by three periods: one pulse, then the next edge on the grid.
    rig.at_tick(5 * 4763 + 7);
    rig.pit.fire_due();
    rig.pit.fire_due();
    assert_eq!(rig.edges.0.load(Ordering::Acquire), 2);
    assert_eq!(rig.pit.next_deadline(), Some(ns(6 * 4763)));
}

#[test]
fn a_one_shot_fires_once() {
    let rig = rig();
    rig.out(0x43, 0x30); // channel 0, lo/hi, mode 0
    rig.out(0x40, 100);
    rig.out(0x40, 0);
    rig.at_tick(1000);
    rig.pit.fire_due();
    rig.pit.fire_due();
    assert_eq!(rig.edges.0.load(Ordering::Acquire), 1);
    assert_eq!(rig.pit.next_deadline(), None);
}

#[test]
fn linux_quick_pit_calibration_reads_a_falling_msb() {
    let rig = rig();
    // quick_pit_calibrate: gate 2 on, speaker off; channel 2 mode 0 with 0xffff.
    rig.out(0x61, (rig.inb(0x61) & !0x02) | 0x01);
    rig.out(0x43, 0xb0);
    rig.out(0x42, 0xff);
    rig.out(0x42, 0xff);
    let msb_at = |tick: u64| {
        rig.at_tick(tick);
        let _low = rig.inb(0x42);
        rig.inb(0x42)
    };
    assert_eq!(msb_at(10), 0xff);
    assert_eq!(msb_at(256 + 10), 0xfe);
    assert_eq!(msb_at(10 * 256 + 10), 0xf5);
}

#[test]
fn port_61_shows_out2_and_toggles_refresh() {
    let rig = rig();
    // pit_calibrate_tsc: gate high, mode 0, a count of 1000, then poll OUT2 (bit 5).
    rig.out(0x61, 0x01);
    rig.out(0x43, 0xb0);
    rig.out(0x42, 0xe8);
    rig.out(0x42, 0x03);
    rig.at_tick(999);
    let first = rig.inb(0x61);
    assert_eq!(first & 0x20, 0);
    rig.at_tick(1000);
    let second = rig.inb(0x61);
    assert_ne!(second & 0x20, 0);
    assert_ne!(first & 0x10, second & 0x10, "refresh toggles");
    assert_eq!(second & 0x03, 0x01, "gate on, speaker off");
    // Gate low stops channel 2.
    rig.out(0x61, 0x00);
    rig.out(0x43, 0x80); // latch channel 2
    let low = rig.inb(0x42);
    rig.at_tick(5000);
    rig.out(0x43, 0x80);
    assert_eq!(rig.inb(0x42), low);
}

#[test]
fn read_back_latches_status_and_count_of_the_selected_counters() {
    let rig = rig();
    rig.out(0x43, 0x74); // channel 1, lo/hi, mode 2
    rig.out(0x41, 0x00);
    rig.out(0x41, 0x10);
    rig.at_tick(0x100);
    rig.out(0x43, 0xc4); // read-back, counts and status, counter 1
    assert_eq!(
        rig.inb(0x41),
        0b1011_0100,
        "OUT high, loaded, lo/hi, mode 2"
    );
    assert_eq!((rig.inb(0x41), rig.inb(0x41)), (0x00, 0x0f));
}

#[test]
fn odd_accesses_fail_or_read_zero() {
    let rig = rig();
    assert!(rig.pit.handle_read(Port(0x40), AccessWidth::Word).is_err());
    assert!(
        rig.pit
            .handle_write(Port(0x43), AccessWidth::Dword, 0)
            .is_err()
    );
    assert_eq!(rig.inb(0x50), 0);
    rig.out(0x50, 0xff);
    assert_eq!(rig.pit.next_deadline(), None, "nothing programmed");
    // BCD is counted in binary, and reported.
    rig.out(0x43, 0x31);
    rig.out(0x43, 0xe2);
    assert_eq!(rig.inb(0x40) & 0x0f, 0x01);
}

proptest! {
    #[test]
    fn no_access_panics_and_counts_stay_in_range(
        ops in proptest::collection::vec((0x40u16..0x62, any::<u8>(), any::<bool>(), 0u64..100_000), 1..200)
    ) {
        let rig = rig();
        let mut tick = 0u64;
        for (port, value, write, step) in ops {
            tick = tick.saturating_add(step);
            rig.at_tick(tick);
            if write {
                rig.out(port, value);
            } else {
                let _ = rig.inb(port);
            }
            rig.pit.fire_due();
            // Whatever was due has been raised: the next edge lies ahead.
            if let Some(deadline) = rig.pit.next_deadline() {
                prop_assert!(deadline > ns(tick));
            }
            for port in 0x40..0x43 {
                rig.out(0x43, u8::try_from(port - 0x40).unwrap() << 6);
                let _ = (rig.inb(port), rig.inb(port));
            }
        }
    }
}
