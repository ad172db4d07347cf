//! Which physical CPU runs which vCPU, and the loop each CPU runs.
//!
//! Every vCPU belongs to one CPU for the whole run: the CPU its config pins it to
//! (`phys_cpu_ids`, minivisor's dense CPU index), else the least loaded CPU its
//! `phys_cpu_sets` mask allows, else the least loaded CPU of all (so unpinned
//! vCPUs spread). Each CPU round-robins its own vCPUs; the host timer ends a slice
//! of a vCPU that does not exit, so a spinning vCPU cannot starve the others of its
//! CPU. VMs are shared: their vCPUs run on several CPUs at once.

use alloc::{format, string::String, vec, vec::Vec};
use core::sync::atomic::{AtomicUsize, Ordering};

use spin::Once;

use crate::{
    arch::{self, Vm},
    cpus, input,
    run::{self, AfterQuantum, Guest, Outcome},
    timer,
};

/// The period of the host timer while guests run: each expiry takes the CPU back
/// from a running guest (an `ExternalInterrupt` exit) and ends its slice.
const TIMESLICE_MILLIS: u64 = 5;

/// The VMs, shared by every CPU once built.
static GUESTS: Once<Vec<Guest>> = Once::new();
/// Per CPU, its `(VM index, vCPU id)` pairs.
static PLAN: Once<Vec<Vec<(usize, usize)>>> = Once::new();
/// Secondary CPUs that have finished their vCPUs.
static FINISHED: AtomicUsize = AtomicUsize::new(0);

/// On the boot CPU: shares `guests` with every CPU, runs this CPU's vCPUs, waits
/// for the other CPUs to finish theirs, and returns the VMs for the summary.
pub fn run_all(guests: Vec<Guest>) -> &'static [Guest] {
    let count = cpus::count();
    let guests = GUESTS.call_once(|| guests);
    PLAN.call_once(|| place(guests, count));
    run_this_cpu(0);
    while FINISHED.load(Ordering::Acquire) < count.saturating_sub(1) {
        input::poll(guests);
        core::hint::spin_loop();
    }
    guests
}

/// On a secondary CPU: waits for the plan, runs this CPU's vCPUs, then reports.
pub fn run_secondary(cpu: usize) {
    PLAN.wait();
    run_this_cpu(cpu);
    FINISHED.fetch_add(1, Ordering::AcqRel);
}

/// The CPU that runs vCPU `vcpu` of the VM whose id is `vm`, once the plan exists.
pub fn cpu_of(vm: usize, vcpu: usize) -> Option<usize> {
    let index = GUESTS
        .get()?
        .iter()
        .position(|guest| guest.vm.as_ref().is_some_and(|built| built.id() == vm))?;
    PLAN.get()?
        .iter()
        .position(|queue| queue.contains(&(index, vcpu)))
}

/// Whether the calling CPU has a vCPU other than `vcpu` of the VM whose id is `vm`
/// that could run now (its VM runs and it was started): a halted vCPU then gives
/// the CPU up rather than sleep on it.
#[cfg_attr(
    not(target_arch = "riscv64"),
    allow(
        dead_code,
        reason = "only riscv64 asks: aarch64's halt sleeps regardless"
    )
)]
pub fn has_other_runnable(vm: usize, vcpu: usize) -> bool {
    let (Some(guests), Some(queue)) = (
        GUESTS.get(),
        PLAN.get()
            .and_then(|plan| plan.get(crate::arch::this_cpu())),
    ) else {
        return false;
    };
    queue.iter().any(|&(index, other)| {
        guests.get(index).is_some_and(|guest| {
            let same = other == vcpu && guest.vm.as_ref().is_some_and(|built| built.id() == vm);
            !same && guest.is_running() && guest.is_runnable(other)
        })
    })
}

