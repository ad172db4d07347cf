//! The hypervisor's GDTs, one per CPU: a 64-bit code segment, a data segment and
//! the CPU's own 64-bit TSS that VMX requires in TR (the host TR selector of a
//! VMCS must not be zero; a TSS is busy once loaded, so CPUs cannot share one).

use core::arch::asm;

use crate::cpus::MAX_CPUS;

/// The code segment selector.
pub const CODE: u16 = 0x08;
/// The data segment selector.
pub const DATA: u16 = 0x10;
/// The TSS selector.
const TSS: u16 = 0x18;

/// A present, ring-0, 64-bit (L) execute/read code segment.
pub const CODE_DESCRIPTOR: u64 = 0x00af_9a00_0000_ffff;
/// A present, ring-0, read/write flat data segment.
pub const DATA_DESCRIPTOR: u64 = 0x00cf_9200_0000_ffff;
/// An available 64-bit TSS, present.
const TSS_TYPE: u64 = 0x89;

/// The 64-bit TSS: no privilege changes and no interrupt stacks are used, so all
/// it holds is the I/O permission map base (past its end: no map).
#[repr(C, align(16))]
struct Tss([u32; 26]);

/// The TSS size, minus one: its limit.
const TSS_LIMIT: u64 = core::mem::size_of::<Tss>() as u64 - 1;

static TSS_SEGMENTS: [Tss; MAX_CPUS] = [const {
    let mut words = [0u32; 26];
    words[25] = (core::mem::size_of::<Tss>() as u32) << 16;
    Tss(words)
}; MAX_CPUS];

/// The GDTs; the processor sets the TSS descriptor's busy bit, so they are writable.
static mut GDTS: [[u64; 5]; MAX_CPUS] = [[0, CODE_DESCRIPTOR, DATA_DESCRIPTOR, 0, 0]; MAX_CPUS];

/// The operand of LGDT and LIDT.
#[repr(C, packed)]
pub struct TablePointer {
    /// The table size in bytes, minus one.
    pub limit: u16,
    /// The table address.
    pub base: u64,
}

/// The two descriptor words of a 64-bit TSS at `base`.
const fn tss_descriptor(base: u64) -> [u64; 2] {
    let low = (TSS_LIMIT & 0xffff)
        | (base & 0xff_ffff) << 16
        | TSS_TYPE << 40
        | (TSS_LIMIT >> 16 & 0xf) << 48
        | (base >> 24 & 0xff) << 56;
    [low, base >> 32]
}

/// Loads CPU `cpu`'s GDT, reloads the segment registers and loads TR.
///
/// # Safety
///
/// Once per CPU, on that CPU at boot in 64-bit mode, with interrupts disabled;
/// `cpu` below `MAX_CPUS`.
pub unsafe fn init(cpu: usize) {
    let index = cpu.min(MAX_CPUS - 1);
    // SAFETY: taking the address of one CPU's GDT; each CPU writes only its own,
    // once, before it loads it.
    let gdt = unsafe { &raw mut GDTS[index] };
    let [low, high] = tss_descriptor(core::ptr::addr_of!(TSS_SEGMENTS[index]) as u64);
    // SAFETY: as above: this CPU's GDT, not loaded yet.
    unsafe {
        (*gdt)[3] = low;
        (*gdt)[4] = high;
    }
    let pointer = TablePointer {
        limit: (core::mem::size_of::<[u64; 5]>() - 1) as u16,
        base: gdt as u64,
    };
    // SAFETY: the GDT is static and holds the selectors loaded here: CS through a far
    // return to the next instruction, the data segments, and TR.
    unsafe {
        asm!(
            "lgdt [{pointer}]",
            "mov ds, {data:x}",
            "mov es, {data:x}",
            "mov ss, {data:x}",
            "push {code}",
            "lea {scratch}, [rip + 2f]",
            "push {scratch}",
            "retfq",
            "2:",
            "ltr {tss:x}",
            pointer = in(reg) &raw const pointer,
            data = in(reg) u64::from(DATA),
            code = in(reg) u64::from(CODE),
            tss = in(reg) u64::from(TSS),
            scratch = out(reg) _,
        );
    }
}
