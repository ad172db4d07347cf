//! Kicking another hart out of its guest: an SBI IPI through OpenSBI, which raises
//! the target's supervisor software interrupt. It ends the guest's run there
//! (`ExternalInterrupt`), or wakes the hart from `wfi`, so its run loop loads the
//! interrupt another vCPU just sent one of its vCPUs; `irq::end_of_interrupt`
//! acknowledges it.

use axvcpu::arch::riscv64::sbi;

use super::ecall;
use crate::cpus;

/// SBI IPI `send_ipi`.
const SEND_IPI: u64 = 0;
/// Harts one hart mask covers, from its base.
const MASK_BITS: u64 = 64;

/// Sends the kick to hart `cpu` (minivisor's dense index); nothing for a hart that
/// is not up.
pub fn kick_cpu(cpu: usize) {
    let Some(target) = cpus::get(cpu) else {
        return;
    };
    let hart = target.hw_id();
    let base = hart - hart % MASK_BITS;
    // OpenSBI refuses only harts that do not exist, and this one is up.
    let _ = ecall::call(sbi::IPI, SEND_IPI, [1 << (hart % MASK_BITS), base, 0]);
}
