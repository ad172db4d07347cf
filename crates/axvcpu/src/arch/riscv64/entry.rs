//! The HS-mode trap vector and the world switch between the hypervisor and a guest.
//!
//! `run` is a context switch: [`enter_guest`] saves the hypervisor's callee-saved
//! registers and `sstatus` on its stack, records the stack pointer in the guest's
//! [`TrapFrame`], puts the frame's address in `sscratch`, loads the guest's registers
//! and `sret`s into VS-mode. A trap from the guest arrives at the vector, which finds
//! the frame through `sscratch`, stores the guest's registers and trap CSRs into it,
//! and returns from [`enter_guest`] on the hypervisor's stack. While the hypervisor
//! runs, `sscratch` is zero: a trap taken in HS-mode itself goes to the handler set
//! with [`set_hs_trap_handler`].

use core::{
    ptr::null_mut,
    sync::atomic::{AtomicPtr, Ordering},
};

#[cfg(target_arch = "riscv64")]
use super::context::FpState;
use super::context::TrapFrame;

/// A hypervisor's handler of traps taken in HS-mode itself (its own faults, or its
/// interrupts if it enables them). It may edit the frame (for example move `sepc`
/// past a faulting instruction); the vector restores the frame and `sret`s to
/// `sepc`. A handler that cannot recover should not return.
pub type HsTrapHandler = fn(&mut TrapFrame);

static HS_HANDLER: AtomicPtr<()> = AtomicPtr::new(null_mut());

/// Sets (or, with `None`, removes) the handler of traps taken in HS-mode itself.
///
/// Without a handler such a trap is logged at error level and the hart parks
/// (`wfi` loop with interrupts off): a fault in the hypervisor never returns to the
/// faulting instruction to fault again.
pub fn set_hs_trap_handler(handler: Option<HsTrapHandler>) {
    let ptr = handler.map_or(null_mut(), |handler| handler as *mut ());
    HS_HANDLER.store(ptr, Ordering::Release);
}

/// Passes a trap taken in HS-mode to the registered handler; `false` when there is
/// none (the caller parks the hart).
#[cfg_attr(not(target_arch = "riscv64"), allow(dead_code))] // Called by the vector.
pub(crate) fn dispatch_hs_trap(frame: &mut TrapFrame) -> bool {
    let ptr = HS_HANDLER.load(Ordering::Acquire);
    if ptr.is_null() {
        log::error!(
            "axvcpu: unhandled trap in HS-mode: scause {:#x}, sepc {:#x}, stval {:#x}; parking this hart",
            frame.scause,
            frame.sepc,
            frame.stval
        );
        return false;
    }
    // SAFETY: `HS_HANDLER` only ever holds null or a value stored by
    // `set_hs_trap_handler`, which is an `HsTrapHandler` cast to a pointer.
    let handler = unsafe { core::mem::transmute::<*mut (), HsTrapHandler>(ptr) };
    handler(frame);
    true
}

#[cfg(target_arch = "riscv64")]
mod asm {
    use crate::arch::riscv64::context::{
        FpState, SSTATUS_GUEST_BITS, SSTATUS_SPP, SSTATUS_VS, TrapFrame, fp, frame, fs,
    };

    /// `sstatus` bits `enter` clears: `SIE` and `SPIE` (no interrupt while
    /// switching), `VS` (no vector state for the guest) and the guest's bits, which
    /// it then sets from the frame.
    const SSTATUS_CLEAR: u64 = 0x22 | SSTATUS_VS | SSTATUS_GUEST_BITS;
    const _: () = assert!(SSTATUS_GUEST_BITS & !(SSTATUS_SPP | fs::MASK) == 0);

    /// Bytes [`enter`] keeps on the stack while the guest runs: `ra`, `s0`–`s11`,
    /// `gp`, `tp` and the hypervisor's `sstatus`.
    const HOST_FRAME: usize = 128;

    extern "C" fn hs_trap(frame: *mut TrapFrame) {
        // SAFETY: the vector passes the frame it just built on the stack; it is valid,
        // aligned and not aliased for the duration of this call.
        let frame = unsafe { &mut *frame };
        if !super::dispatch_hs_trap(frame) {
            loop {
                // SAFETY: waiting for an interrupt has no effect on memory; the hart is
                // parked on purpose (sstatus.SIE is clear since the trap was taken).
                unsafe { core::arch::asm!("wfi", options(nomem, nostack)) };
            }
        }
    }

