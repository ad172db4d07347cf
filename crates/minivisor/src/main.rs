//! Minivisor: a tiny bare-metal hypervisor assembled only from the AxVM crates.
//!
//! It boots on the bare machine (QEMU; Bochs on x86_64), brings up every physical
//! CPU (the secondaries idle for now), builds the VMs embedded at build time from
//! their configs (parsed at run time with `axvmconfig`) and guest images,
//! time-shares their vCPUs on the boot CPU (a host timer tick takes the CPU back
//! from a running guest), answers their hypercalls and power requests, and prints
//! a summary: per VM, its outcome against the expected one and its exits by reason.
//! The machine powers off (status 0) only when every VM ended as expected;
//! otherwise the run ends with status 1.

#![no_std]
#![no_main]

extern crate alloc;

mod arch;
mod console;
mod cpus;
mod firmware;
mod frames;
mod hal;
mod hypercall;
mod irq;
mod run;
mod timer;
mod vms;

use run::{Guest, Outcome};
use vms::Expect;

/// Runs every embedded VM; whether all ended as expected.
fn main(free_start: usize, free_end: usize) -> bool {
    console::init_log();
    // SAFETY: everything from the end of the hypervisor image to the end of RAM is
    // unused, identity-mapped memory, handed over once here.
    unsafe { frames::init(free_start, free_end) };
    if let Err(why) = arch::enable_virtualization() {
        println!("minivisor: cpu 0: {why}");
        return false;
    }
    cpus::report_boot_cpu();
    arch::start_secondaries(secondary_main);
    println!(
        "minivisor: {} on {}, {} CPUs up, {} VM(s) to run",
        env!("CARGO_PKG_NAME"),
        arch::ARCH,
        cpus::count(),
        vms::VMS.len()
    );
    let mut guests = run::build_all(vms::VMS);
    timer::start_periodic(timer::ticks_from_millis(TIMESLICE_MILLIS));
    run::schedule(&mut guests);
    timer::stop();
    summary(&guests)
}

/// The period of the host timer while guests run: each expiry takes the CPU back
/// from a running guest (an `ExternalInterrupt` exit).
const TIMESLICE_MILLIS: u64 = 5;

/// What a secondary CPU does once it is up: nothing yet (every vCPU runs on the
/// boot CPU).
fn secondary_main(_cpu: usize) -> ! {
    arch::idle()
}

/// Prints the summary table; whether every VM met its expectation.
fn summary(guests: &[Guest]) -> bool {
    println!("minivisor: summary");
    let mut passed = 0usize;
    for guest in guests {
        let expected = match guest.embedded.expect {
            Expect::PowerOff => "power off",
            Expect::Fault => "fault",
        };
        let outcome = match &guest.outcome {
            Outcome::PoweredOff => alloc::string::String::from("powered off"),
            Outcome::Faulted(fault) => alloc::format!("stopped for a {}: {fault}", fault.kind()),
            Outcome::Failed(why) => alloc::format!("failed: {why}"),
            Outcome::Running => alloc::string::String::from("still running"),
        };
        let verdict = if guest.passed() { "PASS" } else { "FAIL" };
        if guest.passed() {
            passed = passed.saturating_add(1);
        }
        println!(
            "  VM `{}` ({}): {outcome}; expected {expected}: {verdict}",
            guest.name, guest.embedded.source
        );
        if let Some(vm) = &guest.vm {
            let mut line = alloc::string::String::from("    exits:");
            for (kind, count) in vm.exit_counts().filter(|(_, count)| *count > 0) {
                line.push_str(&alloc::format!(" {kind} {count}"));
            }
            println!("{line}");
        }
    }
    let timer_interrupts = cpus::this().timer_interrupts();
    println!("minivisor: cpu 0 took {timer_interrupts} host timer interrupts while guests ran");
    if timer_interrupts > 0 {
        println!("minivisor: the host timer took the CPU back from a running guest");
    }
    let all = passed == guests.len() && !guests.is_empty();
    println!(
        "minivisor: {passed} of {} VMs as expected: {}; frames in use {}",
        guests.len(),
        if all { "PASS" } else { "FAIL" },
        frames::in_use()
    );
    all
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    println!("minivisor: panic: {info}");
    arch::fail_exit()
}
