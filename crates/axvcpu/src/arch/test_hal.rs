//! The host the backends' unit tests run against: identity-mapped, no frames, and a
//! fixed pending interrupt.

use axvm_types::{HostPhysAddr, HostVirtAddr};

use crate::AxVCpuHal;

/// An [`AxVCpuHal`] whose `irq_fetch` always answers `IRQ`.
pub(crate) struct TestHal<const IRQ: usize>;

impl<const IRQ: usize> AxVCpuHal for TestHal<IRQ> {
    fn alloc_frame() -> Option<HostPhysAddr> {
        None
    }
    fn dealloc_frame(_paddr: HostPhysAddr) {}
    fn phys_to_virt(paddr: HostPhysAddr) -> HostVirtAddr {
        HostVirtAddr::from(paddr.as_usize())
    }
    fn virt_to_phys(vaddr: HostVirtAddr) -> HostPhysAddr {
        HostPhysAddr::from(vaddr.as_usize())
    }
    fn irq_fetch() -> usize {
        IRQ
    }
    fn irq_handler() {}
}
