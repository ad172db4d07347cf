//! The host the backends' unit tests run against: identity-mapped, no frames, a
//! fixed pending interrupt, and a physical CPU id each test thread chooses.

extern crate std;

use core::{
    cell::Cell,
    sync::atomic::{AtomicUsize, Ordering},
};

use axvm_types::{HostPhysAddr, HostVirtAddr};

use crate::AxVCpuHal;

/// CPU ids below this are handed to test threads one by one; tests that pick
/// their own with [`on_cpu`] use ids from here on.
pub(crate) const FIRST_CHOSEN_CPU: usize = 512;

/// The next CPU id a new test thread gets.
static NEXT: AtomicUsize = AtomicUsize::new(0);

std::thread_local! {
    /// The CPU the test thread pretends to run on: its own unless it chose one,
    /// since the per-CPU record of loaded vCPUs is global and tests run in parallel.
    static CPU: Cell<usize> =
        Cell::new(NEXT.fetch_add(1, Ordering::Relaxed) % FIRST_CHOSEN_CPU);
}

/// Runs `body` as if on physical CPU `cpu` (at least [`FIRST_CHOSEN_CPU`], and
/// used by no other test).
pub(crate) fn on_cpu<R>(cpu: usize, body: impl FnOnce() -> R) -> R {
    let before = CPU.with(|current| current.replace(cpu));
    let result = body();
    CPU.with(|current| current.set(before));
    result
}

/// An [`AxVCpuHal`] whose `irq_fetch` always answers `IRQ`.
pub(crate) struct TestHal<const IRQ: usize>;

// SAFETY: it hands out no frames, and the thread's chosen CPU id stands for one
// CPU that only that thread's test uses.
unsafe impl<const IRQ: usize> AxVCpuHal for TestHal<IRQ> {
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
    fn current_cpu_id() -> usize {
        CPU.with(Cell::get)
    }
    fn irq_fetch() -> usize {
        IRQ
    }
    fn irq_handler() {}
}

/// Whether no vCPU is loaded on the test thread's CPU: a failed `bind` must leave
/// it so.
pub(crate) fn this_cpu_is_free() -> bool {
    !crate::cpu_has_loaded_vcpu(CPU.with(Cell::get))
}
