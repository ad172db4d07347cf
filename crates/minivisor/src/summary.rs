//! The summary minivisor prints once every VM ended: per VM, its outcome against the
//! expected one, its exits by reason and the CPUs its vCPUs ran on; per CPU, the
//! host timer interrupts it took; and how many CPUs ran vCPUs at all.

use alloc::{format, string::String};

use crate::{
    cpus, frames, println,
    run::{Guest, Outcome},
    vms::Expect,
};

/// Prints the summary; whether every VM met its expectation.
pub fn print(guests: &[Guest]) -> bool {
    println!("minivisor: summary");
    let mut passed = 0usize;
    let mut cpus_used = 0u64;
    for guest in guests {
        let expected = match guest.embedded.expect {
            Expect::PowerOff => "power off",
            Expect::Fault => "fault",
        };
        let outcome = match guest.outcome() {
            Outcome::PoweredOff => String::from("powered off"),
            Outcome::Faulted(fault) => format!("stopped for a {}: {fault}", fault.kind()),
            Outcome::Failed(why) => format!("failed: {why}"),
            Outcome::Running => String::from("still running"),
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
            let mut line = String::from("    exits:");
            for (kind, count) in vm.exit_counts().filter(|(_, count)| *count > 0) {
                line.push_str(&format!(" {kind} {count}"));
            }
            println!("{line}");
            let mut line = String::from("    vCPUs ran on CPUs:");
            for vcpu in 0..guest.vcpu_num() {
                let ran_on = guest.ran_on(vcpu);
                cpus_used |= ran_on;
                line.push_str(&format!(" vCPU {vcpu} {}", cpu_list(ran_on)));
            }
            println!("{line}");
        }
    }
    let mut timer_interrupts = 0u64;
    for cpu in 0..cpus::count() {
        let taken = cpus::get(cpu).map_or(0, cpus::PerCpu::timer_interrupts);
        timer_interrupts = timer_interrupts.saturating_add(taken);
        println!("minivisor: cpu {cpu} took {taken} host timer interrupts while guests ran");
    }
    if timer_interrupts > 0 {
        println!("minivisor: the host timer took the CPU back from a running guest");
    }
    println!(
        "minivisor: vCPUs ran on {} of {} CPUs",
        cpus_used.count_ones(),
        cpus::count()
    );
    let all = passed == guests.len() && !guests.is_empty();
    println!(
        "minivisor: {passed} of {} VMs as expected: {}; frames in use {}",
        guests.len(),
        if all { "PASS" } else { "FAIL" },
        frames::in_use()
    );
    all
}

/// `[0,2]` for the set of CPUs 0 and 2; `[]` for a vCPU that never ran.
fn cpu_list(set: u64) -> String {
    let cpus: alloc::vec::Vec<String> = (0..64u32)
        .filter(|&cpu| set.checked_shr(cpu).unwrap_or(0) & 1 == 1)
        .map(|cpu| format!("{cpu}"))
        .collect();
    format!("[{}]", cpus.join(","))
}
