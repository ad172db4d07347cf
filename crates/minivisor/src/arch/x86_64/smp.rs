//! The application processors: the ACPI MADT names their local APIC ids; each is
//! started in turn with INIT, start-up, start-up through the local APIC (Intel
//! SDM's MP initialization) at a real-mode trampoline copied below 1 MiB, which
//! switches to long mode on the boot CPU's page tables and calls Rust on the stack
//! of the CPU's start record.

use core::arch::{asm, global_asm};

use super::{
    acpi,
    boot::{CR0_PE_NE_PG, CR4_PAE, EFER_LME, IA32_EFER},
    gdt, idt, lapic,
};
use crate::cpus::{self, MAX_CPUS};

/// Where the trampoline runs: a free page below 1 MiB, the start-up IPI's vector
/// (0x08) times 4 KiB.
const TRAMPOLINE: usize = 0x8000;
const TRAMPOLINE_PAGE: u8 = (TRAMPOLINE >> 12) as u8;
/// The trampoline's data, at fixed offsets the assembly places with `.org`: the
/// page-table root, the start record and the Rust entry.
const SLOT_CR3: usize = 8;
const SLOT_RECORD: usize = 16;
const SLOT_ENTRY: usize = 24;
/// TSC ticks (instructions under Bochs) to wait after INIT and between the
/// start-up IPIs, as the SDM's 10 ms and 200 us, generously for an emulator.
const INIT_WAIT: u64 = 1_000_000;
const STARTUP_WAIT: u64 = 100_000;

// The trampoline, position-dependent on TRAMPOLINE: real mode at CS:IP =
// 0800:0000, a flat 32-bit step, then long mode; the far jumps are spelled as
// bytes (opcode 0xea, offset, selector).
global_asm!(
    r#"
.section .text.minivisor_trampoline, "ax"
.global minivisor_trampoline_start
.global minivisor_trampoline_end
.code16
minivisor_trampoline_start:
    jmp 1f
.org {slot_cr3}
    .quad 0
.org {slot_record}
    .quad 0
.org {slot_entry}
    .quad 0
// The GDT: null, flat 32-bit code (0x08), flat data (0x10), 64-bit code (0x18).
.org {gdt}
    .quad 0
    .quad 0x00cf9a000000ffff
    .quad 0x00cf92000000ffff
    .quad 0x00af9a000000ffff
.org {gdt_pointer}
    .word 4 * 8 - 1
    .long {base} + {gdt}
1:  cli
    cld
    xor ax, ax
    mov ds, ax
    lgdt [{base} + {gdt_pointer}]
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    .byte 0xea
    .word {base} + (4f - minivisor_trampoline_start)
    .word 0x08
.code32
4:  mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov eax, dword ptr [{base} + {slot_cr3}]
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
    .byte 0xea
    .long {base} + (5f - minivisor_trampoline_start)
    .word 0x18
.code64
5:  mov eax, {base} + {slot_record}
    mov rdi, qword ptr [rax]
    mov rsp, qword ptr [rdi]
    mov rdi, qword ptr [rdi + 8]
    mov eax, {base} + {slot_entry}
    call qword ptr [rax]
6:  cli
    hlt
    jmp 6b
minivisor_trampoline_end:
"#,
    base = const TRAMPOLINE,
    slot_cr3 = const SLOT_CR3,
    slot_record = const SLOT_RECORD,
    slot_entry = const SLOT_ENTRY,
    gdt = const 32,
    gdt_pointer = const 64,
    cr4_pae = const CR4_PAE,
    efer = const IA32_EFER,
    efer_lme = const EFER_LME,
    cr0 = const CR0_PE_NE_PG,
);

unsafe extern "C" {
    static minivisor_trampoline_start: u8;
    static minivisor_trampoline_end: u8;
}

/// `IA32_GS_BASE`: minivisor uses no GS segment, so each CPU keeps its index
/// there (0 after reset: the boot CPU). A VM exit restores it, as the VMCS host GS
/// base is read from it when a vCPU binds.
const IA32_GS_BASE: u32 = 0xc000_0101;

/// The index of the calling CPU (0 = the boot CPU): one RDMSR, as it is asked on
/// every vCPU run.
pub fn this_cpu() -> usize {
    let (low, high): (u32, u32);
    // SAFETY: reading IA32_GS_BASE at CPL 0 has no side effect.
    unsafe {
        asm!("rdmsr", in("ecx") IA32_GS_BASE, out("eax") low, out("edx") high, options(nomem, nostack, preserves_flags));
    }
    usize::try_from(u64::from(high) << 32 | u64::from(low)).unwrap_or(0)
}

