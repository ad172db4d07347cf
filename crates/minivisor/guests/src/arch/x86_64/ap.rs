//! Starting another vCPU (an application processor) the PC way: a 16-bit real-mode
//! trampoline copied to [`TRAMPOLINE`] (free RAM below 1 MiB), then INIT and
//! start-up IPIs through the local APIC's interrupt command register.
//!
//! A start-up IPI with vector 0x08 starts the target in real mode at 0x8000. The
//! trampoline sets DS to 0 and addresses everything absolutely (its far jumps
//! too), so it runs whatever CS:IP split of that address the target starts with.
//! It loads its own GDT (null, 64-bit code, data, 32-bit code: the runtime's
//! selectors), enters protected mode, turns on PAE, `EFER.LME`, the BSP's CR3 (the
//! identity map of the first 4 GiB) and paging, far-jumps to 64-bit code and calls
//! the entry it was given with the context in RDI on the target's own stack.
//!
//! The MP specification's INIT, start-up, start-up sequence is sent as is (without
//! its delays: the vCPUs are virtual); the hypervisor starts the target on the
//! first start-up IPI and drops the second.

use core::{arch::global_asm, ptr};

use crate::STACK_SIZE;

/// Where the trampoline is copied: the page the start-up vector names.
pub const TRAMPOLINE: u64 = 0x8000;
/// The start-up IPI's vector: the trampoline's page.
const STARTUP_VECTOR: u32 = (TRAMPOLINE >> 12) as u32;
/// The local APIC's interrupt command register, low and high halves.
const ICR_LOW: u64 = 0xfee0_0300;
const ICR_HIGH: u64 = 0xfee0_0310;
/// ICR low for INIT (delivery mode 0b101, level assert) and start-up (0b110).
const ICR_INIT: u32 = 0x4500;
const ICR_STARTUP: u32 = 0x4600;
/// The vCPUs a VM may have: the BSP and up to three application processors.
pub const MAX_VCPUS: usize = 4;
/// The trampoline's 32-bit code selector (its other selectors are the runtime's).
const CODE32: u32 = 0x18;

global_asm!(
    r#"
.set AP_GDT, {base} + (ap_gdt - ap_trampoline)
.set AP_GDTR, {base} + (ap_gdtr - ap_trampoline)
.set AP_PROTECTED, {base} + (ap_protected - ap_trampoline)
.set AP_LONG, {base} + (ap_long - ap_trampoline)
.set AP_PARAMS, {base} + (ap_trampoline_params - ap_trampoline)

// Copied to {base}; never run in place.
.section .rodata.ap_trampoline, "a"
.balign 16
.global ap_trampoline
ap_trampoline:
.code16
    cli
    cld
    xor ax, ax
    mov ds, ax
    lgdt [AP_GDTR]
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    // jmp far CODE32:AP_PROTECTED (32-bit offset).
    .byte 0x66, 0xea
    .long AP_PROTECTED
    .word {code32}
.code32
ap_protected:
    mov ax, {data}
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov eax, cr4
    or eax, 1 << 5
    mov cr4, eax
    mov eax, dword ptr [AP_PARAMS]
    mov cr3, eax
    mov ecx, 0xc0000080
    rdmsr
    or eax, 1 << 8
    wrmsr
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    // jmp far CODE64:AP_LONG.
    .byte 0xea
    .long AP_LONG
    .word {code64}
.code64
ap_long:
    mov rsp, qword ptr [AP_PARAMS + 8]
    mov rdi, qword ptr [AP_PARAMS + 16]
    mov rax, qword ptr [AP_PARAMS + 24]
    call rax
1:  hlt
    jmp 1b
.balign 8
ap_gdt:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
    .quad 0x00cf9a000000ffff
ap_gdtr:
    .word 4 * 8 - 1
    .long AP_GDT
.balign 8
.global ap_trampoline_params
ap_trampoline_params:
    .skip 32
.global ap_trampoline_end
ap_trampoline_end:
"#,
    base = const TRAMPOLINE,
    code32 = const CODE32,
    code64 = const super::CODE64,
    data = const super::DATA,
);

unsafe extern "C" {
    static ap_trampoline: u8;
    static ap_trampoline_params: u8;
    static ap_trampoline_end: u8;
}

/// What the trampoline reads at `ap_trampoline_params` (its layout).
#[repr(C)]
struct Params {
    cr3: u64,
    stack_top: u64,
    context: u64,
    entry: u64,
}

/// The application processors' stacks, one per vCPU 1..[`MAX_VCPUS`].
#[repr(C, align(16))]
struct Stacks([[u8; STACK_SIZE as usize]; MAX_VCPUS - 1]);

static mut STACKS: Stacks = Stacks([[0; STACK_SIZE as usize]; MAX_VCPUS - 1]);

/// Writes the local APIC register at `addr`.
fn apic_write(addr: u64, value: u32) {
    // SAFETY: the local APIC page is identity-mapped; the hypervisor emulates the
    // access.
    unsafe { ptr::write_volatile(addr as *mut u32, value) };
}

/// Starts vCPU `target` (its APIC id, 1..[`MAX_VCPUS`]) at the 64-bit `entry` with
/// `context` in RDI; 0, or -2 for a target without a stack.
pub fn cpu_on(target: u64, entry: u64, context: u64) -> i64 {
    let Some(slot) = usize::try_from(target)
        .ok()
        .and_then(|target| target.checked_sub(1))
        .filter(|&slot| slot < MAX_VCPUS - 1)
    else {
        return -2;
    };
    let stacks = &raw mut STACKS;
    let stack_top =
        (stacks as u64).wrapping_add((slot as u64).wrapping_add(1).wrapping_mul(STACK_SIZE));
    let cr3: u64;
    // SAFETY: reading CR3 has no side effect.
    unsafe { core::arch::asm!("mov {}, cr3", out(reg) cr3, options(nomem, nostack)) };
    let start = &raw const ap_trampoline as usize;
    let params = (&raw const ap_trampoline_params as usize).wrapping_sub(start);
    let len = (&raw const ap_trampoline_end as usize).wrapping_sub(start);
    // SAFETY: the trampoline's bytes are in the image; TRAMPOLINE is identity-mapped
    // RAM that nothing else uses, and no other vCPU runs the trampoline while it is
    // written (the target has not started).
    unsafe {
        ptr::copy_nonoverlapping(start as *const u8, TRAMPOLINE as *mut u8, len);
        ptr::write_volatile(
            (TRAMPOLINE as usize).wrapping_add(params) as *mut Params,
            Params {
                cr3,
                stack_top,
                context,
                entry,
            },
        );
    }
    let destination = (target as u32) << 24;
    apic_write(ICR_HIGH, destination);
    apic_write(ICR_LOW, ICR_INIT);
    for _ in 0..2 {
        apic_write(ICR_HIGH, destination);
        apic_write(ICR_LOW, ICR_STARTUP | STARTUP_VECTOR);
    }
    0
}
