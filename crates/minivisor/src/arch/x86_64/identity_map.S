// An identity map of the first 4 GiB in 2 MiB pages (one PML4 entry, four PDPT
// entries, four page directories), shared by minivisor's entry stub and the x86_64
// guests' (crates/minivisor/guests/src/arch/x86_64.rs includes this file).

.set IDENTITY_TABLE, 0x3        // present, writable
.set IDENTITY_LARGE, 0x83       // present, writable, a 2 MiB page
.set IDENTITY_GIB, 4            // GiB mapped: one page directory each

.section .bss.identity_map, "aw", @nobits
.balign 4096
identity_pml4: .skip 4096
identity_pdpt: .skip 4096
identity_pd: .skip 4096 * IDENTITY_GIB

// 32-bit protected mode, paging off, the tables' .bss cleared: fills the tables and
// returns the PML4's address in eax. Clobbers ecx and edi.
.section .text.identity_map, "ax"
.code32
.global identity_map_4gib
identity_map_4gib:
    mov eax, offset identity_pdpt
    or eax, IDENTITY_TABLE
    mov dword ptr [identity_pml4], eax
    mov edi, offset identity_pdpt
    mov eax, offset identity_pd
    or eax, IDENTITY_TABLE
    mov ecx, IDENTITY_GIB
.Lidentity_pdpt:
    mov dword ptr [edi], eax
    add eax, 4096
    add edi, 8
    loop .Lidentity_pdpt
    mov edi, offset identity_pd
    mov eax, IDENTITY_LARGE
    mov ecx, 512 * IDENTITY_GIB
.Lidentity_pd:
    mov dword ptr [edi], eax
    add eax, 0x200000
    add edi, 8
    loop .Lidentity_pd
    mov eax, offset identity_pml4
    ret
.code64
