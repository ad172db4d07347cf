//! What the aarch64 guests that take interrupts share: system-register access by
//! name, and an EL1 vector table whose IRQ vector calls the program's handler.

/// Reads system register `$reg` (a name or an `S<op0>_<op1>_C<n>_C<m>_<op2>`
/// encoding); for registers whose read has no side effect.
#[macro_export]
macro_rules! mrs {
    ($reg:literal) => {{
        let value: u64;
        // SAFETY: reading a system register at EL1 has no effect on memory; the
        // callers name registers whose read changes nothing but the interrupt
        // acknowledge (ICC_IAR1_EL1), which is what they read it for.
        unsafe {
            core::arch::asm!(concat!("mrs {}, ", $reg), out(reg) value, options(nomem, nostack))
        };
        value
    }};
}

/// Writes `$value` to system register `$reg`, then synchronises (`isb`).
#[macro_export]
macro_rules! msr {
    ($reg:literal, $value:expr) => {{
        let value: u64 = $value;
        // SAFETY: the guests write only their own CPU interface, timer and vector
        // base; no memory is touched.
        unsafe {
            core::arch::asm!(
                concat!("msr ", $reg, ", {}"),
                "isb",
                in(reg) value,
                options(nomem, nostack)
            )
        };
    }};
}

/// Defines the program's EL1 vector table, `guest_irq_vectors`, and
/// `fn irq_vector_base() -> u64` (its address, for VBAR_EL1). An IRQ from EL1 on
/// SP_EL1 (offset 0x280) reads `CNTVCT_EL0` first (so a handler can time its
/// delivery) and calls `$handler(now: u64)` with the caller-saved registers saved,
/// then returns to the interrupted code; every other vector calls
/// `$unexpected(esr_el1: u64) -> !`. Both are `extern "C"` functions of the program.
#[macro_export]
macro_rules! irq_vector_table {
    ($handler:path, $unexpected:path) => {
        core::arch::global_asm!(
            r#"
.macro GUEST_IRQ_UNEXPECTED
    .balign 0x80
    mrs x0, esr_el1
    b {unexpected}
.endm

.section .text.guest_irq_vectors, "ax"
.balign 2048
.global guest_irq_vectors
guest_irq_vectors:
    .rept 5
    GUEST_IRQ_UNEXPECTED
    .endr
    .balign 0x80
    sub sp, sp, #176
    stp x0, x1, [sp]
    mrs x0, cntvct_el0
    b guest_irq_entry
    .rept 10
    GUEST_IRQ_UNEXPECTED
    .endr

guest_irq_entry:
    stp x2, x3, [sp, #16]
    stp x4, x5, [sp, #32]
    stp x6, x7, [sp, #48]
    stp x8, x9, [sp, #64]
    stp x10, x11, [sp, #80]
    stp x12, x13, [sp, #96]
    stp x14, x15, [sp, #112]
    stp x16, x17, [sp, #128]
    stp x18, x29, [sp, #144]
    str x30, [sp, #160]
    bl {handler}
    ldp x2, x3, [sp, #16]
    ldp x4, x5, [sp, #32]
    ldp x6, x7, [sp, #48]
    ldp x8, x9, [sp, #64]
    ldp x10, x11, [sp, #80]
    ldp x12, x13, [sp, #96]
    ldp x14, x15, [sp, #112]
    ldp x16, x17, [sp, #128]
    ldp x18, x29, [sp, #144]
    ldr x30, [sp, #160]
    ldp x0, x1, [sp]
    add sp, sp, #176
    eret
.purgem GUEST_IRQ_UNEXPECTED
.text
"#,
            handler = sym $handler,
            unexpected = sym $unexpected,
        );

        /// The address of the vector table, for VBAR_EL1.
        fn irq_vector_base() -> u64 {
            unsafe extern "C" {
                static guest_irq_vectors: u8;
            }
            core::ptr::addr_of!(guest_irq_vectors) as u64
        }
    };
}
