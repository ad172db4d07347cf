//! The MultiProcessor Specification 1.4 tables an x86 guest without ACPI finds its
//! CPUs, its IOAPIC and its ISA interrupt routing through (Linux's `mpparse`).
//!
//! [`mp_table`] writes a floating pointer structure ("_MP_") followed by the
//! configuration table ("PCMP") it points to: one processor entry per vCPU (APIC id =
//! vCPU id, vCPU 0 the bootstrap processor), an ISA bus, the IOAPIC if the VM has one,
//! ISA IRQs 0-15 routed to its pins as PC firmware routes them (IRQ 0 to pin 2, the
//! 8259 cascade IRQ 2 left out, the others to the pin of their number), and the local
//! interrupts: LINT0 ExtINT on the bootstrap processor (the 8259s in virtual-wire
//! mode), LINT1 NMI on every processor. Linux scans the BIOS area 0xF0000-0xFFFFF for
//! the floating pointer, 16-byte aligned: [`MP_TABLE_GPA`] is such a place.
//!
//! ```
//! use axvm::mptable::{IoApic, MP_TABLE_GPA, mp_table};
//!
//! let table = mp_table(MP_TABLE_GPA, 2, Some(IoApic { id: 2, address: 0xfec0_0000 })).unwrap();
//! assert_eq!(&table[..4], b"_MP_");
//! assert_eq!(table.iter().take(16).fold(0u8, |sum, &byte| sum.wrapping_add(byte)), 0);
//! assert_eq!(&table[16..20], b"PCMP");
//! ```

use alloc::vec::Vec;

/// A guest address Linux searches for the floating pointer (the BIOS ROM area).
pub const MP_TABLE_GPA: u32 = 0xf_0000;
/// The local APICs' address.
const LOCAL_APIC: u32 = 0xfee0_0000;
/// Spec revision 1.4.
const SPEC_REV: u8 = 4;
/// The local APIC version a processor entry reports (an integrated xAPIC).
const LAPIC_VERSION: u8 = 0x14;
/// The IOAPIC version (82093AA).
const IOAPIC_VERSION: u8 = 0x11;
/// The processor signature (family 6) and features (FPU, on-chip APIC) of processor
/// entries: informational, Linux reads the CPUs themselves.
const CPU_SIGNATURE: u32 = 0x600;
const CPU_FEATURES: u32 = (1 << 0) | (1 << 9);
/// The ISA bus's id.
const ISA_BUS: u8 = 0;
/// The most vCPUs the table describes: APIC ids are one byte, 0xff is "all".
pub const MAX_CPUS: usize = 255;

/// Entry types and interrupt types.
const PROCESSOR: u8 = 0;
const BUS: u8 = 1;
const IOAPIC: u8 = 2;
const IO_INTERRUPT: u8 = 3;
const LOCAL_INTERRUPT: u8 = 4;
const INT: u8 = 0;
const NMI: u8 = 1;
const EXT_INT: u8 = 3;

/// The VM's IOAPIC as the table names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoApic {
    /// Its id (distinct from every vCPU's APIC id).
    pub id: u8,
    /// Its MMIO address.
    pub address: u32,
}

/// Why no table was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpTableError {
    /// No vCPU, or more than [`MAX_CPUS`].
    CpuCount(usize),
    /// The IOAPIC's id is a vCPU's APIC id (or 0xff).
    IoApicId(u8),
    /// The table would not end below 4 GiB.
    Address,
}

impl core::fmt::Display for MpTableError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::CpuCount(count) => write!(f, "{count} vCPUs do not fit an MP table (1-255)"),
            Self::IoApicId(id) => write!(f, "IOAPIC id {id} is taken by a vCPU"),
            Self::Address => f.write_str("the MP table would cross 4 GiB"),
        }
    }
}

/// The byte that makes `bytes` sum to 0 with it.
fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |sum, &byte| sum.wrapping_add(byte))
        .wrapping_neg()
}

/// An interrupt assignment entry (I/O or local): type, interrupt type, flags 0
/// (conforming to the bus), source bus and IRQ, destination and its pin.
fn assignment(entry: u8, kind: u8, irq: u8, destination: u8, pin: u8) -> [u8; 8] {
    [entry, kind, 0, 0, ISA_BUS, irq, destination, pin]
}

