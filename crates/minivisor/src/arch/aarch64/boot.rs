//! Entry at EL2 from QEMU's boot loader, and the per-CPU EL2 set-up the vCPU
//! backend and the host timer need.

use core::arch::{asm, global_asm};

use super::{gic, timer};

global_asm!(
    r#"
.section .text.boot, "ax"
.global _start
_start:
    mrs x1, mpidr_el1
    and x1, x1, #0xff
    cbnz x1, 3f
    ldr x1, =__stack_top
    mov sp, x1
    ldr x2, =__bss_start
    ldr x3, =__bss_end
1:  cmp x2, x3
    b.hs 2f
    str xzr, [x2], #8
    b 1b
2:  bl {main}
3:  wfe
    b 3b
"#,
    main = sym boot_main,
);

/// `CPTR_EL2` (nVHE): RES1 bits only, so FP/SIMD is not trapped (guests own it;
/// the backend switches it with the vCPU).
const CPTR_EL2_NO_TRAPS: u64 = 0x33ff;
/// `CNTHCTL_EL2`: EL1 may read the physical counter and use the physical timer.
const CNTHCTL_EL1_ACCESS: u64 = 0b11;
/// The hypervisor's own `HCR_EL2` (the backend swaps in a guest's for each run and
/// restores this one): EL1 is AArch64 (RW), no stage 2, no traps, and E2H clear,
/// the nVHE layout the backend requires. Set on every CPU, so none keeps what the
/// firmware left.
const HCR_EL2_HOST: u64 = 1 << 31;

fn current_el() -> u64 {
    let el: u64;
    // SAFETY: reading CurrentEL has no side effect.
    unsafe { asm!("mrs {}, CurrentEL", out(reg) el, options(nomem, nostack)) };
    (el >> 2) & 3
}

/// The per-CPU EL2 state every CPU sets before it runs guests: the host's
/// `HCR_EL2`, no trapping of FP at EL2 and counter access for EL1, then the
/// backend's vectors for every later exception, this CPU's index in `TPIDR_EL2`
/// (see `this_cpu`), and the GIC's CPU interface with the interrupts of the host
/// timer, of the guests' virtual timer and of the GIC's maintenance enabled.
pub(super) fn init_this_cpu(index: usize) -> Result<(), &'static str> {
    if current_el() != 2 {
        return Err("not at EL2 (the CPU was started at another exception level)");
    }
    // SAFETY: at EL2, before this CPU runs a guest; the vectors are the backend's
    // table, valid for the whole run.
    unsafe {
        asm!(
            "msr hcr_el2, {hcr}",
            "msr cptr_el2, {cptr}",
            "msr cnthctl_el2, {cnthctl}",
            "msr cntvoff_el2, xzr",
            "msr vbar_el2, {vbar}",
            "msr tpidr_el2, {index}",
            "isb",
            hcr = in(reg) HCR_EL2_HOST,
            cptr = in(reg) CPTR_EL2_NO_TRAPS,
            cnthctl = in(reg) CNTHCTL_EL1_ACCESS,
            vbar = in(reg) axvcpu::arch::aarch64::exception_vector_base(),
            index = in(reg) index,
            options(nostack),
        );
    }
    // The timer's control register resets to an unknown value: disarmed before its
    // interrupt is enabled.
    timer::disarm_timer();
    let ppis = [
        super::kick::KICK_SGI,
        timer::TIMER_INTID,
        timer::VIRTUAL_TIMER_INTID,
        gic::MAINTENANCE_INTID,
    ];
    if gic::init_cpu(super::smp::mpidr(), &ppis) {
        Ok(())
    } else {
        Err("no GICv3 redistributor for this CPU (QEMU -M virt,gic-version=3)")
    }
}

extern "C" fn boot_main() -> ! {
    let el = current_el();
    if el != 2 {
        crate::println!("minivisor: started at EL{el}, needs EL2 (QEMU -M virt,virtualization=on)");
        super::fail_exit();
    }
    // SAFETY: once, at EL2, before the Rust code below relies on normal memory.
    unsafe { super::mmu::enable(super::RAM_START as u64, super::RAM_END as u64) };
    gic::init_distributor();
    if let Err(why) = init_this_cpu(0) {
        crate::println!("minivisor: cpu 0: {why}");
        super::fail_exit();
    }
    crate::cpus::boot_cpu(super::smp::mpidr() & super::smp::AFFINITY);
    let vtr = gic::ich_vtr();
    crate::println!(
        "minivisor: GICv3 virtual CPU interface: ICH_VTR_EL2 {vtr:#x}, {} list registers",
        axvcpu::arch::aarch64::gic::IchVtr(vtr).list_regs()
    );
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
