//! The physical CPUs: one record per CPU (its firmware id, its stack, whether it is
//! up, its host timer), and the part of bringing up the secondary CPUs that is the
//! same on every architecture. `arch::start_secondaries` does the rest: it finds
//! the other CPUs, starts each at its entry code with the stack [`prepare`] gave it,
//! and the entry code does the CPU's own set-up and calls [`entered`].
//!
//! CPU indices are dense, 0 for the boot CPU, in the order the CPUs came up;
//! `arch::this_cpu()` answers the index of the calling CPU.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use spin::Once;

use crate::{arch, frames, println};

/// The most physical CPUs minivisor uses; further CPUs stay off.
pub const MAX_CPUS: usize = 8;
/// Frames of stack each secondary CPU gets (64 KiB, as the boot CPU's).
const STACK_FRAMES: usize = 16;
/// How often [`wait_up`] looks before it gives a CPU up for lost (a busy loop:
/// seconds under an emulator, far longer than a CPU takes to come up).
const UP_POLLS: u64 = 1 << 26;

/// What a secondary CPU's entry code reads before it has a stack: where its stack
/// ends and its index. The layout is read by assembly (`stack_top` at offset 0,
/// `index` at 8).
#[repr(C)]
pub struct StartRecord {
    /// The address just past the CPU's stack.
    pub stack_top: AtomicU64,
    /// The CPU's index.
    pub index: AtomicU64,
}

/// One physical CPU.
pub struct PerCpu {
    /// Read by the CPU's entry code.
    pub start: StartRecord,
    /// The firmware's id of the CPU (aarch64 MPIDR affinity, riscv64 hart id,
    /// x86_64 local APIC id).
    hw_id: AtomicU64,
    /// Set by the CPU itself once it runs minivisor's code with its set-up done.
    up: AtomicBool,
    /// Host timer interrupts this CPU took.
    timer_interrupts: AtomicU64,
    /// The period (in timer ticks) the host timer re-arms with; 0 = one-shot.
    timer_period: AtomicU64,
    /// The vCPU the CPU runs a quantum of, as [`running_key`] encodes it; [`IDLE`]
    /// between quanta. Only the CPU itself writes it.
    running: AtomicU64,
}

/// [`PerCpu::running`] with no vCPU.
const IDLE: u64 = u64::MAX;

/// `vcpu` of the VM with id `vm` as one word; [`IDLE`] for ids too large to encode,
/// so such a vCPU is never taken for the running one.
fn running_key(vm: usize, vcpu: usize) -> u64 {
    match (u32::try_from(vm), u32::try_from(vcpu)) {
        (Ok(vm), Ok(vcpu)) if (vm, vcpu) != (u32::MAX, u32::MAX) => {
            (u64::from(vm) << 32) | u64::from(vcpu)
        }
        _ => IDLE,
    }
}

impl PerCpu {
    const fn new() -> Self {
        Self {
            start: StartRecord {
                stack_top: AtomicU64::new(0),
                index: AtomicU64::new(0),
            },
            hw_id: AtomicU64::new(0),
            up: AtomicBool::new(false),
            timer_interrupts: AtomicU64::new(0),
            timer_period: AtomicU64::new(0),
            running: AtomicU64::new(IDLE),
        }
    }

    /// Records that this CPU runs `vcpu` of VM `vm` now (`None`: no vCPU).
    pub fn set_running(&self, running: Option<(usize, usize)>) {
        let key = running.map_or(IDLE, |(vm, vcpu)| running_key(vm, vcpu));
        self.running.store(key, Ordering::Relaxed);
    }

    /// Whether this CPU runs `vcpu` of VM `vm` now (false for an id it cannot record).
    pub fn is_running(&self, vm: usize, vcpu: usize) -> bool {
        let key = running_key(vm, vcpu);
        key != IDLE && self.running.load(Ordering::Relaxed) == key
    }

    /// The firmware's id of this CPU.
    pub fn hw_id(&self) -> u64 {
        self.hw_id.load(Ordering::Acquire)
    }

    /// Host timer interrupts this CPU took.
    pub fn timer_interrupts(&self) -> u64 {
        self.timer_interrupts.load(Ordering::Relaxed)
    }

