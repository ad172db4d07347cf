//! The hypervisor's GDT: a 64-bit code segment, a data segment and the 64-bit TSS
//! that VMX requires in TR (the host TR selector of a VMCS must not be zero).

use core::arch::asm;

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

static TSS_SEGMENT: Tss = {
    let mut words = [0u32; 26];
    words[25] = (core::mem::size_of::<Tss>() as u32) << 16;
    Tss(words)
};

/// The GDT; the processor sets the TSS descriptor's busy bit, so it is writable.
static mut GDT: [u64; 5] = [0, CODE_DESCRIPTOR, DATA_DESCRIPTOR, 0, 0];

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

/// Loads the GDT, reloads the segment registers and loads TR.
///
/// # Safety
///
/// Once, at boot in 64-bit mode, with interrupts disabled.
pub unsafe fn init() {
    let gdt = &raw mut GDT;
    let [low, high] = tss_descriptor(core::ptr::addr_of!(TSS_SEGMENT) as u64);
    // SAFETY: only this boot-time code writes the GDT, before it is loaded.
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
