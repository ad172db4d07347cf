//! Tests of the vGIC through its public faces: the MMIO and system-register devices, the
//! line sinks, and the per-vCPU lists, with a small guest model that acknowledges and
//! deactivates what it is given.

mod delivery;
mod distributor;
mod properties;
mod redistributor;
mod sgi;

use alloc::{sync::Arc, vec::Vec};

use axvm_types::{AccessWidth, AxVmResult, GuestPhysAddr, VirqState, VirtualIrq};

use super::{GicDistributor, GicRedistributors, VGic, VGicConfig};
pub(super) use crate::testing::Kicks;
use crate::{irq::VirtualInterruptController, traits::BaseDeviceOps};

pub(super) const GICD: usize = 0x0800_0000;
pub(super) const GICR: usize = 0x080a_0000;
pub(super) const SGI_FRAME: usize = 0x1_0000;
pub(super) const STRIDE: usize = 0x2_0000;

/// A GIC with its devices and a record of its notifications.
pub(super) struct Gic {
    pub(super) vgic: Arc<VGic>,
    pub(super) gicd: GicDistributor,
    pub(super) gicr: GicRedistributors,
    pub(super) kicks: Arc<Kicks>,
}

pub(super) fn gic(vcpus: usize, spis: usize) -> Gic {
    let kicks = Arc::new(Kicks::default());
    let config = VGicConfig::new(
        GuestPhysAddr::from(GICD),
        GuestPhysAddr::from(GICR),
        vcpus,
        spis,
    );
    let vgic = Arc::new(VGic::new("gic", config, Some(kicks.clone())).unwrap());
    Gic {
        gicd: GicDistributor::new(vgic.clone()),
        gicr: GicRedistributors::new(vgic.clone()),
        vgic,
        kicks,
    }
}

impl Gic {
    pub(super) fn d_read(&self, offset: usize, width: AccessWidth) -> AxVmResult<usize> {
        self.gicd
            .handle_read(GuestPhysAddr::from(GICD + offset), width)
    }

    pub(super) fn d_write(&self, offset: usize, width: AccessWidth, val: usize) -> AxVmResult {
        self.gicd
            .handle_write(GuestPhysAddr::from(GICD + offset), width, val)
    }

    /// A 32-bit distributor read that must succeed.
    pub(super) fn d32(&self, offset: usize) -> usize {
        self.d_read(offset, AccessWidth::Dword).unwrap()
    }

    /// A 32-bit distributor write that must succeed.
    pub(super) fn set_d32(&self, offset: usize, val: usize) {
        self.d_write(offset, AccessWidth::Dword, val).unwrap();
    }

    /// vCPU `vcpu`'s redistributor at `offset` in its 128 KiB stride.
    pub(super) fn r_addr(vcpu: usize, offset: usize) -> GuestPhysAddr {
        GuestPhysAddr::from(GICR + vcpu * STRIDE + offset)
    }

    pub(super) fn r_read(
        &self,
        vcpu: usize,
        offset: usize,
        width: AccessWidth,
    ) -> AxVmResult<usize> {
        self.gicr.handle_read(Self::r_addr(vcpu, offset), width)
    }

    pub(super) fn r_write(
        &self,
        vcpu: usize,
        offset: usize,
        width: AccessWidth,
        val: usize,
    ) -> AxVmResult {
        self.gicr
            .handle_write(Self::r_addr(vcpu, offset), width, val)
    }

    /// A 32-bit SGI-frame read of `vcpu`'s redistributor.
    pub(super) fn sgi32(&self, vcpu: usize, offset: usize) -> usize {
        self.r_read(vcpu, SGI_FRAME + offset, AccessWidth::Dword)
            .unwrap()
    }

    /// A 32-bit SGI-frame write to `vcpu`'s redistributor.
    pub(super) fn set_sgi32(&self, vcpu: usize, offset: usize, val: usize) {
        self.r_write(vcpu, SGI_FRAME + offset, AccessWidth::Dword, val)
            .unwrap();
    }

    /// Turns group 1 on in the distributor.
    pub(super) fn enable_grp1(&self) {
        self.set_d32(0, 0x2);
    }

    /// Enables SPI `intid` (routed to vCPU `vcpu`, level unless `edge`) with `priority`.
    pub(super) fn spi(&self, intid: usize, vcpu: usize, edge: bool, priority: u8) {
        self.d_write(0x6000 + 8 * intid, AccessWidth::Qword, vcpu)
            .unwrap();
        let cfg = 0xc00 + intid / 16 * 4;
        let field = 2 << (intid % 16 * 2);
        let old = self.d32(cfg);
        self.set_d32(cfg, if edge { old | field } else { old & !field });
        self.d_write(0x400 + intid, AccessWidth::Byte, usize::from(priority))
            .unwrap();
        self.set_d32(0x100 + intid / 32 * 4, 1 << (intid % 32));
    }

    /// Enables private interrupt `intid` of `vcpu` with `priority`.
    pub(super) fn private(&self, vcpu: usize, intid: usize, priority: u8) {
        self.r_write(
            vcpu,
            SGI_FRAME + 0x400 + intid,
            AccessWidth::Byte,
            usize::from(priority),
        )
        .unwrap();
        self.set_sgi32(vcpu, 0x100, 1 << intid);
    }

    /// The list `vcpu` would get with `slots` slots, and whether more were due.
    pub(super) fn list(&self, vcpu: usize, slots: usize) -> (Vec<VirtualIrq>, bool) {
        let mut out = Vec::new();
        let more = self.vgic.irqs_for_vcpu(vcpu, slots, &mut out);
        (out, more)
    }

    /// The INTIDs and states of `vcpu`'s list.
    pub(super) fn states(&self, vcpu: usize, slots: usize) -> Vec<(u32, VirqState)> {
        self.list(vcpu, slots)
            .0
            .iter()
            .map(|irq| (irq.intid, irq.state))
            .collect()
    }
}

/// What the guest does with one listed interrupt during a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GuestDoes {
    /// Nothing: the interrupt keeps its listed state.
    Nothing,
    /// Acknowledges it (pending -> active, pending+active stays).
    Acknowledge,
    /// Deactivates it (active -> inactive, pending+active -> pending).
    Deactivate,
    /// Acknowledges and deactivates it.
    Handle,
}

/// The state a list register holds after the guest did `what` to one in `state`, as the
/// GICv3 virtual CPU interface moves it.
pub(super) fn after(state: VirqState, what: GuestDoes) -> VirqState {
    let acknowledge = |state| match state {
        VirqState::Pending => VirqState::Active,
        other => other,
    };
    let deactivate = |state| match state {
        VirqState::Active => VirqState::Inactive,
        VirqState::PendingActive => VirqState::Pending,
        other => other,
    };
    match what {
        GuestDoes::Nothing => state,
        GuestDoes::Acknowledge => acknowledge(state),
        GuestDoes::Deactivate => deactivate(state),
        GuestDoes::Handle => deactivate(acknowledge(state)),
    }
}

/// Runs `vcpu` once: lists with `slots` slots, lets the guest do `what` to every listed
/// interrupt, syncs back. Returns the list it was given.
pub(super) fn run(gic: &Gic, vcpu: usize, slots: usize, what: GuestDoes) -> Vec<VirtualIrq> {
    let (given, _) = gic.list(vcpu, slots);
    let reported: Vec<VirtualIrq> = given
        .iter()
        .map(|irq| VirtualIrq {
            state: after(irq.state, what),
            ..*irq
        })
        .collect();
    gic.vgic.sync_from_vcpu(vcpu, &reported);
    given
}
