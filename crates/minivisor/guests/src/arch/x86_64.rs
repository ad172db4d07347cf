//! The x86_64 runtime: entry in 32-bit flat protected mode (paging off, the state a
//! Multiboot loader leaves), the guest's own switch to long mode, NS16550 console
//! on the COM1 ports, VMCALL hypercalls, and an IDT that reports exceptions.
//!
//! The entry code checks the Multiboot hand-off: when EAX holds the magic
//! 0x2BADB002, `guest_main` gets EBX, the information structure's address (kept in
//! EBP through the switch to long mode); otherwise 0.
//!
//! Hypercalls are VMCALL with RAX = the hypercall number and RDI, RSI, RDX, RCX,
//! R8, R9 = the arguments; the result comes back in RAX (-1 for an unknown one).
//! The VM is powered off with minivisor's SYSTEM_OFF hypercall: x86 has no PSCI or
//! SBI. Other vCPUs are started with INIT and start-up IPIs through the local
//! APIC, which the hypervisor emulates, and a real-mode trampoline ([`ap`]);
//! [`cpu_id`] is the local APIC id.

#[path = "x86_64/ap.rs"]
mod ap;

use core::{
    arch::{asm, global_asm},
    sync::atomic::{AtomicBool, Ordering},
};

pub use self::ap::cpu_on;

/// How the hello program names this guest.
pub const GUEST: &str = "an x86_64 guest in VMX non-root long mode";
/// RAM the hostile configs map read-only.
pub const READ_ONLY: u64 = 0x0200_0000;
/// The lazily mapped 8 MiB of the memory config, around the 1 GiB boundary at
/// 0x4000_0000.
pub const LAZY_REGION: u64 = 0x3fc0_0000;
/// What an unknown hypercall returns: -1.
pub const NOT_SUPPORTED: u64 = u64::MAX;
/// minivisor's hypercall that powers the VM off.
const SYSTEM_OFF: u64 = 0x4d56_00ff;
/// An MSR the VMX backend does not let guests read (IA32_FEATURE_CONTROL, which
/// governs VMX itself): reading it must raise #GP in the guest.
pub const FORBIDDEN_MSR: u32 = 0x3a;

/// EAX at the entry of a Multiboot kernel.
const MULTIBOOT_MAGIC: u32 = 0x2bad_b002;
/// The offset of `mem_upper` in the Multiboot information structure.
const MEM_UPPER_OFFSET: u64 = 8;
/// GDT selectors of the guest's own GDT.
const CODE64: u32 = 0x08;
const DATA: u32 = 0x10;

global_asm!(
    r#"
.section .bss.guest_boot, "aw", @nobits
.balign 16
    .skip {stack}
guest_stack_top:

.section .text.entry, "ax"
.code32
.global _start
_start:
    cli
    cld
    xor ebp, ebp
    cmp eax, {magic}
    cmove ebp, ebx
    mov edi, offset __bss_start
    mov ecx, offset __bss_end
    sub ecx, edi
    shr ecx, 2
    xor eax, eax
    rep stosd
    mov esp, offset guest_stack_top
    call identity_map_4gib
    mov cr3, eax
    mov eax, cr4
    or eax, 1 << 5
    mov cr4, eax
    mov ecx, 0xc0000080
    rdmsr
    or eax, 1 << 8
    wrmsr
    mov eax, cr0
    or eax, 0x80000001
    mov cr0, eax
    lgdt [guest_gdt_pointer]
    mov eax, {code}
    push eax
    mov eax, offset guest_long_mode
    push eax
    retf
.code64
guest_long_mode:
    mov eax, {data}
    mov ds, eax
    mov es, eax
    mov ss, eax
    lea rsp, [rip + guest_stack_top]
    call {init}
    mov edi, ebp
    call guest_main
.Lguest_halt:
    hlt
    jmp .Lguest_halt

// A vCPU started by `cpu_on`, from the trampoline: RDI = context, RSP = its stack.
.global guest_secondary_entry
guest_secondary_entry:
    mov rax, [rip + {secondary}]
    jmp rax

// #GP pushes an error code; every other vector shares a stub that pushes none.
guest_vector_gp:
    add rsp, 8
    mov rdi, 13
    jmp guest_vector_common
guest_vector_other:
    mov rdi, -1
guest_vector_common:
    mov rsi, [rsp]
    and rsp, -16
    call {exception}
    ud2

.section .rodata.guest_boot, "a"
.balign 8
guest_gdt:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
guest_gdt_pointer:
    .word 3 * 8 - 1
    .quad guest_gdt
"#,
    magic = const MULTIBOOT_MAGIC,
    stack = const crate::STACK_SIZE,
    code = const CODE64,
    data = const DATA,
    init = sym init,
    exception = sym exception,
    secondary = sym crate::power::SECONDARY_MAIN,
);

