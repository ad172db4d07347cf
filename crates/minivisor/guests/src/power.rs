//! Starting and stopping vCPUs and the VM: PSCI over HVC on aarch64, SBI HSM and
//! SRST on riscv64; on x86_64 INIT and start-up IPIs through the local APIC, HLT and
//! minivisor's SYSTEM_OFF hypercall.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::arch;

/// The function a vCPU started with [`cpu_on`] runs (read by the entry code).
pub(crate) static SECONDARY_MAIN: AtomicUsize = AtomicUsize::new(0);

/// Starts vCPU `target` (its MPIDR, hart id or APIC id) running `main(context)` on
/// its own stack; the firmware call's return code (0 on success).
#[must_use]
pub fn cpu_on(target: u64, main: extern "C" fn(u64) -> !, context: u64) -> i64 {
    SECONDARY_MAIN.store(main as usize, Ordering::SeqCst);
    arch::cpu_on(
        target,
        arch::guest_secondary_entry as *const () as u64,
        context,
    )
}

/// Stops this vCPU.
pub fn cpu_off() -> ! {
    arch::cpu_off();
    loop {
        arch::wfi();
    }
}

/// Powers the VM off.
pub fn system_off() -> ! {
    arch::system_off();
    loop {
        arch::wfi();
    }
}