/// Places every vCPU of every running VM on one of `cpus` CPUs. A VM pinned to a
/// CPU that is not up fails (with the reason), before any of its vCPUs runs.
fn place(guests: &[Guest], cpus: usize) -> Vec<Vec<(usize, usize)>> {
    let mut plan: Vec<Vec<(usize, usize)>> = vec![Vec::new(); cpus.max(1)];
    for (index, guest) in guests.iter().enumerate() {
        let Some(vm) = guest.vm.as_ref().filter(|_| guest.is_running()) else {
            continue;
        };
        // All of a VM's vCPUs are placed, or none.
        let mut trial = plan.clone();
        let placed = (0..guest.vcpu_num()).try_for_each(|vcpu| {
            let cpu = cpu_for(vm, vcpu, &trial)?;
            if let Some(queue) = trial.get_mut(cpu) {
                queue.push((index, vcpu));
            }
            Ok::<(), String>(())
        });
        match placed {
            Ok(()) => plan = trial,
            Err(why) => guest.end(Outcome::Failed(why)),
        }
    }
    plan
}

/// The CPU vCPU `vcpu` of `vm` runs on, given what `plan` holds so far.
fn cpu_for(vm: &Vm, vcpu: usize, plan: &[Vec<(usize, usize)>]) -> Result<usize, String> {
    let cpus = plan.len();
    let pins = &vm.config().phys_cpu_ls;
    if let Some(&cpu) = pins.phys_cpu_ids().and_then(|ids| ids.get(vcpu)) {
        return if cpu < cpus {
            Ok(cpu)
        } else {
            Err(format!(
                "vCPU {vcpu} is pinned to CPU {cpu}, but {cpus} CPU(s) are up"
            ))
        };
    }
    let allowed = pins
        .phys_cpu_sets()
        .and_then(|sets| sets.get(vcpu))
        .copied()
        .unwrap_or(usize::MAX);
    (0..cpus)
        .filter(|&cpu| {
            u32::try_from(cpu).is_ok_and(|bit| allowed.checked_shr(bit).unwrap_or(0) & 1 == 1)
        })
        .min_by_key(|&cpu| plan.get(cpu).map_or(usize::MAX, Vec::len))
        .ok_or_else(|| format!("vCPU {vcpu}: no CPU that is up is in its set {allowed:#x}"))
}

/// Round-robins this CPU's vCPUs until none of their VMs runs any more.
fn run_this_cpu(cpu: usize) {
    let (Some(guests), Some(queue)) = (GUESTS.get(), PLAN.get().and_then(|plan| plan.get(cpu)))
    else {
        return;
    };
    timer::start_periodic(timer::ticks_from_millis(TIMESLICE_MILLIS));
    let mut bound: Option<(usize, usize)> = None;
    loop {
        let mut live = false;
        let mut ran = false;
        for &(index, vcpu) in queue {
            let Some(guest) = guests.get(index) else {
                continue;
            };
            let Some(vm) = guest.vm.as_ref().filter(|_| guest.is_running()) else {
                continue;
            };
            live = true;
            if !guest.is_runnable(vcpu) {
                continue;
            }
            ran = true;
            if bound != Some((index, vcpu)) {
                if let Some((held, id)) = bound.take() {
                    unbind(guests, held, id);
                }
                bound = Some((index, vcpu));
            }
            if run::run_quantum(guest, vm, vcpu, cpu) == AfterQuantum::Stopped {
                // Unbound before it is marked stopped: whoever starts it again, on
                // any CPU, finds it free.
                unbind(guests, index, vcpu);
                bound = None;
                guest.stop_vcpu(vcpu);
            }
        }
        if !live {
            break;
        }
        // The boot CPU reads the console input: at least once per time slice.
        if cpu == 0 {
            input::poll(guests);
        }
        // Only vCPUs not started yet (or stopped): wait for a kick or the tick.
        if ran {
            core::hint::spin_loop();
        } else {
            arch::idle_wait();
        }
    }
    if let Some((held, id)) = bound {
        unbind(guests, held, id);
    }
    timer::stop();
}

fn unbind(guests: &[Guest], index: usize, vcpu: usize) {
    let Some(vm) = guests.get(index).and_then(|guest| guest.vm.as_ref()) else {
        return;
    };
    if let Ok(mut vcpu) = vm.vcpu(vcpu) {
        // A vCPU that never bound has nothing to save; its error is expected.
        let _ = vcpu.unbind();
    }
}
