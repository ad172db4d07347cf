//! Entry in HS-mode from OpenSBI (on whichever hart won its boot lottery; the hart
//! id in a0), and the per-hart HS-mode set-up the vCPU backend and the host timer
//! need.

use core::arch::{asm, global_asm};

use axvcpu::arch::riscv64::{self, TrapFrame};

global_asm!(
    r#"
.section .text.boot, "ax"
.global _start
_start:
    la sp, __stack_top
    la t0, __bss_start
    la t1, __bss_end
1:  bgeu t0, t1, 2f
    sd zero, (t0)
    addi t0, t0, 8
    j 1b
2:  mv tp, zero
    call {main}
3:  wfi
    j 3b
"#,
    main = sym boot_main,
);

/// A trap in the hypervisor itself: report it and end the run as failed. The
/// likeliest one is the illegal instruction of the first hypervisor CSR access on a
/// hart without the H extension.
fn hs_trap(frame: &mut TrapFrame) {
    crate::println!(
        "minivisor: trap in HS-mode: scause {:#x}, sepc {:#x}, stval {:#x}{}",
        frame.scause,
        frame.sepc,
        frame.stval,
        if frame.scause == 2 {
            " (an illegal instruction: does the hart have the H extension? QEMU -cpu rv64,h=true)"
        } else {
            ""
        }
    );
    super::fail_exit()
}

/// `sie.SSIE` and `sie.STIE`: the supervisor software interrupt (a kick from another
/// hart) and timer interrupt (the host timer) are enabled. The hypervisor runs with
/// `sstatus.SIE` clear, so it takes them only while a guest runs (VS-mode), where
/// HS-mode interrupts are always enabled; both also end a `wfi`.
const SIE_SSIE_STIE: u64 = (1 << 1) | (1 << 5);

/// The per-hart HS-mode state every hart sets before it runs guests: traps to the
/// backend's vector (which passes the hypervisor's own traps to `hs_trap`) with
/// `sscratch` zero while the hypervisor runs, as the backend requires; this hart's
/// index in `tp` (see `this_cpu`); the host timer disarmed and its interrupt and the
/// kick's enabled. (Disarmed first: a deadline OpenSBI left in the past would keep
/// the interrupt pending, and an idle hart's `wfi` would return at once, forever.)
pub(super) fn init_this_cpu(index: usize) {
    // SAFETY: in HS-mode, before this hart runs a guest. `tp` is free for the
    // hypervisor: Rust does not use it on this target and the backend's world
    // switch saves and restores it.
    unsafe {
        asm!(
            "csrw sscratch, zero",
            "csrw stvec, {vec}",
            "mv tp, {index}",
            vec = in(reg) riscv64::trap_vector_base(),
            index = in(reg) index,
            options(nostack),
        );
    }
    // With `tp` set: the timer's state is per hart.
    super::timer::disarm_timer();
    super::irq::acknowledge_kick();
    // SAFETY: enabling the two interrupts in sie; sstatus.SIE stays clear, so
    // HS-mode takes them only while a guest runs.
    unsafe { asm!("csrs sie, {}", in(reg) SIE_SSIE_STIE, options(nomem, nostack)) };
}

extern "C" fn boot_main(hart_id: usize) -> ! {
    riscv64::set_hs_trap_handler(Some(hs_trap));
    init_this_cpu(0);
    let hstatus: u64;
    // SAFETY: reading hstatus has no side effect; without the H extension it traps
    // to `hs_trap`, which reports it.
    unsafe { asm!("csrr {}, hstatus", out(reg) hstatus, options(nomem, nostack)) };
    let _ = hstatus;
    crate::cpus::boot_cpu(hart_id as u64);
    unsafe extern "C" {
        static __image_end: u8;
    }
    let image_end = core::ptr::addr_of!(__image_end) as usize;
    if crate::main(image_end, super::RAM_END) {
        super::power_off()
    } else {
        super::fail_exit()
    }
}
