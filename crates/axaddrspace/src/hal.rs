//! What the hypervisor provides: physical frames and a way to reach them, which
//! host memory a guest may be given, the VMIDs in use, and TLB maintenance on
//! the other CPUs.

use axvm_types::{GuestPhysAddrRange, HostPhysAddr, HostVirtAddr, MemoryAddr, NestedPagingConfig};

use crate::vmid::VmidRegistry;

/// What a host range handed to [`map_linear`](crate::AddrSpace::map_linear) is,
/// as the host answers in [`AxMmHal::linear_memory`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinearMemory {
    /// RAM set aside for guests: reachable for reads and writes at
    /// [`phys_to_virt`](AxMmHal::phys_to_virt) while mapped, and holding nothing
    /// the host relies on (the guest may write it at any time). The hypervisor's
    /// guest-memory access (`read`, `write`, `translated_byte_buffer`) reaches it.
    Ram,
    /// Memory the guest may have but the hypervisor never dereferences, such as
    /// a passed-through device's registers: guest-memory access refuses it
    /// (`BadAddress`).
    Device,
    /// Not for guests: `map_linear` fails with `PermissionDenied`.
    Refused,
}

/// The host memory interface of an address space.
///
/// # Safety
///
/// Implementors promise that:
/// - a frame returned by [`alloc_frame`](Self::alloc_frame) or
///   [`alloc_contiguous_frames`](Self::alloc_contiguous_frames) is 4 KiB aligned
///   (or aligned as asked), belongs to nobody else until it is given back, and is
///   reachable for reads and writes at [`phys_to_virt`](Self::phys_to_virt);
/// - [`linear_memory`](Self::linear_memory) answers [`LinearMemory::Ram`] or
///   [`LinearMemory::Device`] only for host ranges a guest may be given, as those
///   variants describe, for as long as a guest may have them mapped;
/// - [`in_hypervisor_mode`](Self::in_hypervisor_mode) answers `true` only on a CPU
///   where [`ArchTlb`](crate::ArchTlb)'s instructions are defined, and `false` only
///   where no CPU-local cached translation of a guest can be used any more (the
///   host invalidates all of them before a guest runs there again);
/// - [`invalidate_remote`](Self::invalidate_remote) returns only once the other
///   CPUs that may hold translations of the context dropped those of the range;
/// - [`vmids`](Self::vmids) returns the same registry every time, one for all the
///   address spaces whose TLB entries may meet on a CPU.
pub unsafe trait AxMmHal {
    /// Allocates one 4 KiB frame, or `None` when memory is exhausted.
    fn alloc_frame() -> Option<HostPhysAddr>;

    /// Gives back one 4 KiB frame: one returned by `alloc_frame`, or one frame
    /// of a contiguous allocation (see [`dealloc_contiguous_frames`](Self::dealloc_contiguous_frames)).
    fn dealloc_frame(paddr: HostPhysAddr);

    /// The host virtual address at which the hypervisor reaches `paddr`.
    fn phys_to_virt(paddr: HostPhysAddr) -> HostVirtAddr;

    /// Allocates `count` physically contiguous frames aligned to `1 << align_log2`
    /// bytes, or `None` if the host cannot (the default): the space then uses
    /// smaller blocks, and formats with a multi-frame root cannot be created.
    fn alloc_contiguous_frames(count: usize, align_log2: u32) -> Option<HostPhysAddr> {
        let _ = (count, align_log2);
        None
    }

    /// Gives back `count` contiguous frames starting at `paddr`.
    ///
    /// When the guest unmaps part of a block, its frames come back in pieces: a
    /// call may cover any frame-aligned part of an earlier contiguous
    /// allocation, and the pieces together cover it exactly once. The default
    /// gives the frames back one by one.
    fn dealloc_contiguous_frames(paddr: HostPhysAddr, count: usize) {
        let mut frame = paddr;
        for _ in 0..count {
            Self::dealloc_frame(frame);
            frame = frame.wrapping_add(FRAME_SIZE);
        }
    }

    /// What the host range `[paddr, paddr + size)` is to a guest that
    /// [`map_linear`](crate::AddrSpace::map_linear) would give it to: RAM set
    /// aside for guests, memory the guest may have but the hypervisor does not
    /// touch, or refused. The default refuses everything.
    fn linear_memory(paddr: HostPhysAddr, size: usize) -> LinearMemory {
        let _ = (paddr, size);
        LinearMemory::Refused
    }

    /// Whether the calling CPU runs in the mode [`ArchTlb`](crate::ArchTlb)'s
    /// instructions need: VMX root operation (after VMXON) on x86_64, EL2 on
    /// aarch64, HS-mode on riscv64. When it does not (before VMXON, on a hosted
    /// build), the space executes no TLB instruction and asks
    /// [`invalidate_remote`](Self::invalidate_remote) instead.
    fn in_hypervisor_mode() -> bool;

    /// Drops the cached translations of `range` for the context `config`
    /// describes (its root and `vmid`) on every *other* physical CPU that may hold
    /// them, and returns when they have: e.g. an IPI to the CPUs that ran the
    /// VM's vCPUs since its last invalidation there, whose handler runs
    /// [`ArchTlb`](crate::ArchTlb)'s [`invalidate`](crate::NestedTlb::invalidate).
    ///
    /// Called after every local invalidation unless the TLB maintenance
    /// broadcasts by itself (aarch64's inner-shareable `tlbi`) and ran. A host
    /// with one CPU does nothing.
    fn invalidate_remote(config: &NestedPagingConfig, range: GuestPhysAddrRange);

    /// The VMIDs held by this host's live address spaces (usually a `static`).
    fn vmids() -> &'static VmidRegistry;
}

/// Bytes of one frame.
pub(crate) const FRAME_SIZE: usize = 0x1000;