    core::arch::global_asm!(
        r#"
.macro AXVCPU_RV_SAVE_GPRS base
    sd ra, 8(\base)
    sd gp, 24(\base)
    sd tp, 32(\base)
    sd t0, 40(\base)
    sd t1, 48(\base)
    sd t2, 56(\base)
    sd s0, 64(\base)
    sd s1, 72(\base)
    sd a1, 88(\base)
    sd a2, 96(\base)
    sd a3, 104(\base)
    sd a4, 112(\base)
    sd a5, 120(\base)
    sd a6, 128(\base)
    sd a7, 136(\base)
    sd s2, 144(\base)
    sd s3, 152(\base)
    sd s4, 160(\base)
    sd s5, 168(\base)
    sd s6, 176(\base)
    sd s7, 184(\base)
    sd s8, 192(\base)
    sd s9, 200(\base)
    sd s10, 208(\base)
    sd s11, 216(\base)
    sd t3, 224(\base)
    sd t4, 232(\base)
    sd t5, 240(\base)
    sd t6, 248(\base)
.endm

.macro AXVCPU_RV_LOAD_GPRS base
    ld ra, 8(\base)
    ld gp, 24(\base)
    ld tp, 32(\base)
    ld t0, 40(\base)
    ld t1, 48(\base)
    ld t2, 56(\base)
    ld s0, 64(\base)
    ld s1, 72(\base)
    ld a1, 88(\base)
    ld a2, 96(\base)
    ld a3, 104(\base)
    ld a4, 112(\base)
    ld a5, 120(\base)
    ld a6, 128(\base)
    ld a7, 136(\base)
    ld s2, 144(\base)
    ld s3, 152(\base)
    ld s4, 160(\base)
    ld s5, 168(\base)
    ld s6, 176(\base)
    ld s7, 184(\base)
    ld s8, 192(\base)
    ld s9, 200(\base)
    ld s10, 208(\base)
    ld s11, 216(\base)
    ld t3, 224(\base)
    ld t4, 232(\base)
    ld t5, 240(\base)
    ld t6, 248(\base)
.endm

// Saves the trap CSRs; stval, htval and htinst not for an ecall from VS-mode (10),
// whose decoding does not read them. Clobbers t0, t1.
.macro AXVCPU_RV_SAVE_TRAP_CSRS base
    csrr t0, sepc
    sd t0, {sepc}(\base)
    csrr t0, sstatus
    sd t0, {sstatus}(\base)
    csrr t0, scause
    sd t0, {scause}(\base)
    li t1, 10
    beq t0, t1, 9f
    csrr t0, stval
    sd t0, {stval}(\base)
    csrr t0, htval
    sd t0, {htval}(\base)
    csrr t0, htinst
    sd t0, {htinst}(\base)
9:
.endm

.section .text.axvcpu_trap, "ax"
.balign 4
.global __axvcpu_riscv64_trap
.hidden __axvcpu_riscv64_trap
__axvcpu_riscv64_trap:
    csrrw a0, sscratch, a0
    beqz a0, 1f
    // From the guest: a0 = its frame, sscratch = its a0.
    AXVCPU_RV_SAVE_GPRS a0
    sd sp, 16(a0)
    csrr t0, sscratch
    sd t0, 80(a0)
    csrw sscratch, zero
    AXVCPU_RV_SAVE_TRAP_CSRS a0
    ld sp, {host_sp}(a0)
    ld ra, 0(sp)
    ld s0, 8(sp)
    ld s1, 16(sp)
    ld s2, 24(sp)
    ld s3, 32(sp)
    ld s4, 40(sp)
    ld s5, 48(sp)
    ld s6, 56(sp)
    ld s7, 64(sp)
    ld s8, 72(sp)
    ld s9, 80(sp)
    ld s10, 88(sp)
    ld s11, 96(sp)
    ld gp, 104(sp)
    ld tp, 112(sp)
    ld t0, 120(sp)
    csrw sstatus, t0
    addi sp, sp, {host_frame}
    ret

1:  // From HS-mode itself: sscratch holds a0, which goes back; sscratch = 0 again.
    csrrw a0, sscratch, a0
    addi sp, sp, -{frame_size}
    sd a0, 80(sp)
    AXVCPU_RV_SAVE_GPRS sp
    addi t0, sp, {frame_size}
    sd t0, 16(sp)
    AXVCPU_RV_SAVE_TRAP_CSRS sp
    csrr t0, hstatus
    sd t0, {hstatus}(sp)
    mv a0, sp
    call {hs_trap}
    ld t0, {sepc}(sp)
    csrw sepc, t0
    ld t0, {sstatus}(sp)
    csrw sstatus, t0
    AXVCPU_RV_LOAD_GPRS sp
    ld a0, 80(sp)
    addi sp, sp, {frame_size}
    sret

.section .text.axvcpu_world_switch, "ax"
.balign 4
// void __axvcpu_riscv64_enter(TrapFrame *frame): runs the guest until it traps.
.global __axvcpu_riscv64_enter
.hidden __axvcpu_riscv64_enter
__axvcpu_riscv64_enter:
    addi sp, sp, -{host_frame}
    sd ra, 0(sp)
    sd s0, 8(sp)
    sd s1, 16(sp)
    sd s2, 24(sp)
    sd s3, 32(sp)
    sd s4, 40(sp)
    sd s5, 48(sp)
    sd s6, 56(sp)
    sd s7, 64(sp)
    sd s8, 72(sp)
    sd s9, 80(sp)
    sd s10, 88(sp)
    sd s11, 96(sp)
    sd gp, 104(sp)
    sd tp, 112(sp)
    // SIE and SPIE off while switching, VS off while the guest runs; SPP (VS- or
    // VU-mode) and FS (the guest's FP state, loaded by bind) from the frame.
    li t1, {sstatus_clear}
    csrrc t0, sstatus, t1
    sd t0, 120(sp)
    ld t1, {sstatus}(a0)
    li t2, {sstatus_guest}
    and t1, t1, t2
    csrs sstatus, t1
    sd sp, {host_sp}(a0)
    ld t0, {sepc}(a0)
    csrw sepc, t0
    ld t0, {hstatus}(a0)
    csrw hstatus, t0
    csrw sscratch, a0
    ld sp, 16(a0)
    AXVCPU_RV_LOAD_GPRS a0
    ld a0, 80(a0)
    sret

// u64 __axvcpu_riscv64_read_insn(u64 gva): the guest instruction at gva (16 bits
// zero-extended unless they start a 32-bit one), or u64::MAX when the access faults.
.global __axvcpu_riscv64_read_insn
.hidden __axvcpu_riscv64_read_insn
__axvcpu_riscv64_read_insn:
    csrr t3, sstatus
    csrci sstatus, 2
    csrr t1, stvec
    la t0, 3f
    csrw stvec, t0
    mv t2, a0
    // hlvx.hu a0, (t2)
    .insn r 0x73, 0x4, 0x32, a0, t2, x3
    andi t0, a0, 3
    li t4, 3
    bne t0, t4, 2f
    addi t2, t2, 2
    // hlvx.hu t0, (t2)
    .insn r 0x73, 0x4, 0x32, t0, t2, x3
    slli t0, t0, 16
    or a0, a0, t0
2:  csrw stvec, t1
    csrw sstatus, t3
    ret
.balign 4
3:  li a0, -1
    j 2b

// void __axvcpu_riscv64_fp_restore(const FpState *fp) and
// void __axvcpu_riscv64_fp_save(FpState *fp): move f0-f31 and fcsr, with sstatus.FS
// on for the moves and given back its previous value after them.
// The D extension for these two routines whatever the assembler was told (the
// module's features do not always reach `global_asm!`).
.option push
.option arch, +d
.global __axvcpu_riscv64_fp_restore
.hidden __axvcpu_riscv64_fp_restore
__axvcpu_riscv64_fp_restore:
    li t1, {fs_mask}
    csrrs t0, sstatus, t1
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    fld f\n, \n*8(a0)
    .endr
    ld t1, {fcsr}(a0)
    fscsr t1
    csrw sstatus, t0
    ret

.global __axvcpu_riscv64_fp_save
.hidden __axvcpu_riscv64_fp_save
__axvcpu_riscv64_fp_save:
    li t1, {fs_mask}
    csrrs t0, sstatus, t1
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    fsd f\n, \n*8(a0)
    .endr
    frcsr t1
    sd t1, {fcsr}(a0)
    csrw sstatus, t0
    ret
.option pop

.purgem AXVCPU_RV_SAVE_GPRS
.purgem AXVCPU_RV_LOAD_GPRS
.purgem AXVCPU_RV_SAVE_TRAP_CSRS
.text
"#,
        sepc = const frame::SEPC,
        sstatus = const frame::SSTATUS,
        hstatus = const frame::HSTATUS,
        scause = const frame::SCAUSE,
        stval = const frame::STVAL,
        htval = const frame::HTVAL,
        htinst = const frame::HTINST,
        host_sp = const frame::HOST_SP,
        frame_size = const frame::SIZE,
        host_frame = const HOST_FRAME,
        sstatus_clear = const SSTATUS_CLEAR,
        sstatus_guest = const SSTATUS_GUEST_BITS,
        fs_mask = const fs::MASK,
        fcsr = const fp::FCSR,
        hs_trap = sym hs_trap,
    );

