//! PSCI calls over HVC, the conduit a guest of an EL2 hypervisor uses.

use core::arch::asm;

const CPU_OFF: u64 = 0x8400_0002;
const CPU_ON_64: u64 = 0xC400_0003;
const SYSTEM_OFF: u64 = 0x8400_0008;

fn call(function: u64, a1: u64, a2: u64, a3: u64) -> i64 {
    let ret: u64;
    // SAFETY: a PSCI call through HVC; the hypervisor writes x0 only.
    unsafe {
        asm!("hvc #0", inout("x0") function => ret, in("x1") a1, in("x2") a2, in("x3") a3, options(nostack));
    }
    ret as i64
}

/// Starts vCPU `target` (MPIDR) at `entry` with `context` in x0; PSCI's return code.
#[must_use]
pub fn cpu_on(target: u64, entry: u64, context: u64) -> i64 {
    call(CPU_ON_64, target, entry, context)
}

/// Stops this vCPU.
pub fn cpu_off() -> ! {
    call(CPU_OFF, 0, 0, 0);
    loop {
        crate::wfi();
    }
}

/// Powers the VM off.
pub fn system_off() -> ! {
    call(SYSTEM_OFF, 0, 0, 0);
    loop {
        crate::wfi();
    }
}
