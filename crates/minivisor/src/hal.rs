//! The host interfaces the AxVM crates ask of a hypervisor.

use axaddrspace::AxMmHal;
use axvcpu::AxVCpuHal;
use axvm::AxVMHal;
use axvm_types::{GuestPhysAddr, HostPhysAddr, HostVirtAddr};

use crate::frames;

/// Minivisor's implementation of every host trait.
pub struct Hal;

// SAFETY: frames come from `frames`, which hands each out once, zeroed and aligned
// as asked; physical memory is identity-mapped, so `phys_to_virt` is the identity.
unsafe impl AxMmHal for Hal {
    fn alloc_frame() -> Option<HostPhysAddr> {
        frames::alloc(1, 12)
    }

    fn dealloc_frame(paddr: HostPhysAddr) {
        frames::free(paddr, 1);
    }

    fn phys_to_virt(paddr: HostPhysAddr) -> HostVirtAddr {
        HostVirtAddr::from(paddr.as_usize())
    }

    fn alloc_contiguous_frames(count: usize, align_log2: u32) -> Option<HostPhysAddr> {
        frames::alloc(count, align_log2)
    }

    fn dealloc_contiguous_frames(paddr: HostPhysAddr, count: usize) {
        frames::free(paddr, count);
    }
}

// SAFETY: identical regions are frame runs from `frames` (never handed out twice);
// no host range is ever passed through.
unsafe impl AxVMHal for Hal {
    fn alloc_identical_region(_gpa: GuestPhysAddr, size: usize) -> Option<HostPhysAddr> {
        // Minivisor owns no fixed physical ranges to give; it places the region in
        // its own RAM and the VM relocates to it.
        frames::alloc(size.div_ceil(frames::FRAME), 21)
    }

    fn dealloc_identical_region(hpa: HostPhysAddr, size: usize) {
        frames::free(hpa, size.div_ceil(frames::FRAME));
    }

    fn allow_passthrough(hpa: HostPhysAddr, size: usize) -> bool {
        // Minivisor emulates every device its guests have and keeps the machine's
        // own devices (console, interrupt controller, timer) for itself: it vouches
        // for no host range, so a config that passes one through is refused.
        log::warn!("minivisor: refusing to pass through {hpa:?} (+{size:#x})");
        false
    }
}

// SAFETY: frames as for `AxMmHal`; every CPU records its own index at start-up and
// minivisor runs vCPUs with interrupts off and never moves a running call to another
// CPU, so `current_cpu_id` always names the caller's CPU.
unsafe impl AxVCpuHal for Hal {
    fn alloc_frame() -> Option<HostPhysAddr> {
        frames::alloc(1, 12)
    }

    fn dealloc_frame(paddr: HostPhysAddr) {
        frames::free(paddr, 1);
    }

    fn phys_to_virt(paddr: HostPhysAddr) -> HostVirtAddr {
        HostVirtAddr::from(paddr.as_usize())
    }

    fn virt_to_phys(vaddr: HostVirtAddr) -> HostPhysAddr {
        HostPhysAddr::from(vaddr.as_usize())
    }

    /// The dense index of the calling CPU (0 = the boot CPU), kept per CPU by
    /// `arch` (TPIDR_EL2, `tp`, the per-CPU GS area).
    fn current_cpu_id() -> usize {
        crate::arch::this_cpu()
    }

    /// Acknowledges the interrupt that ended a guest's run at the interrupt
    /// controller; its number, which the backend reports in the
    /// `ExternalInterrupt` exit that the run loop hands to [`crate::irq::handle`].
    fn irq_fetch() -> usize {
        crate::arch::irq_fetch()
    }

    /// Acknowledges and handles the pending interrupt at once.
    fn irq_handler() {
        crate::irq::handle(crate::arch::irq_fetch() as u64);
    }
}
