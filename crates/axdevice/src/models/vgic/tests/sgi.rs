//! SGI generation: decoding ICC_SGI1R_EL1 and the system-register devices.

use alloc::{sync::Arc, vec::Vec};

use axvm_types::{AccessWidth, AxVmErrorKind, SysRegAddr, VirqState};

use super::{GuestDoes, gic, run};
use crate::{
    devices::AxVmDevices,
    error::DeviceError,
    links::CurrentVcpu,
    models::vgic::{SgiRegister, SgiTargets, aarch64_sysreg_addr},
};

fn targets(value: u64, sender: Option<usize>, vcpus: usize) -> Vec<usize> {
    SgiTargets::decode(value)
        .targets(sender, vcpus)
        .into_iter()
        .collect()
}

#[test]
fn sysreg_addresses_match_the_aarch64_backend() {
    // axvcpu's `sysreg_addr(3, 3, 14, 0, 1)` (CNTPCT_EL0) is 0x0032_f800.
    assert_eq!(aarch64_sysreg_addr(3, 3, 14, 0, 1), SysRegAddr(0x0032_f800));
    assert_eq!(SgiRegister::Sgi1r.addr(), SysRegAddr(0x003a_3016));
    assert_eq!(SgiRegister::Asgi1r.addr(), SysRegAddr(0x003c_3016));
    assert_eq!(SgiRegister::Sgi0r.addr(), SysRegAddr(0x003e_3016));
}

#[test]
fn decodes_every_field() {
    let value =
        (0xa << 48) | (0x3 << 44) | (1 << 40) | (0xb << 32) | (0x7 << 24) | (0xc << 16) | 0x8001;
    assert_eq!(
        SgiTargets::decode(value),
        SgiTargets {
            intid: 7,
            target_list: 0x8001,
            aff: [0xc, 0xb, 0xa],
            range_selector: 3,
            all_but_self: true,
        }
    );
}

#[test]
fn target_lists_select_aff0_within_the_range() {
    assert_eq!(targets(0b1011, Some(0), 4), [0, 1, 3]);
    assert_eq!(targets(0b1_0000, Some(0), 4), [], "Aff0 = 4: no such vCPU");
    assert_eq!(
        targets((1 << 44) | 0b101, None, 20),
        [16, 18],
        "RS = 1: Aff0 16-31"
    );
    assert_eq!(
        targets((1 << 16) | 1, Some(0), 4),
        [],
        "Aff1 = 1 matches nobody"
    );
    assert_eq!(targets((1 << 32) | 1, Some(0), 4), [], "Aff2 = 1");
    assert_eq!(targets((1 << 48) | 1, Some(0), 4), [], "Aff3 = 1");
    assert_eq!(targets((15 << 44) | 0xffff, None, 64), [], "Aff0 240-255");
}

#[test]
fn irm_targets_all_but_the_sender() {
    let irm = (1 << 40) | 0x1;
    assert_eq!(
        targets(irm, Some(1), 4),
        [0, 2, 3],
        "the target list is ignored"
    );
    assert_eq!(targets(irm, Some(0), 1), []);
    assert_eq!(targets(irm, None, 3), [0, 1, 2], "unknown sender: everyone");
    assert_eq!(targets(irm, Some(0), 1000).len(), 63, "at most 64 vCPUs");
}

#[test]
fn send_sgi_makes_the_sgi_pending_on_each_target() {
    let gic = gic(3, 32);
    gic.enable_grp1();
    for vcpu in 0..3 {
        gic.private(vcpu, 3, 0x60);
    }
    gic.kicks.take();
    gic.vgic.send_sgi(Some(0), (3 << 24) | 0b110);
    assert_eq!(gic.kicks.take(), [1, 2]);
    assert_eq!(gic.states(0, 4), []);
    assert_eq!(gic.states(1, 4), [(3, VirqState::Pending)]);
    run(&gic, 1, 4, GuestDoes::Handle);
    assert_eq!(gic.states(1, 4), []);
    assert_eq!(gic.states(2, 4), [(3, VirqState::Pending)]);
    gic.vgic.send_sgi(Some(2), (1 << 40) | (3 << 24));
    assert_eq!(gic.kicks.take(), [0, 1]);
    assert_eq!(gic.sgi32(0, 0x200), 1 << 3, "ISPENDR0 shows it");
}

struct Fixed(usize);

impl CurrentVcpu for Fixed {
    fn current_vcpu(&self) -> Option<usize> {
        Some(self.0)
    }
}

#[test]
fn the_system_register_devices_send_from_the_current_vcpu() {
    let gic = gic(2, 32);
    gic.enable_grp1();
    gic.private(0, 1, 0);
    gic.private(1, 1, 0);
    let mut devices = AxVmDevices::empty();
    gic.vgic.attach(&mut devices).unwrap();
    assert_eq!(devices.iter_sys_reg_dev().len(), 3);
    devices.set_current_vcpu(Arc::new(Fixed(1)));
    let irm = (1 << 40) | (1 << 24);
    for register in SgiRegister::ALL {
        devices
            .handle_sys_reg_write(register.addr(), AccessWidth::Qword, irm)
            .unwrap();
        assert_eq!(gic.states(0, 4), [(1, VirqState::Pending)], "{register:?}");
        assert_eq!(gic.states(1, 4), [], "not to itself");
        run(&gic, 0, 4, GuestDoes::Handle);
    }
    assert!(matches!(
        devices.handle_sys_reg_read(SgiRegister::Sgi1r.addr(), AccessWidth::Qword),
        Err(DeviceError::Device { error, .. }) if error == AxVmErrorKind::Unsupported.into()
    ));
    let neighbour = SysRegAddr(SgiRegister::Sgi1r.addr().addr() + 2);
    assert!(matches!(
        devices.handle_sys_reg_write(neighbour, AccessWidth::Qword, 0),
        Err(DeviceError::Unmapped { .. })
    ));
    assert_eq!(devices.vgic().map(|vgic| vgic.name()), Some("gic"));
    assert!(devices.interrupt_controller().is_some() && devices.irq_sink().is_some());
    assert!(matches!(
        gic.vgic.attach(&mut devices),
        Err(DeviceError::Overlap { .. })
    ));
}

#[test]
fn a_vm_has_one_interrupt_controller() {
    let first = gic(1, 32);
    let mut devices = AxVmDevices::empty();
    devices.set_vgic(first.vgic.clone()).unwrap();
    assert!(matches!(
        devices.set_interrupt_controller("other", first.vgic.clone(), first.vgic.clone()),
        Err(DeviceError::DuplicateInterruptController { .. })
    ));
    let controller = devices.interrupt_controller().unwrap();
    assert!(!controller.has_deliverable(0));
}
