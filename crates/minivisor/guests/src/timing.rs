//! Costs in guest instructions: under QEMU with `-icount shift=0` one instruction
//! takes one nanosecond of virtual time, so the counter ([`counter`], aarch64
//! `CNTVCT_EL0`, riscv64 `time`) measures instructions; under Bochs the TSC counts
//! instructions (x86_64).

use crate::{counter, counter_hz};

/// Nanoseconds (= instructions under `-icount shift=0`) per round of `body`, over
/// `rounds` rounds (`body` gets the round's number).
pub fn per_round(rounds: u64, mut body: impl FnMut(u64)) -> u64 {
    let start = counter();
    for round in 0..rounds {
        body(round);
    }
    let ticks = counter().wrapping_sub(start);
    ticks.saturating_mul(1_000_000_000) / counter_hz().max(1) / rounds.max(1)
}
