//! What a hypervisor implements to host `axvm` VMs.

use axaddrspace::AxMmHal;
use axvm_types::{GuestPhysAddr, HostPhysAddr, VCpuId, VMId};

/// Host services a VM needs beyond frames: reserving the host memory behind
/// identity-mapped regions. Pass-through ranges are vouched for (or refused) by
/// [`AxMmHal::linear_memory`], which `map_linear` asks for every linear mapping.
///
/// # Safety
///
/// As [`AxMmHal`]: the frames and regions the host hands out must be valid, unused
/// host memory reachable through `phys_to_virt`, and `linear_memory` must answer
/// `Ram` for them.
pub unsafe trait AxVMHal: AxMmHal {
    /// Reserves the host physical range behind an identical (GPA == HPA) region of
    /// `size` bytes that the config places at `gpa`.
    ///
    /// Returns where the host placed it: `gpa` itself when that range is free, or
    /// another base when the host cannot honour the address (the VM then moves the
    /// region, and every image and entry point inside it, there), or `None` when it
    /// has no such memory.
    fn alloc_identical_region(gpa: GuestPhysAddr, size: usize) -> Option<HostPhysAddr>;

    /// Releases a range returned by
    /// [`alloc_identical_region`](Self::alloc_identical_region).
    fn dealloc_identical_region(hpa: HostPhysAddr, size: usize);

    /// The interrupt state of vCPU `vcpu` of VM `vm` changed (a device raised a line
    /// routed to it, another vCPU sent it an SGI/IPI): if it runs on another physical
    /// CPU, make it exit soon (an IPI), so the run loop loads the new interrupt; if it
    /// waits for interrupts, wake it. Called from any CPU, with no VM lock held.
    ///
    /// The default does nothing: the interrupt then reaches the vCPU at its next exit,
    /// which is late but correct for a host that runs each VM on one CPU with a
    /// periodic tick.
    fn notify_vcpu(vm: VMId, vcpu: VCpuId) {
        let _ = (vm, vcpu);
    }
}
