//! The CPUs the firmware describes: the local APIC ids of the enabled processors
//! in the ACPI MADT (Bochs' BIOS writes ACPI tables). Found through the RSDP in the
//! BIOS area and the RSDT.

/// Where the RSDP may be: the BIOS read-only area, on 16-byte boundaries.
const BIOS_AREA: core::ops::Range<usize> = 0xe_0000..0x10_0000;
const RSDP_SIGNATURE: &[u8; 8] = b"RSD PTR ";
/// The RSDP's RSDT address, and a system description table's header size.
const RSDP_RSDT: usize = 16;
const HEADER: usize = 36;
/// The MADT's fields after the header (local APIC address, flags), and its
/// processor-local-APIC entry (type 0) with its enabled flag.
const MADT_ENTRIES: usize = HEADER + 8;
const LOCAL_APIC: u8 = 0;
const ENABLED: u8 = 1;
/// Tables bigger than this are not believed.
const MAX_TABLE: u32 = 0x1_0000;

fn bytes(addr: usize, len: usize) -> &'static [u8] {
    // SAFETY: the addresses are the BIOS area's and those the firmware's (trusted)
    // ACPI tables give, all below 4 GiB and so identity-mapped; nothing writes the
    // tables after boot, and only reads are made.
    unsafe { core::slice::from_raw_parts(addr as *const u8, len) }
}

fn u32_at(addr: usize) -> u32 {
    let b = bytes(addr, 4);
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn rsdt() -> Option<usize> {
    BIOS_AREA
        .step_by(16)
        .find(|addr| bytes(*addr, 8) == RSDP_SIGNATURE)
        .map(|rsdp| u32_at(rsdp + RSDP_RSDT) as usize)
}

/// The table with `signature` that the RSDT lists: its address and length.
fn table(signature: &[u8; 4]) -> Option<(usize, usize)> {
    let rsdt = rsdt()?;
    let len = u32_at(rsdt + 4).min(MAX_TABLE) as usize;
    (rsdt + HEADER..rsdt + len)
        .step_by(4)
        .map(|entry| u32_at(entry) as usize)
        .find(|table| bytes(*table, 4) == signature)
        .map(|table| (table, u32_at(table + 4).min(MAX_TABLE) as usize))
}

/// Calls `each` with the local APIC id of every enabled processor the MADT
/// lists; whether there was a MADT.
pub fn for_each_cpu(mut each: impl FnMut(u64)) -> bool {
    let Some((madt, len)) = table(b"APIC") else {
        return false;
    };
    let mut entry = madt + MADT_ENTRIES;
    while entry + 2 <= madt + len {
        let header = bytes(entry, 2);
        let (kind, size) = (header[0], usize::from(header[1]));
        if size < 2 {
            break;
        }
        if kind == LOCAL_APIC && size >= 8 && bytes(entry + 4, 1)[0] & ENABLED != 0 {
            each(u64::from(bytes(entry + 3, 1)[0]));
        }
        entry += size;
    }
    true
}
