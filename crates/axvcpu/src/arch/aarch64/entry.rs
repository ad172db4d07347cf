//! The EL2 exception vector table and the world switch between the hypervisor and a
//! guest.
//!
//! `run` is a context switch: [`enter_guest`] saves the hypervisor's callee-saved
//! registers and the address of the guest's [`TrapFrame`] on the EL2 stack, loads
//! the guest's general registers and `eret`s. An exception from the guest arrives at
//! the vector table, which stores the guest's registers into that frame (found on the
//! stack), restores the hypervisor's registers and returns from [`enter_guest`] with
//! the kind of exception. Exceptions taken at EL2 itself go to the handler set with
//! [`set_el2_exception_handler`].

use core::{
    ptr::null_mut,
    sync::atomic::{AtomicPtr, Ordering},
};

use super::context::TrapFrame;

/// [`enter_guest`]'s result: a synchronous exception from the guest.
pub(crate) const EXIT_SYNC: u64 = 0;
/// An IRQ while the guest ran.
pub(crate) const EXIT_IRQ: u64 = 1;
/// An FIQ while the guest ran.
pub(crate) const EXIT_FIQ: u64 = 2;
/// An SError while the guest ran.
pub(crate) const EXIT_SERROR: u64 = 3;
/// Added to the above for exceptions from AArch32 code (EL0 of an AArch64 guest).
pub(crate) const EXIT_AARCH32: u64 = 4;

/// The kind of an exception taken at EL2 while the hypervisor itself ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum El2ExceptionKind {
    /// A synchronous exception (a fault or a trapped instruction of the hypervisor).
    Sync,
    /// An IRQ (only when the hypervisor unmasks IRQs at EL2).
    Irq,
    /// An FIQ.
    Fiq,
    /// An SError.
    SError,
}

impl El2ExceptionKind {
    /// The kind of vector slot `code` (0 to 3, the slot's index in its group).
    #[must_use]
    pub const fn from_code(code: u64) -> Self {
        match code & 3 {
            0 => Self::Sync,
            1 => Self::Irq,
            2 => Self::Fiq,
            _ => Self::SError,
        }
    }
}

/// A hypervisor's handler of exceptions taken at EL2. It may edit the frame (for
/// example move `elr` past a faulting instruction); the vector table restores the
/// frame and returns to `elr`. A handler that cannot recover should not return.
pub type El2ExceptionHandler = fn(El2ExceptionKind, &mut TrapFrame);

static EL2_HANDLER: AtomicPtr<()> = AtomicPtr::new(null_mut());

/// Sets (or, with `None`, removes) the handler of exceptions taken at EL2 itself.
///
/// Without a handler, such an exception is logged at error level and the CPU parks
/// (loops on `wfe` with interrupts masked): an exception in the hypervisor never
/// returns to the faulting instruction to fault again.
pub fn set_el2_exception_handler(handler: Option<El2ExceptionHandler>) {
    let ptr = handler.map_or(null_mut(), |handler| handler as *mut ());
    EL2_HANDLER.store(ptr, Ordering::Release);
}

/// Passes an exception taken at EL2 to the registered handler; `false` when there is
/// none (the caller parks the CPU).
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))] // Called by the vector table.
pub(crate) fn dispatch_el2_exception(code: u64, frame: &mut TrapFrame) -> bool {
    let ptr = EL2_HANDLER.load(Ordering::Acquire);
    if ptr.is_null() {
        log::error!(
            "axvcpu: unhandled {:?} exception at EL2: ESR_EL2 {:#x}, ELR_EL2 {:#x}, FAR_EL2 {:#x}; parking this CPU",
            El2ExceptionKind::from_code(code),
            frame.esr,
            frame.elr,
            frame.far
        );
        return false;
    }
    // SAFETY: `EL2_HANDLER` only ever holds null or a value stored by
    // `set_el2_exception_handler`, which is an `El2ExceptionHandler` cast to a pointer.
    let handler = unsafe { core::mem::transmute::<*mut (), El2ExceptionHandler>(ptr) };
    handler(El2ExceptionKind::from_code(code), frame);
    true
}

#[cfg(target_arch = "aarch64")]
mod asm {
    use super::{EXIT_AARCH32, EXIT_FIQ, EXIT_IRQ, EXIT_SERROR, EXIT_SYNC};
    use crate::arch::aarch64::context::{TrapFrame, fp, frame};