    unsafe extern "C" {
        static __axvcpu_riscv64_trap: u8;
        fn __axvcpu_riscv64_enter(frame: *mut TrapFrame);
        fn __axvcpu_riscv64_read_insn(gva: u64) -> u64;
        fn __axvcpu_riscv64_fp_restore(fp: *const FpState);
        fn __axvcpu_riscv64_fp_save(fp: *mut FpState);
    }

    /// Loads the FP registers and `fcsr` from `state`.
    pub(super) fn fp_restore(state: &FpState) {
        // SAFETY: the routine reads the 33 words of a valid `FpState` and writes
        // only the FP registers, `fcsr` and (temporarily, restored before it
        // returns) `sstatus.FS`; the hypervisor promised (README) to keep no live
        // values in FP registers, so overwriting them breaks nothing it relies on.
        unsafe { __axvcpu_riscv64_fp_restore(state) }
    }

    /// Stores the FP registers and `fcsr` into `state`.
    pub(super) fn fp_save(state: &mut FpState) {
        // SAFETY: the routine writes the 33 words of a valid, exclusively borrowed
        // `FpState` and changes no register but t0, t1 (caller-saved) and, for the
        // moves only, `sstatus.FS`.
        unsafe { __axvcpu_riscv64_fp_save(state) }
    }

