//! A guest that starts where a PC's boot code does, in 16-bit real mode, which a
//! VMX vCPU runs only with "unrestricted guest": it greets through the COM1 16550,
//! switches itself to 32-bit protected mode (its own GDT, `CR0.PE`, a far jump),
//! greets again and powers off with minivisor's SYSTEM_OFF hypercall.
//!
//! It is its own entry code (`src/arch/x86_64-realmode.ld` loads it at 0x8000) and
//! does not use the runtime, whose entry expects protected mode. On the other
//! architectures it only says that it is x86-only.

#![no_std]
#![no_main]

#[cfg(target_arch = "x86_64")]
mod real {
    use core::arch::{asm, global_asm};

    /// minivisor's hypercall that powers the VM off.
    const SYSTEM_OFF: u32 = 0x4d56_00ff;
    /// The COM1 16550's transmit and line-status ports, and LSR's "transmitter
    /// holding register empty" bit.
    const THR: u16 = 0x3f8;
    const LSR: u16 = 0x3fd;
    const LSR_THRE: u8 = 1 << 5;
    /// The selectors of the flat 32-bit code and data segments of the GDT below.
    const CODE32: u16 = 0x08;
    const DATA32: u16 = 0x10;

    global_asm!(
        r#"
// Prints the NUL-terminated string at DS:(E)SI, polling LSR before each byte; the
// same text assembles for 16- and 32-bit code.
.macro realmode_print
1:  lodsb
    test al, al
    jz 3f
    mov bl, al
2:  mov dx, {lsr}
    in al, dx
    test al, {thre}
    jz 2b
    mov dx, {thr}
    mov al, bl
    out dx, al
    jmp 1b
3:  ret
.endm

.section .text.entry, "ax"
.code16
.global _start
_start:
    cli
    cld
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, offset _start
    mov si, offset realmode_hello
    call realmode_print16
    lgdt [realmode_gdt_pointer]
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    // jmp far CODE32:realmode_protected (16-bit offset).
    .byte 0xea
    .word realmode_protected
    .word {code}

realmode_print16:
    realmode_print

.code32
realmode_protected:
    mov ax, {data}
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, offset _start
    mov esi, offset realmode_protected_hello
    call realmode_print32
    mov eax, {system_off}
    vmcall
4:  hlt
    jmp 4b

realmode_print32:
    realmode_print

.section .rodata.realmode, "a"
.balign 8
realmode_gdt:
    .quad 0
    .quad 0x00cf9a000000ffff
    .quad 0x00cf92000000ffff
realmode_gdt_pointer:
    .word 3 * 8 - 1
    .long realmode_gdt
realmode_hello:
    .asciz "Hello from 16-bit real mode (unrestricted guest)\n"
realmode_protected_hello:
    .asciz "Switched by itself: now in 32-bit protected mode\n"
"#,
        lsr = const LSR,
        thr = const THR,
        thre = const LSR_THRE,
        code = const CODE32,
        data = const DATA32,
        system_off = const SYSTEM_OFF,
    );

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
        loop {
            // SAFETY: HLT only pauses the vCPU (it exits to the hypervisor).
            unsafe { asm!("hlt", options(nomem, nostack)) };
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[unsafe(no_mangle)]
extern "C" fn guest_main(_dtb: u64) -> ! {
    minivisor_guests::println!("realmode: 16-bit real mode exists only on x86_64");
    minivisor_guests::power::system_off()
}