    /// Bytes [`enter_guest`] keeps on the stack while the guest runs: the frame
    /// pointer, the hypervisor's DAIF, x18 and x19–x30 (15 words, rounded up).
    const HOST_FRAME: usize = 128;

    extern "C" fn el2_trap(code: u64, frame: *mut TrapFrame) {
        // SAFETY: the vector table passes the frame it just built on the stack; it is
        // valid, aligned and not aliased for the duration of this call.
        let frame = unsafe { &mut *frame };
        if !super::dispatch_el2_exception(code, frame) {
            loop {
                // SAFETY: waiting for an event has no effect on memory; the CPU is
                // parked on purpose (DAIF is masked since the exception was taken).
                unsafe { core::arch::asm!("wfe", options(nomem, nostack, preserves_flags)) };
            }
        }
    }

    core::arch::global_asm!(
        r#"
.macro AXVCPU_EL2_SLOT code
    .balign 0x80
    sub     sp, sp, #{frame_size}
    stp     x0, x1, [sp]
    mov     x0, #\code
    b       __axvcpu_aarch64_el2_trap
.endm

.macro AXVCPU_GUEST_SLOT code
    .balign 0x80
    stp     x0, x1, [sp, #-16]!
    mov     x0, #\code
    b       __axvcpu_aarch64_guest_exit
.endm

.section .text.axvcpu_el2_vectors, "ax"
.balign 2048
.global __axvcpu_aarch64_el2_vectors
.hidden __axvcpu_aarch64_el2_vectors
__axvcpu_aarch64_el2_vectors:
    // Current EL with SP_EL0.
    AXVCPU_EL2_SLOT 0
    AXVCPU_EL2_SLOT 1
    AXVCPU_EL2_SLOT 2
    AXVCPU_EL2_SLOT 3
    // Current EL with SP_EL2.
    AXVCPU_EL2_SLOT 0
    AXVCPU_EL2_SLOT 1
    AXVCPU_EL2_SLOT 2
    AXVCPU_EL2_SLOT 3
    // Lower EL, AArch64.
    AXVCPU_GUEST_SLOT {sync}
    AXVCPU_GUEST_SLOT {irq}
    AXVCPU_GUEST_SLOT {fiq}
    AXVCPU_GUEST_SLOT {serror}
    // Lower EL, AArch32.
    AXVCPU_GUEST_SLOT {sync32}
    AXVCPU_GUEST_SLOT {irq32}
    AXVCPU_GUEST_SLOT {fiq32}
    AXVCPU_GUEST_SLOT {serror32}

.purgem AXVCPU_EL2_SLOT
.purgem AXVCPU_GUEST_SLOT

// An exception of the hypervisor itself: x0 = slot code, x0/x1 already in the frame.
__axvcpu_aarch64_el2_trap:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    str     x30, [sp, #240]
    mrs     x1, elr_el2
    mrs     x2, spsr_el2
    stp     x1, x2, [sp, #{elr}]
    mrs     x1, esr_el2
    mrs     x2, far_el2
    stp     x1, x2, [sp, #{esr}]
    mrs     x1, hpfar_el2
    str     x1, [sp, #{hpfar}]
    mov     x1, sp
    bl      {el2_trap}
    ldp     x1, x2, [sp, #{elr}]
    msr     elr_el2, x1
    msr     spsr_el2, x2
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    ldr     x30, [sp, #240]
    ldp     x0, x1, [sp]
    add     sp, sp, #{frame_size}
    eret

.section .text.axvcpu_world_switch, "ax"
.balign 4
// u64 __axvcpu_aarch64_enter(TrapFrame *frame): runs the guest until it exits.
.global __axvcpu_aarch64_enter
.hidden __axvcpu_aarch64_enter
__axvcpu_aarch64_enter:
    sub     sp, sp, #{host_frame}
    mrs     x1, daif
    stp     x0, x1, [sp]
    stp     x18, x19, [sp, #16]
    stp     x20, x21, [sp, #32]
    stp     x22, x23, [sp, #48]
    stp     x24, x25, [sp, #64]
    stp     x26, x27, [sp, #80]
    stp     x28, x29, [sp, #96]
    str     x30, [sp, #112]
    msr     daifset, #0xf
    ldp     x1, x2, [x0, #{elr}]
    msr     elr_el2, x1
    msr     spsr_el2, x2
    ldp     x2, x3, [x0, #16]
    ldp     x4, x5, [x0, #32]
    ldp     x6, x7, [x0, #48]
    ldp     x8, x9, [x0, #64]
    ldp     x10, x11, [x0, #80]
    ldp     x12, x13, [x0, #96]
    ldp     x14, x15, [x0, #112]
    ldp     x16, x17, [x0, #128]
    ldp     x18, x19, [x0, #144]
    ldp     x20, x21, [x0, #160]
    ldp     x22, x23, [x0, #176]
    ldp     x24, x25, [x0, #192]
    ldp     x26, x27, [x0, #208]
    ldp     x28, x29, [x0, #224]
    ldr     x30, [x0, #240]
    ldp     x0, x1, [x0]
    eret
    dsb     nsh
    isb

// An exception from the guest: x0 = exit code, the guest's x0/x1 pushed, and above
// them the frame [`__axvcpu_aarch64_enter`] left.
__axvcpu_aarch64_guest_exit:
    ldr     x1, [sp, #16]
    stp     x2, x3, [x1, #16]
    stp     x4, x5, [x1, #32]
    stp     x6, x7, [x1, #48]
    stp     x8, x9, [x1, #64]
    stp     x10, x11, [x1, #80]
    stp     x12, x13, [x1, #96]
    stp     x14, x15, [x1, #112]
    stp     x16, x17, [x1, #128]
    stp     x18, x19, [x1, #144]
    stp     x20, x21, [x1, #160]
    stp     x22, x23, [x1, #176]
    stp     x24, x25, [x1, #192]
    stp     x26, x27, [x1, #208]
    stp     x28, x29, [x1, #224]
    str     x30, [x1, #240]
    ldp     x2, x3, [sp], #16
    stp     x2, x3, [x1]
    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    stp     x2, x3, [x1, #{elr}]
    mrs     x2, esr_el2
    mrs     x3, far_el2
    stp     x2, x3, [x1, #{esr}]
    mrs     x2, hpfar_el2
    str     x2, [x1, #{hpfar}]
    ldp     x18, x19, [sp, #16]
    ldp     x20, x21, [sp, #32]
    ldp     x22, x23, [sp, #48]
    ldp     x24, x25, [sp, #64]
    ldp     x26, x27, [sp, #80]
    ldp     x28, x29, [sp, #96]
    ldr     x30, [sp, #112]
    ldr     x1, [sp, #8]
    msr     daif, x1
    add     sp, sp, #{host_frame}
    ret

.arch_extension fp
.arch_extension simd

// void __axvcpu_aarch64_fp_save(FpState *state)
.global __axvcpu_aarch64_fp_save
.hidden __axvcpu_aarch64_fp_save
__axvcpu_aarch64_fp_save:
    stp     q0, q1, [x0, #0]
    stp     q2, q3, [x0, #32]
    stp     q4, q5, [x0, #64]
    stp     q6, q7, [x0, #96]
    stp     q8, q9, [x0, #128]
    stp     q10, q11, [x0, #160]
    stp     q12, q13, [x0, #192]
    stp     q14, q15, [x0, #224]
    stp     q16, q17, [x0, #256]
    stp     q18, q19, [x0, #288]
    stp     q20, q21, [x0, #320]
    stp     q22, q23, [x0, #352]
    stp     q24, q25, [x0, #384]
    stp     q26, q27, [x0, #416]
    stp     q28, q29, [x0, #448]
    stp     q30, q31, [x0, #480]
    mrs     x1, fpcr
    mrs     x2, fpsr
    add     x3, x0, #{fpcr}
    stp     x1, x2, [x3]
    ret

// void __axvcpu_aarch64_fp_restore(const FpState *state)
.global __axvcpu_aarch64_fp_restore
.hidden __axvcpu_aarch64_fp_restore
__axvcpu_aarch64_fp_restore:
    ldp     q0, q1, [x0, #0]
    ldp     q2, q3, [x0, #32]
    ldp     q4, q5, [x0, #64]
    ldp     q6, q7, [x0, #96]
    ldp     q8, q9, [x0, #128]
    ldp     q10, q11, [x0, #160]
    ldp     q12, q13, [x0, #192]
    ldp     q14, q15, [x0, #224]
    ldp     q16, q17, [x0, #256]
    ldp     q18, q19, [x0, #288]
    ldp     q20, q21, [x0, #320]
    ldp     q22, q23, [x0, #352]
    ldp     q24, q25, [x0, #384]
    ldp     q26, q27, [x0, #416]
    ldp     q28, q29, [x0, #448]
    ldp     q30, q31, [x0, #480]
    add     x3, x0, #{fpcr}
    ldp     x1, x2, [x3]
    msr     fpcr, x1
    msr     fpsr, x2
    ret
.text
"#,
        frame_size = const frame::SIZE,
        elr = const frame::ELR,
        esr = const frame::ESR,
        hpfar = const frame::HPFAR,
        host_frame = const HOST_FRAME,
        fpcr = const fp::FPCR,
        sync = const EXIT_SYNC,
        irq = const EXIT_IRQ,
        fiq = const EXIT_FIQ,
        serror = const EXIT_SERROR,
        sync32 = const EXIT_AARCH32 + EXIT_SYNC,
        irq32 = const EXIT_AARCH32 + EXIT_IRQ,
        fiq32 = const EXIT_AARCH32 + EXIT_FIQ,
        serror32 = const EXIT_AARCH32 + EXIT_SERROR,
        el2_trap = sym el2_trap,
    );

    unsafe extern "C" {
        static __axvcpu_aarch64_el2_vectors: u8;
        fn __axvcpu_aarch64_enter(frame: *mut TrapFrame) -> u64;
        pub(crate) fn __axvcpu_aarch64_fp_save(state: *mut crate::arch::aarch64::FpState);
        pub(crate) fn __axvcpu_aarch64_fp_restore(state: *const crate::arch::aarch64::FpState);
    }

    pub(super) fn vector_base() -> usize {
        core::ptr::addr_of!(__axvcpu_aarch64_el2_vectors) as usize
    }

    /// Runs the guest whose registers are in `frame` until it exits.
    ///
    /// # Safety
    ///
    /// The CPU is at EL2 with `SPSel` = 1, `VBAR_EL2` points at the vector table, and
    /// the vCPU owning `frame` is bound to this CPU.
    pub(super) unsafe fn enter(frame: &mut TrapFrame) -> u64 {
        // SAFETY: the caller guarantees the EL2 set-up; `frame` is valid for the whole
        // call and the assembly follows the AAPCS64 for everything the caller sees.
        unsafe { __axvcpu_aarch64_enter(frame) }
    }
}

#[cfg(target_arch = "aarch64")]
pub(crate) use asm::{__axvcpu_aarch64_fp_restore, __axvcpu_aarch64_fp_save};

/// The address of the EL2 exception vector table (2 KiB aligned) that the hypervisor
/// writes to `VBAR_EL2` before running any vCPU: `msr vbar_el2, x0; isb`. The table
/// routes guest exceptions back into `run` and exceptions at EL2 to the handler set
/// with [`set_el2_exception_handler`]. Zero when not built for aarch64.
#[must_use]
pub fn exception_vector_base() -> usize {
    #[cfg(target_arch = "aarch64")]
    {
        asm::vector_base()
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        0
    }
}

/// Runs the guest whose registers are in `frame` until it exits, returning the
/// `EXIT_*` code of the exception.
///
/// # Safety
///
/// The CPU is at EL2 with `SPSel` = 1 and the crate's vectors installed, and the vCPU
/// owning `frame` is bound to this CPU.
#[cfg(target_arch = "aarch64")]
pub(crate) unsafe fn enter_guest(frame: &mut TrapFrame) -> u64 {
    // SAFETY: forwarded from the caller.
    unsafe { asm::enter(frame) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_codes_name_their_kind() {
        assert_eq!(El2ExceptionKind::from_code(0), El2ExceptionKind::Sync);
        assert_eq!(El2ExceptionKind::from_code(1), El2ExceptionKind::Irq);
        assert_eq!(El2ExceptionKind::from_code(2), El2ExceptionKind::Fiq);
        assert_eq!(El2ExceptionKind::from_code(7), El2ExceptionKind::SError);
    }

    fn skip_faulting_instruction(kind: El2ExceptionKind, frame: &mut TrapFrame) {
        assert_eq!(kind, El2ExceptionKind::Sync);
        frame.elr += 4;
    }

    #[test]
    fn el2_exceptions_go_to_the_registered_handler() {
        let mut frame = TrapFrame {
            elr: 0x1000,
            ..TrapFrame::default()
        };
        set_el2_exception_handler(None);
        assert!(!dispatch_el2_exception(0, &mut frame));
        set_el2_exception_handler(Some(skip_faulting_instruction));
        assert!(dispatch_el2_exception(0, &mut frame));
        assert_eq!(frame.elr, 0x1004);
        set_el2_exception_handler(None);
        assert_eq!(exception_vector_base(), 0);
    }
}
