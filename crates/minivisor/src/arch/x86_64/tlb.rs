//! EPT invalidation on the other CPUs. `invept` acts on the calling CPU only, so
//! the caller posts a request and sends every other CPU an NMI: NMIs arrive with
//! interrupts masked (minivisor's host code always runs so, and the caller holds
//! the VM's address-space lock, which another CPU may be spinning on), and while a
//! guest runs, NMI exiting makes the NMI a VM exit whose handler hands it to IDT
//! vector 2 (`int 2`). The NMI handler ([`handle_nmi`]) runs the same `invept` as
//! the local invalidation and acknowledges; the caller waits for every
//! acknowledgement.
//!
//! One request at a time ([`LOCK`]): its context lives in atomics the handlers read
//! without a lock (a handler may interrupt a CPU anywhere, even inside a lock).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axaddrspace::{ArchTlb, NestedTlb};
use axvm_types::{GuestPhysAddr, GuestPhysAddrRange, HostPhysAddr, NestedPagingConfig};
use spin::Mutex;

use super::{lapic, this_cpu};
use crate::cpus::{self, MAX_CPUS};

/// How often the caller looks for the acknowledgements before it says a CPU is
/// late (seconds under Bochs, far longer than an NMI takes). It then keeps
/// waiting: returning early would leave stale translations in use.
const ACK_POLLS: u64 = 1 << 26;

/// Serialises requests: held from posting a request until every target
/// acknowledged it. Spinning on it with interrupts masked is safe: the holder
/// waits only for NMI handlers, which take no lock.
static LOCK: Mutex<()> = Mutex::new(());
/// The context of the current request: root, and levels | gpa_bits << 8 | vmid << 16.
static ROOT: AtomicU64 = AtomicU64::new(0);
static SHAPE: AtomicU64 = AtomicU64::new(0);
/// The range of the current request: start and end (`invept` ignores it today,
/// but the handler passes what the caller asked for).
static START: AtomicU64 = AtomicU64::new(0);
static END: AtomicU64 = AtomicU64::new(0);
/// Per CPU: a request waits for it. Set by the caller (Release, after the
/// request), cleared by the CPU's NMI handler once it invalidated (Release).
static PENDING: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

/// Drops `config`'s translations on every other CPU that is up (in VMX root
/// operation: a CPU is up only after its VMXON) and returns once each did; how
/// many CPUs acknowledged.
pub fn invalidate_remote(config: &NestedPagingConfig, range: GuestPhysAddrRange) -> usize {
    let own = this_cpu();
    let _request = LOCK.lock();
    ROOT.store(config.root.as_usize() as u64, Ordering::Relaxed);
    let shape =
        u64::from(config.levels) | u64::from(config.gpa_bits) << 8 | u64::from(config.vmid) << 16;
    SHAPE.store(shape, Ordering::Relaxed);
    START.store(range.start.as_usize() as u64, Ordering::Relaxed);
    END.store(range.end.as_usize() as u64, Ordering::Relaxed);
    let mut targets = 0;
    for index in (0..cpus::count()).filter(|&index| index != own) {
        let (Some(cpu), Some(pending)) = (cpus::get(index), PENDING.get(index)) else {
            continue;
        };
        pending.store(true, Ordering::Release);
        lapic::send_nmi(cpu.hw_id());
        targets += 1;
    }
    for index in (0..cpus::count()).filter(|&index| index != own) {
        wait_acknowledged(index);
    }
    targets
}

/// Waits until CPU `index` handled its request (saying so when it is late).
fn wait_acknowledged(index: usize) {
    let Some(pending) = PENDING.get(index) else {
        return;
    };
    let mut polls = 0u64;
    while pending.load(Ordering::Acquire) {
        polls = polls.wrapping_add(1);
        if polls == ACK_POLLS {
            crate::println!(
                "minivisor: cpu {index} has not acknowledged remote TLB invalidation yet; waiting"
            );
        }
        core::hint::spin_loop();
    }
}

/// The NMI handler's part: runs this CPU's pending request, if any; whether there
/// was one (otherwise the NMI is not minivisor's and is reported).
pub fn handle_nmi() -> bool {
    let Some(pending) = PENDING.get(this_cpu()) else {
        return false;
    };
    if !pending.load(Ordering::Acquire) {
        return false;
    }
    let shape = SHAPE.load(Ordering::Relaxed);
    let config = NestedPagingConfig {
        root: HostPhysAddr::from(ROOT.load(Ordering::Relaxed) as usize),
        levels: shape as u8,
        gpa_bits: (shape >> 8) as u8,
        vmid: (shape >> 16) as u16,
    };
    // Built field by field: the caller's range was valid, so start <= end.
    let range = GuestPhysAddrRange {
        start: GuestPhysAddr::from(START.load(Ordering::Relaxed) as usize),
        end: GuestPhysAddr::from(END.load(Ordering::Relaxed) as usize),
    };
    // The same single-context `invept` as the caller's local invalidation; this
    // CPU is in VMX root operation (it is up, so past VMXON, and the NMI runs in
    // the host).
    ArchTlb.invalidate(&config, range);
    pending.store(false, Ordering::Release);
    true
}
