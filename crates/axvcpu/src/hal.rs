//! What the hypervisor provides to the vCPU backends.

use axvm_types::{HostPhysAddr, HostVirtAddr};

/// Host services a vCPU backend needs: frames for hardware structures (VMCS and the
/// like), address translation, the identity of the current physical CPU, and
/// interrupt handling.
///
/// # Safety
///
/// The backends write hardware structures through these answers, so an
/// implementor promises that:
/// - a frame from [`alloc_frame`](Self::alloc_frame) is 4 KiB aligned, zeroed,
///   belongs to nobody else until given back, and is readable and writable at
///   [`phys_to_virt`](Self::phys_to_virt); `virt_to_phys` inverts `phys_to_virt`;
/// - [`current_cpu_id`](Self::current_cpu_id) is the id of the physical CPU the
///   caller runs on, unique among the machine's CPUs, and the caller is not moved
///   to another CPU while it is inside a call on a vCPU (run, bind, unbind, the
///   setters): hypervisors run vCPUs with preemption off, as VMX/EL2/HS entry
///   requires anyway.
pub unsafe trait AxVCpuHal {
    /// Allocates one zeroed 4 KiB frame, or `None` when memory is exhausted.
    fn alloc_frame() -> Option<HostPhysAddr>;
    /// Frees a frame returned by [`alloc_frame`](Self::alloc_frame).
    fn dealloc_frame(paddr: HostPhysAddr);
    /// The hypervisor's virtual address of a host physical address.
    fn phys_to_virt(paddr: HostPhysAddr) -> HostVirtAddr;
    /// The host physical address of a hypervisor virtual address.
    fn virt_to_phys(vaddr: HostVirtAddr) -> HostPhysAddr;
    /// The id of the physical CPU the caller runs on, below
    /// [`MAX_PHYS_CPUS`](crate::MAX_PHYS_CPUS) (a dense index such as the host's
    /// logical CPU number, not necessarily the MPIDR, hart id or APIC id).
    fn current_cpu_id() -> usize;
    /// Acknowledges the pending physical interrupt and returns its number.
    fn irq_fetch() -> usize;
    /// Handles the pending physical interrupt in the host.
    fn irq_handler();
}
