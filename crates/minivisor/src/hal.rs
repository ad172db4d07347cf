//! The host interfaces the AxVM crates ask of a hypervisor.

use alloc::vec::Vec;

use axaddrspace::{AxMmHal, LinearMemory, VmidRegistry};
use axvcpu::AxVCpuHal;
use axvm::AxVMHal;
use axvm_types::{
    GuestPhysAddr, GuestPhysAddrRange, HostPhysAddr, HostVirtAddr, NestedPagingConfig, VCpuId, VMId,
};
use spin::Mutex;

use crate::frames;

/// Minivisor's implementation of every host trait.
pub struct Hal;

/// The VMIDs of live address spaces.
static VMIDS: VmidRegistry = VmidRegistry::new();

/// The identical regions handed out and not yet released, as `(start, end)`: the
/// only host memory minivisor lets a guest have linearly.
static GUEST_RAM: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());

// SAFETY: frames come from `frames`, which hands each out once, zeroed and aligned
// as asked; physical memory is identity-mapped, so `phys_to_virt` is the identity.
// Linear memory is `Ram` only inside identical regions, frame runs set aside for
// guests until released, and refused elsewhere. Minivisor enters its hypervisor
// mode before it creates any address space (it boots at EL2 or in HS-mode; on
// x86_64 `main` runs VMXON first and stops if that fails, and a secondary CPU is
// up only after its own VMXON) and never leaves it. The vCPUs of a VM run on
// several CPUs, so `invalidate_remote` reaches every other CPU that is up and
// returns only once each dropped the context's translations: on x86_64 an NMI to
// each, whose handler runs `invept` there and acknowledges, awaited by the caller
// (NMIs get through masked interrupts and through a running guest by NMI exiting);
// on riscv64 SBI `remote_hfence_gvma_vmid`, which OpenSBI completes on every
// target before it returns; on aarch64 nothing, because axaddrspace calls it only
// when its broadcast `tlbi ...is` could not run, and it always can at EL2. One
// static VMID registry serves every space.
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

    fn linear_memory(paddr: HostPhysAddr, size: usize) -> LinearMemory {
        let start = paddr.as_usize();
        let inside = start.checked_add(size).is_some_and(|end| {
            GUEST_RAM
                .lock()
                .iter()
                .any(|&(low, high)| low <= start && end <= high)
        });
        if inside {
            LinearMemory::Ram
        } else {
            LinearMemory::Refused
        }
    }

    fn in_hypervisor_mode() -> bool {
        true
    }

    /// Through `arch` (see its `tlb.rs`): an NMI to each other CPU on x86_64, SBI
    /// remote fences on riscv64, nothing on aarch64 (the local `tlbi` broadcasts).
    fn invalidate_remote(config: &NestedPagingConfig, range: GuestPhysAddrRange) {
        // How many CPUs were reached matters only to the start-up self-test.
        let _reached = crate::arch::invalidate_remote(config, range);
    }

    fn vmids() -> &'static VmidRegistry {
        &VMIDS
    }
}

// SAFETY: identical regions are frame runs from `frames` (never handed out twice);
// no host range is ever passed through.
unsafe impl AxVMHal for Hal {
    fn alloc_identical_region(_gpa: GuestPhysAddr, size: usize) -> Option<HostPhysAddr> {
        // Minivisor owns no fixed physical ranges to give; it places the region in
        // its own RAM and the VM relocates to it.
        let frames = size.div_ceil(frames::FRAME);
        let hpa = frames::alloc(frames, 21)?;
        let start = hpa.as_usize();
        let end = frames
            .checked_mul(frames::FRAME)
            .and_then(|bytes| start.checked_add(bytes));
        match end {
            Some(end) => GUEST_RAM.lock().push((start, end)),
            None => {
                frames::free(hpa, frames);
                return None;
            }
        }
        Some(hpa)
    }

    fn dealloc_identical_region(hpa: HostPhysAddr, size: usize) {
        let start = hpa.as_usize();
        GUEST_RAM.lock().retain(|&(low, _)| low != start);
        frames::free(hpa, size.div_ceil(frames::FRAME));
    }

    /// A vCPU got an interrupt: the CPU it runs on is kicked unless that is this one
    /// (whose run loop loads the interrupt before its next entry anyway). The vCPU
    /// this CPU runs now, the usual case (its timer, its own device accesses), needs
    /// no look-up of where it runs.
    fn notify_vcpu(vm: VMId, vcpu: VCpuId) {
        if crate::cpus::this().is_running(vm, vcpu) {
            return;
        }
        if let Some(cpu) = crate::sched::cpu_of(vm, vcpu)
            && cpu != crate::arch::this_cpu()
        {
            crate::arch::kick_cpu(cpu);
        }
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
        let _timer = crate::irq::handle(crate::arch::irq_fetch() as u64);
    }
}
