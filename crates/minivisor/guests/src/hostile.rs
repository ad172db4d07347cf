//! The misbehaviours of the hostile scenario; each hostile guest program runs one.

use crate::{arch::READ_ONLY, hypercall, power, println};

/// No RAM and no device here.
const UNMAPPED: u64 = 0x2000_0000;

/// What a hostile guest does.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    /// Loads from an address with nothing behind it.
    ReadUnmapped,
    /// Stores to an address with nothing behind it.
    WriteUnmapped,
    /// Stores to read-only RAM.
    WriteReadOnly,
    /// Issues a hypercall the hypervisor does not know.
    UnknownHypercall,
    /// Reads an MSR the hypervisor forbids (x86_64 only): the vCPU must get #GP,
    /// whose handler reports it and powers off.
    ForbiddenMsr,
    /// Writes a string to the console port with `rep outsb` (x86_64 only), which the
    /// backend does not emulate: the hypervisor must stop the VM rather than
    /// mishandle it.
    StringIo,
}

/// Performs `action`; if the guest survives, reports and powers off.
pub fn run(action: Action) -> ! {
    match action {
        Action::ReadUnmapped => {
            println!("hostile: reading unmapped {UNMAPPED:#x}");
            // SAFETY: a deliberately faulting access; the hypervisor stops this VM.
            let value = unsafe { core::ptr::read_volatile(UNMAPPED as *const u32) };
            println!("hostile: the read returned {value:#x} FAILED");
        }
        Action::WriteUnmapped => {
            println!("hostile: writing unmapped {UNMAPPED:#x}");
            // SAFETY: a deliberately faulting access; the hypervisor stops this VM.
            unsafe { core::ptr::write_volatile(UNMAPPED as *mut u32, 0xbad) };
            println!("hostile: the write went through FAILED");
        }
        Action::WriteReadOnly => {
            println!("hostile: writing read-only {READ_ONLY:#x}");
            // SAFETY: a deliberately faulting access; the hypervisor stops this VM.
            unsafe { core::ptr::write_volatile(READ_ONLY as *mut u32, 0xbad) };
            println!("hostile: the write went through FAILED");
        }
        Action::UnknownHypercall => {
            let ret = hypercall::call(0xdead_beef, [1, 2, 3, 4, 5, 6]);
            if ret == hypercall::NOT_SUPPORTED {
                println!("hostile: unknown hypercall refused with NOT_SUPPORTED");
            } else {
                println!("hostile: unknown hypercall returned {ret:#x} FAILED");
            }
        }
        Action::ForbiddenMsr => forbidden_msr(),
        Action::StringIo => string_io(),
    }
    power::system_off()
}

#[cfg(target_arch = "x86_64")]
fn forbidden_msr() {
    use crate::arch::{FORBIDDEN_MSR, expect_general_protection, rdmsr};
    println!("hostile: reading forbidden MSR {FORBIDDEN_MSR:#x}");
    expect_general_protection();
    let value = rdmsr(FORBIDDEN_MSR);
    println!("hostile: the MSR read returned {value:#x} FAILED");
}

#[cfg(not(target_arch = "x86_64"))]
fn forbidden_msr() {
    println!("hostile: MSRs exist only on x86_64 FAILED");
}

#[cfg(target_arch = "x86_64")]
fn string_io() {
    println!("hostile: rep outsb to the console port");
    crate::arch::rep_outsb(crate::arch::COM1, b"string I/O went through\n");
    println!("hostile: string I/O was not refused FAILED");
}

#[cfg(not(target_arch = "x86_64"))]
fn string_io() {
    println!("hostile: port I/O exists only on x86_64 FAILED");
}