    /// Counts a host timer interrupt; the period to re-arm with (0: none).
    pub fn count_timer_interrupt(&self) -> u64 {
        self.timer_interrupts.fetch_add(1, Ordering::Relaxed);
        self.timer_period.load(Ordering::Relaxed)
    }

    /// Sets the period the host timer re-arms with (0: one-shot).
    pub fn set_timer_period(&self, ticks: u64) {
        self.timer_period.store(ticks, Ordering::Relaxed);
    }
}

static CPUS: [PerCpu; MAX_CPUS] = [const { PerCpu::new() }; MAX_CPUS];
/// CPUs up, the boot CPU included.
static COUNT: AtomicUsize = AtomicUsize::new(1);
/// What every secondary CPU runs once it is up.
static ENTRY: Once<fn(usize) -> !> = Once::new();

/// The record of the calling CPU.
pub fn this() -> &'static PerCpu {
    // An index is only ever handed out below MAX_CPUS; the fallback is unreachable.
    CPUS.get(arch::this_cpu()).unwrap_or(&CPUS[0])
}

/// The record of CPU `index`, if it is up.
pub fn get(index: usize) -> Option<&'static PerCpu> {
    CPUS.get(index).filter(|_| index < count())
}

/// How many CPUs are up (1 until `arch::start_secondaries` started others).
pub fn count() -> usize {
    COUNT.load(Ordering::Acquire)
}

/// Records the boot CPU (index 0) with its firmware id.
pub fn boot_cpu(hw_id: u64) {
    CPUS[0].hw_id.store(hw_id, Ordering::Release);
    CPUS[0].up.store(true, Ordering::Release);
}

/// Says on the console that the boot CPU is up.
pub fn report_boot_cpu() {
    println!(
        "minivisor: cpu 0 up ({} {:#x})",
        arch::CPU_ID_NAME,
        CPUS[0].hw_id()
    );
}

/// Sets what the secondary CPUs run (the first call wins).
pub fn set_entry(entry: fn(usize) -> !) {
    ENTRY.call_once(|| entry);
}

/// Gives CPU `index` (firmware id `hw_id`) a stack and fills its start record;
/// the record's address, for the CPU's entry code. `None` when there is no such
/// index or no memory for the stack.
pub fn prepare(index: usize, hw_id: u64) -> Option<&'static StartRecord> {
    let cpu = CPUS.get(index).filter(|_| index > 0)?;
    if cpu.start.stack_top.load(Ordering::Acquire) == 0 {
        let stack = frames::alloc(STACK_FRAMES, 12)?;
        let top = stack.as_usize().checked_add(STACK_FRAMES * frames::FRAME)?;
        cpu.start.stack_top.store(top as u64, Ordering::Release);
    }
    cpu.start.index.store(index as u64, Ordering::Release);
    cpu.hw_id.store(hw_id, Ordering::Release);
    Some(&cpu.start)
}

/// Waits until CPU `index` is up; whether it came up. A CPU that did not is left
/// out of [`count`].
pub fn wait_up(index: usize) -> bool {
    let Some(cpu) = CPUS.get(index) else {
        return false;
    };
    for _ in 0..UP_POLLS {
        if cpu.up.load(Ordering::Acquire) {
            COUNT.fetch_add(1, Ordering::AcqRel);
            return true;
        }
        core::hint::spin_loop();
    }
    println!(
        "minivisor: cpu {index} (id {:#x}) did not come up",
        cpu.hw_id()
    );
    false
}

/// Called by a secondary CPU's entry code once the CPU's own set-up is done: the
/// CPU says so on the console and is up; it goes on with the entry set by
/// [`set_entry`] (or idles without one).
pub fn entered(index: usize) -> ! {
    if let Some(cpu) = CPUS.get(index) {
        println!(
            "minivisor: cpu {index} up ({} {:#x})",
            arch::CPU_ID_NAME,
            cpu.hw_id()
        );
        cpu.up.store(true, Ordering::Release);
    }
    match ENTRY.get() {
        Some(entry) => entry(index),
        None => arch::idle(),
    }
}
