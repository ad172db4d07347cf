//! Minivisor: a tiny bare-metal hypervisor assembled only from the AxVM crates.
//!
//! It boots on the bare machine (QEMU; Bochs on x86_64), brings up every physical
//! CPU, builds the VMs embedded at build time from their configs (parsed at run
//! time with `axvmconfig`) and guest images, runs their vCPUs on all CPUs in
//! parallel (each vCPU on the CPU its config pins it to, unpinned ones spread;
//! vCPUs sharing a CPU are time-sliced by a host timer), answers their hypercalls
//! and power requests, and prints a summary: per VM, its outcome against the
//! expected one, its exits by reason and the CPUs its vCPUs ran on. The machine
//! powers off (status 0) only when every VM ended as expected; otherwise the run
//! ends with status 1.

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
mod input;
mod irq;
mod run;
mod sched;
mod summary;
mod timer;
mod tlb;
mod vms;

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
    tlb::self_test();
    let guests = sched::run_all(run::build_all(vms::VMS));
    summary::print(guests)
}

/// What a secondary CPU does once it is up: run its share of the vCPUs.
fn secondary_main(cpu: usize) -> ! {
    sched::run_secondary(cpu);
    arch::idle()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    println!("minivisor: panic: {info}");
    arch::fail_exit()
}