// The identity map the entry code switches to long mode with, shared with minivisor.
global_asm!(include_str!("../../../src/arch/x86_64/identity_map.S"));

unsafe extern "C" {
    fn guest_vector_gp();
    fn guest_vector_other();
    /// Where a vCPU started with [`cpu_on`] begins (in 64-bit mode).
    pub fn guest_secondary_entry();
}

/// The IDT: 256 gates of two words, #GP's own and one shared by every other vector.
static mut IDT: [[u64; 2]; 256] = [[0; 2]; 256];

/// The two words of a present, ring-0, 64-bit interrupt gate to `handler`.
const fn gate(handler: u64) -> [u64; 2] {
    let low =
        (handler & 0xffff) | (CODE64 as u64) << 16 | 0x8e << 40 | (handler >> 16 & 0xffff) << 48;
    [low, handler >> 32]
}

/// Fills and loads the IDT (called once by the entry code, before `guest_main`).
extern "C" fn init() {
    let idt = &raw mut IDT;
    for vector in 0..256 {
        let handler = if vector == 13 {
            guest_vector_gp as *const () as u64
        } else {
            guest_vector_other as *const () as u64
        };
        // SAFETY: only this entry-time code writes the IDT, before it is loaded.
        unsafe { (*idt)[vector] = gate(handler) };
    }
    let pointer: [u16; 5] = {
        let base = idt as u64;
        [
            (core::mem::size_of::<[[u64; 2]; 256]>() - 1) as u16,
            base as u16,
            (base >> 16) as u16,
            (base >> 32) as u16,
            (base >> 48) as u16,
        ]
    };
    // SAFETY: the IDT is static and every gate points at a stub above.
    unsafe { asm!("lidt [{}]", in(reg) pointer.as_ptr(), options(readonly, nostack)) };
}

/// Whether the next #GP is the one a hostile program provokes.
static GP_EXPECTED: AtomicBool = AtomicBool::new(false);

/// Marks the next #GP as expected: its handler reports it and powers off.
pub fn expect_general_protection() {
    GP_EXPECTED.store(true, Ordering::SeqCst);
}

/// An exception in the guest (vector 13 or -1 for any other, RIP): reports it and
/// powers the VM off.
extern "C" fn exception(vector: i64, rip: u64) -> ! {
    if vector == 13 && GP_EXPECTED.load(Ordering::SeqCst) {
        crate::println!("guest: #GP at RIP {rip:#x}, as expected");
    } else if vector == 13 {
        crate::println!("guest: unexpected #GP at RIP {rip:#x} FAILED");
    } else {
        crate::println!("guest: unexpected exception FAILED");
    }
    crate::power::system_off()
}

/// Reports the Multiboot hand-off `guest_main` got: the upper memory of the
/// information structure at `boot_info`, or a failure when the magic was missing.
pub fn report_boot(boot_info: u64) {
    if boot_info == 0 {
        crate::println!("multiboot: no magic in EAX at entry FAILED");
        return;
    }
    let mem_upper = boot_info.wrapping_add(MEM_UPPER_OFFSET) as *const u32;
    // SAFETY: the hypervisor put the structure in RAM below 4 GiB, which the entry
    // code identity-maps; nothing writes it.
    let mem_upper = unsafe { mem_upper.read_volatile() };
    crate::println!("multiboot: magic OK, {mem_upper} KiB upper memory");
}

/// Reads MSR `msr`.
pub fn rdmsr(msr: u32) -> u64 {
    let (low, high): (u32, u32);
    // SAFETY: RDMSR exits to the hypervisor, which emulates it or injects #GP;
    // it touches no memory.
    unsafe {
        asm!("rdmsr", in("ecx") msr, out("eax") low, out("edx") high, options(nomem, nostack))
    };
    u64::from(high) << 32 | u64::from(low)
}

/// The local APIC's ID register (the id in bits 31:24).
const APIC_ID: u64 = 0xfee0_0020;

/// This vCPU's index: its local APIC id, which the hypervisor sets to the vCPU id.
#[must_use]
pub fn cpu_id() -> u64 {
    // SAFETY: the local APIC page is identity-mapped; the hypervisor emulates the
    // read.
    let id = unsafe { core::ptr::read_volatile(APIC_ID as *const u32) };
    u64::from(id >> 24)
}