/// The configuration table's entries.
fn entries(vcpus: u8, ioapic: Option<IoApic>) -> (Vec<u8>, u16) {
    let mut bytes = Vec::new();
    let mut count = 0u16;
    for id in 0..vcpus {
        let flags = if id == 0 { 0b11 } else { 0b01 }; // enabled, bootstrap
        bytes.extend_from_slice(&[PROCESSOR, id, LAPIC_VERSION, flags]);
        bytes.extend_from_slice(&CPU_SIGNATURE.to_le_bytes());
        bytes.extend_from_slice(&CPU_FEATURES.to_le_bytes());
        bytes.extend_from_slice(&[0; 8]);
        count = count.saturating_add(1);
    }
    bytes.extend_from_slice(&[BUS, ISA_BUS]);
    bytes.extend_from_slice(b"ISA   ");
    count = count.saturating_add(1);
    if let Some(ioapic) = ioapic {
        bytes.extend_from_slice(&[IOAPIC, ioapic.id, IOAPIC_VERSION, 1]);
        bytes.extend_from_slice(&ioapic.address.to_le_bytes());
        count = count.saturating_add(1);
        for irq in (0..16u8).filter(|&irq| irq != 2) {
            let pin = if irq == 0 { 2 } else { irq };
            bytes.extend_from_slice(&assignment(IO_INTERRUPT, INT, irq, ioapic.id, pin));
            count = count.saturating_add(1);
        }
    }
    bytes.extend_from_slice(&assignment(LOCAL_INTERRUPT, EXT_INT, 0, 0, 0));
    bytes.extend_from_slice(&assignment(LOCAL_INTERRUPT, NMI, 0, 0xff, 1));
    (bytes, count.saturating_add(2))
}

