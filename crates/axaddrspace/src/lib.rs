//! Guest-physical address spaces for hypervisors.
//!
//! An [`AddrSpace`] owns one nested page table — x86 EPT, aarch64 stage-2
//! ([`Stage2`]) or riscv Sv39x4 / Sv48x4 ([`Sv4x`]) — and the record of what is
//! mapped in it: linear mappings of host memory (identity or offset) and
//! allocated memory, populated eagerly or on nested page faults. It uses 2 MiB
//! and 1 GiB blocks wherever alignment allows, splits them when part of one is
//! unmapped or protected, gives every frame it allocated back, keeps the TLB in
//! step through [`NestedTlb`], and lets the hypervisor read and write guest
//! memory. The hypervisor supplies frames through [`AxMmHal`].
//!
//! Every failure is an [`AxVmError`](axvm_types::AxVmError): nothing a guest
//! address or a configuration value can reach panics.
//!
//! # Example
//!
//! ```
//! use axaddrspace::{AddrSpace, Sv4x, Sv4xMode, PageSize, testing::{ArenaHal, RecordingTlb}};
//! use axvm_types::{GuestPhysAddr, HostPhysAddr, MappingFlags};
//!
//! let rw = MappingFlags::READ | MappingFlags::WRITE;
//! let format = Sv4x::new(Sv4xMode::Sv39x4, 1).unwrap();
//! let mut space: AddrSpace<ArenaHal, Sv4x, RecordingTlb> =
//!     AddrSpace::with_format(format, RecordingTlb::default(), 0x8000_0000.into(), 0x4000_0000).unwrap();
//!
//! // A device window, identity mapped: one 2 MiB block.
//! space.map_linear(0x8000_0000.into(), HostPhysAddr::from(0x8000_0000), 0x20_0000, rw | MappingFlags::DEVICE).unwrap();
//! assert_eq!(space.query(0x8000_1234.into()).map(|(hpa, _, size)| (hpa.as_usize(), size)),
//!            Some((0x8000_1234, PageSize::Size2M)));
//!
//! // RAM, brought in on first access.
//! space.map_alloc(0x8020_0000.into(), 0x20_0000, rw, false).unwrap();
//! assert!(space.translate(0x8020_0000.into()).is_none());
//! assert!(space.handle_page_fault(0x8020_0010.into(), MappingFlags::WRITE));
//! space.write(0x8020_0ffe.into(), b"hello").unwrap();
//! let mut back = [0; 5];
//! space.read(0x8020_0ffe.into(), &mut back).unwrap();
//! assert_eq!(&back, b"hello");
//!
//! // Overlaps and addresses outside the space are errors.
//! assert!(space.map_alloc(0x8000_0000.into(), 0x1000, rw, true).is_err());
//! assert!(space.map_alloc(GuestPhysAddr::from(0xc000_0000), 0x1000, rw, true).is_err());
//!
//! // What the vCPU layer installs: hgatp = MODE 8 | VMID 1 | root PPN.
//! let hgatp = Sv4x::hgatp(&space.paging_config());
//! assert_eq!(hgatp >> 60, 8);
//! ```
//!
//! # Host memory, concurrency, TLBs and VMIDs
//!
//! No safe path dereferences host memory the host did not vouch for.
//! [`map_linear`](AddrSpace::map_linear) asks [`AxMmHal::linear_memory`] what the
//! host range is: [`LinearMemory::Ram`] (set aside for guests) is mapped and
//! reachable by the hypervisor's guest-memory access; [`LinearMemory::Device`] is
//! mapped for the guest only; [`LinearMemory::Refused`] is `PermissionDenied`.
//! Guest memory is touched only with relaxed atomic elements (aligned 8-byte
//! words, bytes at the edges), never through references, so
//! [`read`](AddrSpace::read), [`write`](AddrSpace::write) and the
//! [`GuestMemorySlice`]s of
//! [`translated_byte_buffer`](AddrSpace::translated_byte_buffer) are sound while
//! vCPUs write the same memory.
//!
//! TLB maintenance covers every CPU that may hold the space's translations: the
//! [`NestedTlb`] acts on the calling CPU (privileged ones such as [`ArchTlb`] only
//! where [`AxMmHal::in_hypervisor_mode`] says they are defined), and the host's
//! [`AxMmHal::invalidate_remote`] on the others, unless the TLB broadcasts
//! (aarch64). A live space holds its VMID in the host's [`VmidRegistry`]: a second
//! space with the same VMID is refused.
//!
//! ```
//! use axaddrspace::{AddrSpace, AxMmHal, Ept, LinearMemory, testing::{ArenaHal, RecordingTlb}};
//! use axvm_types::{AxVmError, HostPhysAddr, MappingFlags};
//!
//! let rw = MappingFlags::READ | MappingFlags::WRITE;
//! let new_space = || AddrSpace::<ArenaHal, Ept, RecordingTlb>::with_format(
//!     Ept::with_vpid(1), RecordingTlb::default(), 0.into(), 1 << 30);
//! let mut space = new_space().unwrap();
//!
//! // RAM the host set aside for guests: mapped, and the hypervisor may copy it.
//! let ram = ArenaHal::alloc_guest_ram(1, 12).unwrap();
//! assert_eq!(ArenaHal::linear_memory(ram, 0x1000), LinearMemory::Ram);
//! space.map_linear(0x1000.into(), ram, 0x1000, rw).unwrap();
//! space.write(0x1000.into(), b"boot").unwrap();
//!
//! // Host memory in use (here the root table) is refused...
//! let root = space.page_table_root();
//! assert_eq!(space.map_linear(0x2000.into(), root, 0x1000, rw), Err(AxVmError::PermissionDenied));
//! // ...and memory the host lets only the guest have is never dereferenced.
//! space.map_linear(0x3000.into(), HostPhysAddr::from(0x40_0000_0000), 0x1000, rw).unwrap();
//! assert_eq!(space.read(0x3000.into(), &mut [0; 4]), Err(AxVmError::BadAddress));
//!
//! // Slices of guest memory copy; they hand out no references.
//! let pieces = space.translated_byte_buffer(0x1000.into(), 4).unwrap();
//! let mut word = [0; 4];
//! pieces.first().unwrap().read(0, &mut word).unwrap();
//! assert_eq!(&word, b"boot");
//! drop(pieces);
//!
//! // One live space per VMID.
//! assert_eq!(new_space().err(), Some(AxVmError::AlreadyExists));
//!
//! // Unmapping invalidates this CPU's TLB and asks the host for the others.
//! space.unmap(0x1000.into(), 0x1000).unwrap();
//! assert_eq!(space.tlb().invalidations(), 1);
//! assert_eq!(ArenaHal::remote_invalidations().last().map(|(vmid, _)| *vmid), Some(1));
//! drop(space);
//! ArenaHal::dealloc_contiguous_frames(ram, 1);
//! assert!(new_space().is_ok());
//! ```

#![no_std]
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::panic
    )
)]

#[cfg(not(target_pointer_width = "64"))]
compile_error!("nested page tables have 64-bit entries; axaddrspace needs a 64-bit target");

extern crate alloc;
#[cfg(any(test, feature = "host-testing"))]
extern crate std;

mod arch;
mod format;
mod hal;
mod space;
mod table;
mod tlb;
mod vmid;

#[cfg(any(test, feature = "host-testing"))]
pub mod testing;

pub use arch::NativeFormat;
pub use format::{Ept, Geometry, NestedFormat, PageSize, Stage2, Sv4x, Sv4xMode};
pub use hal::{AxMmHal, LinearMemory};
pub use space::{AddrSpace, GuestMemorySlice};
pub use tlb::{ArchTlb, NestedTlb};
pub use vmid::VmidRegistry;
