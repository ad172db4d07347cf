//! Tests of the vPLIC through its public faces: the MMIO window, the line sink, and the
//! per-vCPU lists, against the rules of the PLIC specification.

mod delivery;
mod properties;
mod registers;

use alloc::{sync::Arc, vec::Vec};

use axvm_types::{AccessWidth, AxVmResult, GuestPhysAddr, VirtualIrq};

use super::{PlicContexts, VPlic, VPlicConfig};
pub(super) use crate::testing::Kicks;
use crate::{irq::VirtualInterruptController, traits::BaseDeviceOps};

pub(super) const BASE: usize = 0x0c00_0000;
pub(super) const PENDING: usize = 0x1000;
pub(super) const ENABLE: usize = 0x2000;
pub(super) const CONTEXT: usize = 0x20_0000;

/// A PLIC and a record of its notifications.
pub(super) struct Plic {
    pub(super) plic: Arc<VPlic>,
    pub(super) kicks: Arc<Kicks>,
}

/// A PLIC for `vcpus` S-mode contexts with sources 1 to `sources`.
pub(super) fn plic(vcpus: usize, sources: u32) -> Plic {
    plic_with(VPlicConfig::new(GuestPhysAddr::from(BASE), vcpus, sources))
}

/// A PLIC with QEMU's context layout: M-mode context 2n, S-mode context 2n + 1.
pub(super) fn qemu_plic(vcpus: usize, sources: u32) -> Plic {
    plic_with(
        VPlicConfig::new(GuestPhysAddr::from(BASE), vcpus, sources)
            .with_contexts(PlicContexts::MachineAndSupervisor),
    )
}

fn plic_with(config: VPlicConfig) -> Plic {
    let kicks = Arc::new(Kicks::default());
    Plic {
        plic: Arc::new(VPlic::new("plic", config, Some(kicks.clone())).unwrap()),
        kicks,
    }
}

impl Plic {
    pub(super) fn read(&self, offset: usize, width: AccessWidth) -> AxVmResult<usize> {
        self.plic
            .handle_read(GuestPhysAddr::from(BASE + offset), width)
    }

    pub(super) fn write(&self, offset: usize, width: AccessWidth, val: usize) -> AxVmResult {
        self.plic
            .handle_write(GuestPhysAddr::from(BASE + offset), width, val)
    }

    /// A 32-bit read that must succeed.
    pub(super) fn r32(&self, offset: usize) -> u32 {
        u32::try_from(self.read(offset, AccessWidth::Dword).unwrap()).unwrap()
    }

    /// A 32-bit write that must succeed.
    pub(super) fn w32(&self, offset: usize, val: u32) {
        self.write(offset, AccessWidth::Dword, val as usize)
            .unwrap();
    }

    pub(super) fn set_priority(&self, id: u32, priority: u32) {
        self.w32(4 * id as usize, priority);
    }

    /// Enables exactly `ids` (sources below 64) in `context`.
    pub(super) fn enable(&self, context: usize, ids: &[u32]) {
        let mut words = [0u32; 2];
        for &id in ids {
            words[id as usize / 32] |= 1 << (id % 32);
        }
        for (word, bits) in words.into_iter().enumerate() {
            self.w32(ENABLE + 0x80 * context + 4 * word, bits);
        }
    }

    pub(super) fn set_threshold(&self, context: usize, threshold: u32) {
        self.w32(CONTEXT + 0x1000 * context, threshold);
    }

    pub(super) fn claim(&self, context: usize) -> u32 {
        self.r32(CONTEXT + 0x1000 * context + 4)
    }

    pub(super) fn complete(&self, context: usize, id: u32) {
        self.w32(CONTEXT + 0x1000 * context + 4, id);
    }

    /// Whether source `id` reads pending.
    pub(super) fn pending(&self, id: u32) -> bool {
        self.r32(PENDING + 4 * (id as usize / 32)) & (1 << (id % 32)) != 0
    }

    /// vCPU `vcpu`'s list with one slot (the riscv backend's VSEIP).
    pub(super) fn list(&self, vcpu: usize) -> Vec<VirtualIrq> {
        let mut out = Vec::new();
        assert!(!self.plic.irqs_for_vcpu(vcpu, 1, &mut out));
        out
    }

    /// The source `vcpu` is given, if any.
    pub(super) fn listed(&self, vcpu: usize) -> Option<u32> {
        self.list(vcpu).first().map(|irq| irq.intid)
    }
}
