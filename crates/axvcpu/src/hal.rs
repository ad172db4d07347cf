//! What the hypervisor provides to the vCPU backends.

use axvm_types::{HostPhysAddr, HostVirtAddr};

/// Host services a vCPU backend needs: frames for hardware structures (VMCS and the
/// like), address translation, and interrupt handling.
pub trait AxVCpuHal {
    /// Allocates one zeroed 4 KiB frame, or `None` when memory is exhausted.
    fn alloc_frame() -> Option<HostPhysAddr>;
    /// Frees a frame returned by [`alloc_frame`](Self::alloc_frame).
    fn dealloc_frame(paddr: HostPhysAddr);
    /// The hypervisor's virtual address of a host physical address.
    fn phys_to_virt(paddr: HostPhysAddr) -> HostVirtAddr;
    /// The host physical address of a hypervisor virtual address.
    fn virt_to_phys(vaddr: HostVirtAddr) -> HostPhysAddr;
    /// Acknowledges the pending physical interrupt and returns its number.
    fn irq_fetch() -> usize;
    /// Handles the pending physical interrupt in the host.
    fn irq_handler();
}
