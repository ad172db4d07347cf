//! Entry in HS-mode from OpenSBI, and the HS-mode set-up the vCPU backend needs.

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
2:  call {main}
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

extern "C" fn boot_main() -> ! {
    riscv64::set_hs_trap_handler(Some(hs_trap));
    // SAFETY: in HS-mode during boot, before any guest: traps go to the backend's
    // vector (which passes the hypervisor's own traps to `hs_trap`), with sscratch
    // zero while the hypervisor runs, as the backend requires.
    unsafe {
        asm!(
            "csrw sscratch, zero",
            "csrw stvec, {vec}",
            vec = in(reg) riscv64::trap_vector_base(),
            options(nostack),
        );
    }
    let hstatus: u64;
    // SAFETY: reading hstatus has no side effect; without the H extension it traps
    // to `hs_trap`, which reports it.
    unsafe { asm!("csrr {}, hstatus", out(reg) hstatus, options(nomem, nostack)) };
    let _ = hstatus;
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
