//! Entry from GRUB's `multiboot` command (Multiboot v1: 32-bit protected mode,
//! paging off, EAX = the boot loader's magic), the switch to long mode, and the
//! 64-bit set-up the VMX backend needs of its host: GDT with a TSS in TR, an IDT,
//! interrupts off and the PIC masked.

use core::arch::global_asm;

use super::{gdt, lapic, port::outb, smp};

/// The Multiboot v1 header magic.
const MULTIBOOT_MAGIC: u32 = 0x1bad_b002;
/// No requirements of the boot loader: the kernel is an ELF it loads by its
/// program headers, and minivisor reads no boot information.
const MULTIBOOT_FLAGS: u32 = 0;
/// Bytes of the boot stack.
const STACK_SIZE: usize = 0x10000;
/// CR4.PAE.
pub(super) const CR4_PAE: u32 = 1 << 5;
/// The IA32_EFER MSR and its long-mode enable bit.
pub(super) const IA32_EFER: u32 = 0xc000_0080;
pub(super) const EFER_LME: u32 = 1 << 8;
/// CR0: protection, numeric error (VMXON requires it) and paging.
pub(super) const CR0_PE_NE_PG: u32 = 1 | 1 << 5 | 1 << 31;

global_asm!(
    r#"
.section .multiboot, "a"
.balign 4
    .long {magic}
    .long {flags}
    .long {checksum}

.section .bss.minivisor_boot_stack, "aw", @nobits
.balign 16
    .skip {stack}
minivisor_boot_stack_top:

.section .text.boot, "ax"
.code32
.global _start
_start:
    cli
    cld
    mov edi, offset __bss_start
    mov ecx, offset __bss_end
    sub ecx, edi
    shr ecx, 2
    xor eax, eax
    rep stosd
    mov esp, offset minivisor_boot_stack_top
    call identity_map_4gib
    mov cr3, eax
    mov eax, cr4
    or eax, {cr4_pae}
    mov cr4, eax
    mov ecx, {efer}
    rdmsr
    or eax, {efer_lme}
    wrmsr
    mov eax, cr0
    or eax, {cr0}
    mov cr0, eax
    lgdt [minivisor_boot_gdt_pointer]
    mov eax, {code}
    push eax
    mov eax, offset minivisor_long_mode
    push eax
    retf
.code64
minivisor_long_mode:
    mov ax, {data}
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax
    lea rsp, [rip + minivisor_boot_stack_top]
    call {main}
.Lboot_halt:
    cli
    hlt
    jmp .Lboot_halt

.section .rodata.minivisor_boot_gdt, "a"
.balign 8
minivisor_boot_gdt:
    .quad 0
    .quad {code_descriptor}
    .quad {data_descriptor}
minivisor_boot_gdt_pointer:
    .word 3 * 8 - 1
    .long minivisor_boot_gdt
"#,
    magic = const MULTIBOOT_MAGIC,
    flags = const MULTIBOOT_FLAGS,
    checksum = const 0u32.wrapping_sub(MULTIBOOT_MAGIC).wrapping_sub(MULTIBOOT_FLAGS),
    stack = const STACK_SIZE,
    cr4_pae = const CR4_PAE,
    efer = const IA32_EFER,
    efer_lme = const EFER_LME,
    cr0 = const CR0_PE_NE_PG,
    code = const gdt::CODE,
    data = const gdt::DATA,
    code_descriptor = const gdt::CODE_DESCRIPTOR,
    data_descriptor = const gdt::DATA_DESCRIPTOR,
    main = sym boot_main,
);

/// Masks every interrupt of both 8259 PICs: minivisor runs with interrupts off.
fn mask_pic() {
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
}

extern "C" fn boot_main() -> ! {
    smp::init_this_cpu(0);
    mask_pic();
    crate::cpus::boot_cpu(lapic::id());
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
