//! Physical interrupts: the host's own (its timer) arrive while a guest runs and
//! end the guest's run with an `ExternalInterrupt` exit; minivisor handles them
//! between two entries. The hypervisor itself runs with interrupts masked.

use crate::{arch, timer};

/// Handles interrupt `vector` (as the vCPU backend reported it: aarch64 GIC
/// INTID, riscv64 interrupt cause, x86_64 IDT vector) and ends it at the
/// interrupt controller; whether it was the host timer (the end of a time slice).
pub fn handle(vector: u64) -> bool {
    let timer = arch::is_timer_interrupt(vector);
    if timer {
        timer::expired();
    }
    arch::end_of_interrupt(vector);
    timer
}