/// Records `index` as the calling CPU's (see [`this_cpu`]).
fn set_this_cpu(index: usize) {
    let value = index as u64;
    // SAFETY: minivisor addresses nothing through GS, so its base only carries the
    // index.
    unsafe {
        asm!("wrmsr", in("ecx") IA32_GS_BASE, in("eax") value as u32, in("edx") (value >> 32) as u32, options(nostack, preserves_flags));
    }
}

fn rdtsc() -> u64 {
    let (low, high): (u32, u32);
    // SAFETY: RDTSC reads the counter and touches no memory.
    unsafe { asm!("rdtsc", out("eax") low, out("edx") high, options(nomem, nostack)) };
    u64::from(high) << 32 | u64::from(low)
}

fn wait(ticks: u64) {
    let start = rdtsc();
    while rdtsc().wrapping_sub(start) < ticks {
        core::hint::spin_loop();
    }
}

fn write_slot(offset: usize, value: u64) {
    // SAFETY: the slot is an aligned quadword of the trampoline page, which only the
    // boot CPU writes, and only while no CPU runs the trampoline (a started CPU is
    // up, past it, before the next one's record goes in; after a CPU that did not
    // come up, no slot is written again).
    unsafe { core::ptr::write_volatile((TRAMPOLINE + offset) as *mut u64, value) };
}

/// Copies the trampoline to [`TRAMPOLINE`] with the boot CPU's page-table root.
fn install_trampoline() {
    let start = &raw const minivisor_trampoline_start;
    let len = (&raw const minivisor_trampoline_end as usize).saturating_sub(start as usize);
    // SAFETY: the page at TRAMPOLINE is conventional memory below 1 MiB that
    // nothing else uses after boot (minivisor's image and frames are above 1 MiB);
    // the trampoline is shorter than a page.
    unsafe { core::ptr::copy_nonoverlapping(start, TRAMPOLINE as *mut u8, len.min(0x1000)) };
    let cr3: u64;
    // SAFETY: reading CR3 has no side effect.
    unsafe { asm!("mov {}, cr3", out(reg) cr3, options(nomem, nostack)) };
    write_slot(SLOT_CR3, cr3);
    write_slot(SLOT_ENTRY, ap_main as *const () as u64);
}

/// Starts every other enabled processor of the MADT (at most [`MAX_CPUS`] in
/// all) one after the other; each runs `entry(index)` once its set-up (GDT, TSS,
/// IDT, local APIC, VMXON) is done.
pub fn start_secondaries(entry: fn(usize) -> !) {
    cpus::set_entry(entry);
    install_trampoline();
    let own = lapic::id();
    let mut next = 1;
    // A CPU that did not come up may still run the trampoline later; its slots then
    // stay as they are, so no further CPU is started.
    let mut lost = false;
    let found = acpi::for_each_cpu(|apic_id| {
        if apic_id == own || next >= MAX_CPUS || lost {
            return;
        }
        let Some(record) = cpus::prepare(next, apic_id) else {
            crate::println!("minivisor: cpu {next}: no memory for its stack");
            return;
        };
        write_slot(SLOT_RECORD, core::ptr::from_ref(record) as u64);
        lapic::send_init(apic_id);
        wait(INIT_WAIT);
        lapic::send_startup(apic_id, TRAMPOLINE_PAGE);
        wait(STARTUP_WAIT);
        lapic::send_startup(apic_id, TRAMPOLINE_PAGE);
        if cpus::wait_up(next) {
            next += 1;
        } else {
            lost = true;
        }
    });
    if !found {
        crate::println!("minivisor: no ACPI MADT: the other CPUs stay off");
    }
}

/// The per-CPU set-up every CPU does before it runs guests: its index, its GDT and
/// TSS, the IDT, its local APIC on (timer masked).
pub(super) fn init_this_cpu(index: usize) {
    set_this_cpu(index);
    // SAFETY: once per CPU, on that CPU in 64-bit mode with interrupts disabled;
    // the boot CPU filled the IDT before it started any other CPU.
    unsafe { gdt::init(index) };
    if index == 0 {
        // SAFETY: on the boot CPU, once, before any other CPU exists.
        unsafe { idt::init() };
    } else {
        idt::load();
    }
    lapic::enable();
}

/// An application processor in long mode on its own stack: the rest of its set-up.
extern "C" fn ap_main(index: usize) -> ! {
    init_this_cpu(index);
    match super::enable_virtualization() {
        Ok(()) => cpus::entered(index),
        Err(why) => {
            crate::println!("minivisor: cpu {index}: {why}");
            idle()
        }
    }
}

/// Parks this CPU with nothing to do (interrupts stay disabled).
pub fn idle() -> ! {
    loop {
        // SAFETY: with interrupts disabled, HLT only stops the CPU.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
    }
}
