//! Tests of the bus: examples, then a property test against a linear-scan model.

use alloc::{string::String, sync::Arc, vec::Vec};

use axvm_types::{
    AccessWidth, AxVmErrorKind, AxVmResult, EmulatedDeviceType, GuestPhysAddr, Port, SysRegAddr,
};
use proptest::prelude::*;

use super::*;

/// A device that answers reads with its id and records writes; it fails accesses at its
/// last address so the error path is exercised too.
struct Probe<A> {
    id: usize,
    name: String,
    range: DeviceRange<A>,
    writes: spin::Mutex<Vec<(usize, usize)>>,
}

impl<A: DeviceAddr> Probe<A> {
    fn new(id: usize, start: usize, size: usize) -> Arc<Self> {
        Arc::new(Self {
            id,
            name: alloc::format!("probe{id}"),
            range: DeviceRange::from_raw(start, size).unwrap(),
            writes: spin::Mutex::new(Vec::new()),
        })
    }

    fn fails_at(&self, addr: A) -> bool {
        addr.to_usize() == self.range.end() - 1
    }
}

impl<A: DeviceAddr> BaseDeviceOps<A> for Probe<A> {
    fn emu_type(&self) -> EmulatedDeviceType {
        EmulatedDeviceType::Dummy
    }
    fn address_range(&self) -> DeviceRange<A> {
        self.range
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn handle_read(&self, addr: A, _width: AccessWidth) -> AxVmResult<usize> {
        if self.fails_at(addr) {
            return Err(AxVmErrorKind::Unsupported.into());
        }
        // More bits than any width, so the bus's masking shows.
        Ok(self.id | 0xdead_0000_0000)
    }
    fn handle_write(&self, addr: A, _width: AccessWidth, val: usize) -> AxVmResult {
        if self.fails_at(addr) {
            return Err(AxVmErrorKind::Unsupported.into());
        }
        self.writes.lock().push((addr.to_usize(), val));
        Ok(())
    }
}

#[test]
fn finds_the_device_with_its_window() {
    let mut bus = DeviceBus::<GuestPhysAddr>::new();
    bus.insert(Probe::new(1, 0x1000, 0x100)).unwrap();
    bus.insert(Probe::new(2, 0x3000, 0x1000)).unwrap();
    bus.insert(Probe::new(3, 0x1100, 0x100)).unwrap();
    let (range, device) = bus.find(GuestPhysAddr::from(0x11ff)).unwrap();
    assert_eq!(range, DeviceRange::from_raw(0x1100, 0x100).unwrap());
    assert_eq!(device.name(), "probe3");
    for miss in [0, 0xfff, 0x1200, 0x2fff, 0x4000, usize::MAX] {
        assert!(bus.find(GuestPhysAddr::from(miss)).is_none(), "{miss:#x}");
    }
    let names: Vec<&str> = bus.iter().map(|device| device.name()).collect();
    assert_eq!(names, ["probe1", "probe3", "probe2"]);
    assert_eq!(bus.len(), 3);
}

#[test]
fn overlapping_registration_names_both_devices() {
    let mut bus = DeviceBus::<Port>::new();
    bus.insert(Probe::new(1, 0x3f8, 8)).unwrap();
    let error = bus.insert(Probe::new(2, 0x3f0, 9)).unwrap_err();
    assert_eq!(
        error,
        DeviceError::Overlap {
            kind: "port",
            name: "probe2".into(),
            start: 0x3f0,
            end: 0x3f9,
            existing: "probe1".into(),
            existing_start: 0x3f8,
            existing_end: 0x400,
        }
    );
    assert!(bus.insert(Probe::new(3, 0x3ff, 1)).is_err());
    assert!(bus.insert(Probe::new(4, 0x3f8, 8)).is_err());
    bus.insert(Probe::new(5, 0x400, 1)).unwrap();
    bus.insert(Probe::new(6, 0x3f0, 8)).unwrap();
    assert_eq!(bus.len(), 3);
}

#[test]
fn accesses_are_routed_masked_and_bounded() {
    let mut bus = DeviceBus::<SysRegAddr>::new();
    let probe = Probe::new(7, 0x100, 0x10);
    bus.insert(probe.clone()).unwrap();
    assert_eq!(bus.read(SysRegAddr(0x100), AccessWidth::Byte), Ok(7));
    assert_eq!(
        bus.read(SysRegAddr(0x100), AccessWidth::Qword),
        Ok(0xdead_0000_0007)
    );
    bus.write(SysRegAddr(0x104), AccessWidth::Word, 0x1_2345)
        .unwrap();
    assert_eq!(*probe.writes.lock(), [(0x104, 0x2345)]);
    assert_eq!(
        bus.read(SysRegAddr(0x0ff), AccessWidth::Byte),
        Err(DeviceError::Unmapped {
            kind: "system register",
            addr: 0xff,
            width: AccessWidth::Byte
        })
    );
    // A system register is one address whatever the width: a 64-bit access to the
    // window's last-but-one encoding stays inside it.
    bus.write(SysRegAddr(0x10e), AccessWidth::Qword, 0x5)
        .unwrap();
    assert_eq!(*probe.writes.lock(), [(0x104, 0x2345), (0x10e, 0x5)]);
    let mut ports = DeviceBus::<Port>::new();
    ports.insert(Probe::new(8, 0x3f8, 8)).unwrap();
    assert_eq!(
        ports.write(Port(0x3fe), AccessWidth::Dword, 0),
        Err(DeviceError::CrossesWindow {
            kind: "port",
            name: "probe8".into(),
            addr: 0x3fe,
            width: AccessWidth::Dword,
            end: 0x400,
        })
    );
    assert_eq!(
        bus.read(SysRegAddr(0x10f), AccessWidth::Byte),
        Err(DeviceError::Device {
            kind: "system register",
            name: "probe7".into(),
            addr: 0x10f,
            error: AxVmErrorKind::Unsupported.into(),
        })
    );
}

#[test]
fn removal_frees_the_window() {
    let mut bus = DeviceBus::<GuestPhysAddr>::new();
    bus.insert(Probe::new(1, 0x1000, 0x1000)).unwrap();
    assert!(bus.remove(GuestPhysAddr::from(0x2000)).is_none());
    let removed = bus.remove(GuestPhysAddr::from(0x1800)).unwrap();
    assert_eq!(removed.name(), "probe1");
    assert!(bus.is_empty());
    bus.insert(Probe::new(2, 0x1800, 0x10)).unwrap();
}

/// One step of a random session: register a window, or access an address.
#[derive(Debug, Clone)]
enum Op {
    Insert {
        start: usize,
        size: usize,
    },
    Read {
        addr: usize,
        width: AccessWidth,
    },
    Write {
        addr: usize,
        width: AccessWidth,
        val: usize,
    },
    Remove {
        addr: usize,
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

/// Addresses crowd a small space (so windows collide and accesses hit) and reach the top
/// of the port space (so boundary checks run).
fn op() -> impl Strategy<Value = Op> {
    let addr = prop_oneof![0usize..0x400, 0xff00usize..0x1_0002];
    prop_oneof![
        (addr.clone(), 1usize..0x80).prop_map(|(start, size)| Op::Insert { start, size }),
        (addr.clone(), width()).prop_map(|(addr, width)| Op::Read { addr, width }),
        (addr.clone(), width(), any::<usize>()).prop_map(|(addr, width, val)| Op::Write {
            addr,
            width,
            val
        }),
        addr.prop_map(|addr| Op::Remove { addr }),
    ]
}

/// The model: the registered windows as (start, end, id), searched linearly.
fn model_find(model: &[(usize, usize, usize)], addr: usize) -> Option<(usize, usize, usize)> {
    model
        .iter()
        .copied()
        .find(|&(start, end, _)| start <= addr && addr < end)
}

fn expected_access(
    model: &[(usize, usize, usize)],
    addr: usize,
    width: AccessWidth,
) -> Result<usize, &'static str> {
    let (_, end, id) = model_find(model, addr).ok_or("unmapped")?;
    if addr + width.size() > end {
        Err("crosses")
    } else if addr == end - 1 {
        Err("device")
    } else {
        Ok(id)
    }
}

fn classify<T>(result: Result<T, DeviceError>) -> Result<T, &'static str> {
    result.map_err(|error| match error {
        DeviceError::Unmapped { .. } => "unmapped",
        DeviceError::CrossesWindow { .. } => "crosses",
        DeviceError::Device { .. } => "device",
        _ => "other",
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn bus_agrees_with_a_linear_scan(ops in proptest::collection::vec(op(), 1..200)) {
        let mut bus = DeviceBus::<Port>::new();
        let mut model: Vec<(usize, usize, usize)> = Vec::new();
        for (id, op) in ops.into_iter().enumerate() {
            match op {
                Op::Insert { start, size } => {
                    let Ok(range) = DeviceRange::<Port>::from_raw(start, size) else {
                        // Outside the port space: the range type refuses it.
                        prop_assert!(start + size > 0x1_0000);
                        continue;
                    };
                    let end = range.end();
                    let collides = model.iter().any(|&(s, e, _)| s < end && start < e);
                    let inserted = bus.insert(Probe::new(id, start, size));
                    prop_assert_eq!(inserted.is_ok(), !collides);
                    if !collides {
                        model.push((start, end, id));
                    }
                }
                Op::Read { addr, width } => {
                    let Some(port) = Port::from_usize(addr) else { continue };
                    let expected = expected_access(&model, addr, width)
                        .map(|id| (id | 0xdead_0000_0000) & width_mask(width));
                    prop_assert_eq!(classify(bus.read(port, width)), expected);
                }
                Op::Write { addr, width, val } => {
                    let Some(port) = Port::from_usize(addr) else { continue };
                    let expected = expected_access(&model, addr, width).map(|_| ());
                    prop_assert_eq!(classify(bus.write(port, width, val)), expected);
                }
                Op::Remove { addr } => {
                    let Some(port) = Port::from_usize(addr) else { continue };
                    let expected = model_find(&model, addr);
                    let removed = bus.remove(port).map(|device| device.address_range());
                    prop_assert_eq!(
                        removed.map(|range| (range.start().to_usize(), range.end())),
                        expected.map(|(start, end, _)| (start, end))
                    );
                    model.retain(|&(start, _, _)| Some(start) != expected.map(|e| e.0));
                }
            }
            prop_assert_eq!(bus.len(), model.len());
        }
        let mut starts: Vec<usize> = model.iter().map(|&(start, _, _)| start).collect();
        starts.sort_unstable();
        let bus_starts: Vec<usize> =
            bus.iter_ranges().map(|(range, _)| range.start().to_usize()).collect();
        prop_assert_eq!(bus_starts, starts);
    }
}
