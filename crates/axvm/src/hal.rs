//! What a hypervisor implements to host `axvm` VMs.

use axaddrspace::AxMmHal;
use axvm_types::{GuestPhysAddr, HostPhysAddr};

/// Host services a VM needs beyond frames: reserving the host memory behind
/// identity-mapped regions, and vouching for the host ranges passed through.
///
/// # Safety
///
/// As [`AxMmHal`]: the frames and regions the host hands out must be valid, unused
/// host memory reachable through `phys_to_virt`. A host range
/// [`allow_passthrough`](Self::allow_passthrough) accepts must be one the guest may
/// own: device registers (or memory) the host gives that VM, holding none of the
/// host's own data nor another VM's.
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

    /// Whether the guest may reach the host physical range `[hpa, hpa + size)` (whole
    /// pages) as device memory: a pass-through device's window or a pass-through
    /// address range of the config. [`AxVM::new`](crate::AxVM::new) asks before it
    /// maps each one and fails with `PermissionDenied` when the host says no.
    ///
    /// There is no default: a host that passes nothing through answers `false`; one
    /// that does checks the range against what it owns (its own RAM, other VMs'
    /// memory, devices it keeps).
    fn allow_passthrough(hpa: HostPhysAddr, size: usize) -> bool;
}