/// The floating pointer structure and, right after it, the configuration table, for
/// `gpa` (16-byte aligned; the caller writes the bytes there and keeps them from the
/// guest's allocator, e.g. in an e820-reserved range), `vcpus` processors and
/// `ioapic`.
///
/// # Errors
///
/// [`MpTableError`] for a vCPU count of 0 or over [`MAX_CPUS`], an IOAPIC id that
/// collides with a vCPU's, or a table that would cross 4 GiB.
pub fn mp_table(gpa: u32, vcpus: usize, ioapic: Option<IoApic>) -> Result<Vec<u8>, MpTableError> {
    let cpus = u8::try_from(vcpus)
        .ok()
        .filter(|&cpus| cpus != 0 && usize::from(cpus) <= MAX_CPUS)
        .ok_or(MpTableError::CpuCount(vcpus))?;
    if let Some(ioapic) = ioapic
        && (ioapic.id < cpus || ioapic.id == 0xff)
    {
        return Err(MpTableError::IoApicId(ioapic.id));
    }
    let (body, count) = entries(cpus, ioapic);
    let length = body.len().saturating_add(44);
    let table_gpa = gpa.checked_add(16).ok_or(MpTableError::Address)?;
    u32::try_from(length)
        .ok()
        .and_then(|length| table_gpa.checked_add(length))
        .ok_or(MpTableError::Address)?;
    let mut table = Vec::with_capacity(length);
    table.extend_from_slice(b"PCMP");
    table.extend_from_slice(&u16::try_from(length).unwrap_or(u16::MAX).to_le_bytes());
    table.extend_from_slice(&[SPEC_REV, 0]);
    table.extend_from_slice(b"AXVM    ");
    table.extend_from_slice(b"AXVM-GUEST  ");
    table.extend_from_slice(&[0; 6]); // OEM table pointer and size
    table.extend_from_slice(&count.to_le_bytes());
    table.extend_from_slice(&LOCAL_APIC.to_le_bytes());
    table.extend_from_slice(&[0; 4]); // extended table length, checksum, reserved
    table.extend_from_slice(&body);
    if let Some(sum) = table.get_mut(7) {
        *sum = 0;
    }
    let table_sum = checksum(&table);
    if let Some(sum) = table.get_mut(7) {
        *sum = table_sum;
    }
    let mut floating = [0u8; 16];
    floating[..4].copy_from_slice(b"_MP_");
    floating[4..8].copy_from_slice(&table_gpa.to_le_bytes());
    floating[8] = 1; // length in 16-byte paragraphs
    floating[9] = SPEC_REV;
    floating[10] = checksum(&floating);
    let mut bytes = Vec::with_capacity(length.saturating_add(16));
    bytes.extend_from_slice(&floating);
    bytes.extend_from_slice(&table);
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use proptest::prelude::*;

    use super::*;

    fn sum(bytes: &[u8]) -> u8 {
        bytes.iter().fold(0u8, |sum, &byte| sum.wrapping_add(byte))
    }

    /// The entries of the configuration table at `bytes[16..]`, decoded by the spec's
    /// lengths (20 bytes for a processor, 8 for the others).
    fn decode(bytes: &[u8]) -> Vec<Vec<u8>> {
        let table = &bytes[16..];
        let length = usize::from(u16::from_le_bytes([table[4], table[5]]));
        let count = usize::from(u16::from_le_bytes([table[34], table[35]]));
        let mut at = 44;
        let mut entries = Vec::new();
        while at < length {
            let len = if table[at] == 0 { 20 } else { 8 };
            entries.push(table[at..at + len].to_vec());
            at += len;
        }
        assert_eq!(at, length);
        assert_eq!(entries.len(), count);
        entries
    }

    #[test]
    fn a_two_cpu_table_with_an_ioapic() {
        let ioapic = IoApic {
            id: 2,
            address: 0xfec0_0000,
        };
        let bytes = mp_table(MP_TABLE_GPA, 2, Some(ioapic)).unwrap();
        assert_eq!(&bytes[..4], b"_MP_");
        assert_eq!(
            u32::from_le_bytes(bytes[4..8].try_into().unwrap()),
            MP_TABLE_GPA + 16
        );
        assert_eq!((bytes[8], bytes[9], bytes[11], bytes[12]), (1, 4, 0, 0));
        assert_eq!(sum(&bytes[..16]), 0);
        let table = &bytes[16..];
        assert_eq!(&table[..4], b"PCMP");
        let length = usize::from(u16::from_le_bytes([table[4], table[5]]));
        assert_eq!(length, table.len());
        assert_eq!(sum(table), 0);
        assert_eq!(
            u32::from_le_bytes(table[36..40].try_into().unwrap()),
            0xfee0_0000
        );
        let entries = decode(&bytes);
        assert_eq!(
            entries[0][..4],
            [0, 0, 0x14, 0b11],
            "vCPU 0: enabled, bootstrap"
        );
        assert_eq!(entries[1][..4], [0, 1, 0x14, 0b01]);
        assert_eq!(entries[2], [1, 0, b'I', b'S', b'A', b' ', b' ', b' ']);
        assert_eq!(entries[3], [2, 2, 0x11, 1, 0x00, 0x00, 0xc0, 0xfe]);
        let routes: Vec<(u8, u8)> = entries[4..19]
            .iter()
            .map(|entry| (entry[5], entry[7]))
            .collect();
        let mut expected = alloc::vec![(0, 2)];
        expected.extend((1..16).filter(|&irq| irq != 2).map(|irq| (irq, irq)));
        assert_eq!(routes, expected);
        assert!(
            entries[4..19]
                .iter()
                .all(|entry| entry[..2] == [3, 0] && entry[6] == 2)
        );
        assert_eq!(
            entries[19],
            [4, 3, 0, 0, 0, 0, 0, 0],
            "LINT0 ExtINT on the BSP"
        );
        assert_eq!(
            entries[20],
            [4, 1, 0, 0, 0, 0, 0xff, 1],
            "LINT1 NMI everywhere"
        );
        assert_eq!(entries.len(), 21);
    }

    #[test]
    fn bad_shapes_are_refused() {
        assert_eq!(
            mp_table(MP_TABLE_GPA, 0, None),
            Err(MpTableError::CpuCount(0))
        );
        assert_eq!(
            mp_table(MP_TABLE_GPA, 256, None),
            Err(MpTableError::CpuCount(256))
        );
        let taken = IoApic {
            id: 1,
            address: 0xfec0_0000,
        };
        assert_eq!(
            mp_table(MP_TABLE_GPA, 2, Some(taken)),
            Err(MpTableError::IoApicId(1))
        );
        assert_eq!(mp_table(u32::MAX - 8, 1, None), Err(MpTableError::Address));
        assert_eq!(mp_table(u32::MAX - 40, 1, None), Err(MpTableError::Address));
    }

    proptest! {
        #[test]
        fn every_table_checks_out(vcpus in 1usize..=255, with_ioapic in any::<bool>()) {
            let ioapic = (with_ioapic && vcpus < 255).then_some(IoApic { id: 0xfe.min(u8::try_from(vcpus).unwrap()), address: 0xfec0_0000 });
            let bytes = mp_table(MP_TABLE_GPA, vcpus, ioapic).unwrap();
            prop_assert_eq!(sum(&bytes[..16]), 0);
            prop_assert_eq!(sum(&bytes[16..]), 0);
            let entries = decode(&bytes);
            prop_assert_eq!(entries.iter().filter(|entry| entry[0] == 0).count(), vcpus);
            prop_assert_eq!(entries.iter().filter(|entry| entry[0] == 0 && entry[3] & 2 != 0).count(), 1);
        }
    }
}