/// Sets RFLAGS.IF. No interrupt ever reaches the guest (each one is an
/// external-interrupt VM exit), but Bochs 2.7 recognises the host's interrupts in
/// VMX non-root operation only while the guest's IF is set: it computes the
/// interrupt mask at VM entry before it enters non-root operation, so with IF clear
/// the host timer cannot take the CPU back from a spinning guest there.
pub fn let_host_interrupts_in() {
    // SAFETY: setting IF only changes which interrupts the guest would take, and it
    // takes none (external-interrupt exiting).
    unsafe { asm!("sti", options(nomem, nostack)) };
}

/// Halts until an interrupt; under minivisor this yields the physical CPU.
pub fn wfi() {
    // SAFETY: HLT only pauses the vCPU (it exits to the hypervisor).
    unsafe { asm!("hlt", options(nomem, nostack)) };
}

/// Hypercall `nr` with six arguments; returns RAX.
#[inline]
#[must_use]
pub fn hypercall(nr: u64, args: [u64; 6]) -> u64 {
    let result: u64;
    // SAFETY: VMCALL exits to the hypervisor, which reads RAX and the argument
    // registers and writes RAX.
    unsafe {
        asm!(
            "vmcall",
            inout("rax") nr => result,
            in("rdi") args[0], in("rsi") args[1], in("rdx") args[2],
            in("rcx") args[3], in("r8") args[4], in("r9") args[5],
            options(nostack),
        );
    }
    result
}

/// The time-stamp counter. Bochs (`clock: sync=none`) advances it by one per
/// instruction, so its ticks count instructions.
#[inline]
#[must_use]
pub fn counter() -> u64 {
    let (low, high): (u32, u32);
    // SAFETY: RDTSC reads the counter and touches no memory.
    unsafe { asm!("rdtsc", out("eax") low, out("edx") high, options(nomem, nostack)) };
    u64::from(high) << 32 | u64::from(low)
}

/// The frequency [`counter`] is reported at: 1 GHz, so that one tick (one
/// instruction under Bochs) reads as one nanosecond, as under QEMU's
/// `-icount shift=0` on the other architectures.
#[inline]
#[must_use]
pub fn counter_hz() -> u64 {
    1_000_000_000
}

/// Stops this vCPU: halts for good.
pub fn cpu_off() {
    loop {
        wfi();
    }
}

/// Powers the VM off with minivisor's SYSTEM_OFF hypercall.
pub fn system_off() {
    let _ = hypercall(SYSTEM_OFF, [0; 6]);
}

/// The COM1 NS16550 the VM emulates, in the I/O port space.
pub const COM1: u16 = 0x3f8;
const THR: u16 = 0;
const LSR: u16 = 5;
/// The scratch register: an emulated port write with no other effect.
const SCR: u16 = 7;
const LSR_THRE: u8 = 1 << 5;

fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: a port read exits to the hypervisor's device emulation.
    unsafe { asm!("in al, dx", in("dx") port, out("al") value, options(nomem, nostack)) };
    value
}

fn outb(port: u16, value: u8) {
    // SAFETY: a port write exits to the hypervisor's device emulation.
    unsafe { asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack)) };
}

/// Writes `bytes` to `port` with one `rep outsb` (string I/O).
pub fn rep_outsb(port: u16, bytes: &[u8]) {
    // SAFETY: OUTSB reads `bytes` (RSI, RCX bytes, DF clear by the ABI) and exits to
    // the hypervisor for each byte written to the port; it writes no memory.
    unsafe {
        asm!(
            "rep outsb",
            in("dx") port,
            inout("rsi") bytes.as_ptr() => _,
            inout("rcx") bytes.len() => _,
            options(readonly, nostack)
        );
    }
}

/// Sends one byte, waiting until the transmitter holds no byte.
#[inline]
pub fn putc(byte: u8) {
    while inb(COM1 + LSR) & LSR_THRE == 0 {}
    outb(COM1 + THR, byte);
}

/// What [`device_write`] is, for the exit-cost report.
pub const DEVICE_WRITE: &str = "port write";

/// One write the hypervisor emulates and that has no effect: the UART's scratch
/// register.
#[inline]
pub fn device_write(value: u32) {
    outb(COM1 + SCR, value as u8);
}

/// x86 guests have no platform firmware to call (no PSCI or SBI): nothing to
/// exercise, so this reports failure.
pub fn firmware_services() -> bool {
    crate::println!("firmware: x86_64 guests have no firmware services");
    false
}
