//! Kicking another CPU out of its guest: an SGI of the host's own. It ends the
//! guest's run there (`ExternalInterrupt`), or wakes the CPU from `wfi`, so its run
//! loop loads the interrupt a device or another vCPU just gave one of its vCPUs.

use core::arch::asm;

use crate::cpus;

/// The SGI minivisor kicks CPUs with; `irq::handle` just ends it.
pub const KICK_SGI: u32 = 1;

/// Sends [`KICK_SGI`] to CPU `cpu` (minivisor's dense index); nothing for a CPU
/// that is not up.
pub fn kick_cpu(cpu: usize) {
    let Some(target) = cpus::get(cpu) else {
        return;
    };
    let value = sgi1r(target.hw_id(), KICK_SGI);
    // SAFETY: at EL2, ICC_SGI1R_EL1 sends an SGI to the named CPU only; the kick SGI
    // is enabled on every CPU and its handler only ends it.
    unsafe { asm!("msr S3_0_C12_C11_5, {}", "isb", in(reg) value, options(nomem, nostack)) };
}

/// ICC_SGI1R_EL1 for SGI `intid` to the one CPU whose MPIDR is `mpidr`: its Aff3,
/// Aff2 and Aff1, the range selector and target-list bit of its Aff0 (GICv3,
/// 16 CPUs per range).
const fn sgi1r(mpidr: u64, intid: u32) -> u64 {
    let aff0 = mpidr & 0xff;
    let aff1 = (mpidr >> 8) & 0xff;
    let aff2 = (mpidr >> 16) & 0xff;
    let aff3 = (mpidr >> 32) & 0xff;
    (1 << (aff0 % 16))
        | (aff1 << 16)
        | (((intid & 0xf) as u64) << 24)
        | (aff2 << 32)
        | ((aff0 / 16) << 44)
        | (aff3 << 48)
}