    pub(super) fn vector_base() -> usize {
        core::ptr::addr_of!(__axvcpu_riscv64_trap) as usize
    }

    /// Runs the guest whose registers are in `frame` until it traps.
    ///
    /// # Safety
    ///
    /// The hart is in HS-mode, `stvec` points at the vector, `sscratch` is zero and
    /// the vCPU owning `frame` is bound to this hart.
    pub(super) unsafe fn enter(frame: &mut TrapFrame) {
        // SAFETY: the caller guarantees the HS-mode set-up; `frame` is valid for the
        // whole call and the assembly follows the calling convention for everything
        // the caller sees.
        unsafe { __axvcpu_riscv64_enter(frame) }
    }

    /// Reads the bound guest's instruction at `gva`.
    pub(super) fn read_insn(gva: u64) -> Option<u32> {
        // SAFETY: `hlvx.hu` reads guest memory through the guest's translation with a
        // temporary trap vector that turns a fault into u64::MAX; it changes no memory.
        let insn = unsafe { __axvcpu_riscv64_read_insn(gva) };
        u32::try_from(insn).ok()
    }
}

/// The address of the HS-mode trap vector (4-byte aligned, direct mode) that the
/// hypervisor writes to `stvec` before running any vCPU, with `sscratch` = 0. Guest
/// traps return into `run`; traps taken in HS-mode go to the handler set with
/// [`set_hs_trap_handler`]. Zero when not built for riscv64.
#[must_use]
pub fn trap_vector_base() -> usize {
    #[cfg(target_arch = "riscv64")]
    {
        asm::vector_base()
    }
    #[cfg(not(target_arch = "riscv64"))]
    {
        0
    }
}

/// Runs the guest whose registers are in `frame` until it traps.
///
/// # Safety
///
/// The hart is in HS-mode with the crate's vector installed and `sscratch` = 0, and
/// the vCPU owning `frame` is bound to this hart.
#[cfg(target_arch = "riscv64")]
pub(crate) unsafe fn enter_guest(frame: &mut TrapFrame) {
    // SAFETY: forwarded from the caller.
    unsafe { asm::enter(frame) }
}

/// Loads the FP registers and `fcsr` of a guest being bound to this hart.
#[cfg(target_arch = "riscv64")]
pub(crate) fn load_fp(state: &FpState) {
    asm::fp_restore(state);
}

/// Saves the FP registers and `fcsr` of the guest bound to this hart.
#[cfg(target_arch = "riscv64")]
pub(crate) fn save_fp(state: &mut FpState) {
    asm::fp_save(state);
}

/// Reads the bound guest's instruction at guest virtual address `gva` through its
/// translation (`hlvx.hu`); `None` when the access faults or off riscv64.
pub(crate) fn read_guest_insn(gva: u64) -> Option<u32> {
    #[cfg(target_arch = "riscv64")]
    {
        asm::read_insn(gva)
    }
    #[cfg(not(target_arch = "riscv64"))]
    {
        let _ = gva;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip_faulting_instruction(frame: &mut TrapFrame) {
        frame.sepc += 4;
    }

    #[test]
    fn hs_traps_go_to_the_registered_handler() {
        let mut frame = TrapFrame {
            sepc: 0x8020_0000,
            ..TrapFrame::default()
        };
        set_hs_trap_handler(None);
        assert!(!dispatch_hs_trap(&mut frame));
        set_hs_trap_handler(Some(skip_faulting_instruction));
        assert!(dispatch_hs_trap(&mut frame));
        assert_eq!(frame.sepc, 0x8020_0004);
        set_hs_trap_handler(None);
        if cfg!(not(target_arch = "riscv64")) {
            assert_eq!(trap_vector_base(), 0);
            assert_eq!(read_guest_insn(0x9000_0000), None);
        }
    }
}
