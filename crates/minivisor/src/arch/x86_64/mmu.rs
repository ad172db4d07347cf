//! The hypervisor's own page tables: an identity map of the first 4 GiB in 2 MiB
//! pages (one PML4 entry, four PDPT entries, four page directories), built by the
//! 32-bit entry stub before it turns on long mode. Every physical address
//! minivisor touches (its image, RAM up to `RAM_END`, the frames it hands out) is
//! below 4 GiB, so it needs no other mapping.

use core::arch::global_asm;

/// Present and writable.
const TABLE: u32 = 0b11;
/// Present, writable, a 2 MiB page.
const LARGE_PAGE: u32 = TABLE | 1 << 7;
/// GiB mapped: one page directory each.
const GIB: u32 = 4;

global_asm!(
    r#"
.section .bss.minivisor_page_tables, "aw", @nobits
.balign 4096
minivisor_pml4: .skip 4096
minivisor_pdpt: .skip 4096
minivisor_pd: .skip 4096 * {gib}

// 32-bit protected mode, paging off, .bss cleared: fills the tables and returns
// the PML4's address in eax. Clobbers ecx and edi.
.section .text.boot, "ax"
.code32
.global minivisor_identity_map
minivisor_identity_map:
    mov eax, offset minivisor_pdpt
    or eax, {table}
    mov dword ptr [minivisor_pml4], eax
    mov edi, offset minivisor_pdpt
    mov eax, offset minivisor_pd
    or eax, {table}
    mov ecx, {gib}
.Lmmu_pdpt:
    mov dword ptr [edi], eax
    add eax, 4096
    add edi, 8
    loop .Lmmu_pdpt
    mov edi, offset minivisor_pd
    mov eax, {large}
    mov ecx, 512 * {gib}
.Lmmu_pd:
    mov dword ptr [edi], eax
    add eax, 0x200000
    add edi, 8
    loop .Lmmu_pd
    mov eax, offset minivisor_pml4
    ret
.code64
"#,
    gib = const GIB,
    table = const TABLE,
    large = const LARGE_PAGE,
);
