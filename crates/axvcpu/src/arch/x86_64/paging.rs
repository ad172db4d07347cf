//! Nested and guest paging: the EPT pointer and VPID of a nested paging
//! configuration, and the software walks that read guest instructions — through
//! the guest's own page tables (none, 32-bit, PAE or 4-level) and then the EPT —
//! over a reader of host physical memory, so they are tested on any host.

use axaddrspace::Ept;
use axvm_types::{AxVmError, AxVmResult, NestedPagingConfig};

use super::context::start::{CR0_PG, CR4_PAE, CR4_PSE, EFER_LMA};

/// Bits 51:12 of a paging-structure entry: the next table or the page frame.
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
/// A large page (PS in guest tables, bit 7 in EPT entries).
const LARGE: u64 = 1 << 7;
/// `CR4.LA57`: 5-level paging, which the walk does not support.
const CR4_LA57: u64 = 1 << 12;
/// EPT memory type write-back, the only one the backend reads through.
const EPT_MEMTYPE_WB: u64 = 6;
/// Longest x86 instruction.
pub const MAX_INSTRUCTION_LEN: usize = 15;

/// The EPT pointer of `paging` (write-back paging structures, walk length 4).
///
/// # Errors
///
/// `InvalidInput` unless the table has 4 levels and a 4 KiB-aligned root.
pub fn eptp(paging: &NestedPagingConfig) -> AxVmResult<u64> {
    let root = paging.root.as_usize() as u64;
    if paging.levels != 4 || root & 0xfff != 0 || root & !ADDR_MASK != 0 {
        log::error!(
            "x86 vCPU: EPT needs a 4-level table with a 4 KiB-aligned root, got {} levels at {root:#x}",
            paging.levels
        );
        return Err(AxVmError::InvalidInput);
    }
    Ok(Ept::eptp(paging))
}

/// The VPID of a VM: its VMID, except that VMID 0 (which VPID cannot use: VPID 0
/// is the hypervisor's own) becomes 1. Two VMs may then share VPID 1; this is safe
/// because `bind` flushes the VPID's translations on every load.
#[must_use]
pub const fn vpid(vmid: u16) -> u16 {
    if vmid == 0 { 1 } else { vmid }
}

/// How an entry format marks presence and where it allows large pages.
#[derive(Clone, Copy)]
struct Format {
    present: u64,
    /// The largest shift (30: 1 GiB, 21: 2 MiB, 0: none) at which PS/bit 7 makes a leaf.
    large_from: u32,
}

/// Walks a 64-bit-entry radix table from `root` with the level shifts `shifts`;
/// the leaf entry and the translated address.
fn walk(
    root: u64,
    addr: u64,
    shifts: &[u32],
    format: Format,
    read: &impl Fn(u64) -> Option<u64>,
) -> Option<(u64, u64)> {
    let mut table = root & ADDR_MASK;
    for (level, &shift) in shifts.iter().enumerate() {
        let index = (addr >> shift) & 0x1ff;
        let entry = read(table.checked_add(index.checked_mul(8)?)?)?;
        if entry & format.present == 0 {
            return None;
        }
        let last = level.checked_add(1)? == shifts.len();
        if last || (shift <= format.large_from && entry & LARGE != 0) {
            let offset_mask = 1u64.checked_shl(shift)?.checked_sub(1)?;
            return Some((
                entry,
                (entry & ADDR_MASK & !offset_mask) | (addr & offset_mask),
            ));
        }
        table = entry & ADDR_MASK;
    }
    None
}

/// The host physical address of `gpa` through the EPT whose pointer is `eptp`, if
/// a leaf maps it with write-back memory (the backend never reads device memory).
#[must_use]
pub fn ept_translate(eptp: u64, gpa: u64, read: &impl Fn(u64) -> Option<u64>) -> Option<u64> {
    let format = Format {
        present: 0b111,
        large_from: 30,
    };
    let (leaf, hpa) = walk(eptp, gpa, &[39, 30, 21, 12], format, read)?;
    ((leaf >> 3) & 0b111 == EPT_MEMTYPE_WB).then_some(hpa)
}

/// The guest's paging mode, from its CR0, CR4 and EFER.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestPaging {
    /// Paging off: linear = physical (32 bits).
    None,
    /// 32-bit paging (4 MiB pages with `CR4.PSE`).
    Bits32 {
        /// CR3.
        cr3: u64,
        /// `CR4.PSE`.
        pse: bool,
    },
    /// PAE paging.
    Pae {
        /// CR3.
        cr3: u64,
    },
    /// 4-level paging (IA-32e mode).
    Level4 {
        /// CR3.
        cr3: u64,
    },
    /// 5-level paging: not walked.
    Level5,
}

impl GuestPaging {
    /// The mode the registers select.
    #[must_use]
    pub const fn new(cr0: u64, cr3: u64, cr4: u64, efer: u64) -> Self {
        if cr0 & CR0_PG == 0 {
            Self::None
        } else if efer & EFER_LMA != 0 {
            if cr4 & CR4_LA57 != 0 {
                Self::Level5
            } else {
                Self::Level4 { cr3 }
            }
        } else if cr4 & CR4_PAE != 0 {
            Self::Pae { cr3 }
        } else {
            Self::Bits32 {
                cr3,
                pse: cr4 & CR4_PSE != 0,
            }
        }
    }

    /// The guest-physical address of linear address `gla`, reading guest-physical
    /// memory 8 bytes at a time (8-aligned) with `read`.
    #[must_use]
    pub fn translate(self, gla: u64, read: &impl Fn(u64) -> Option<u64>) -> Option<u64> {
        let long = Format {
            present: 1,
            large_from: 30,
        };
        match self {
            Self::None => Some(gla & 0xffff_ffff),
            Self::Level4 { cr3 } => walk(cr3, gla, &[39, 30, 21, 12], long, read).map(|(_, a)| a),
            Self::Pae { cr3 } => {
                let pdpte =
                    read((cr3 & 0xffff_ffe0).checked_add(((gla >> 30) & 3).wrapping_mul(8))?)?;
                let pae = Format {
                    present: 1,
                    large_from: 21,
                };
                (pdpte & 1 != 0)
                    .then(|| walk(pdpte, gla & 0xffff_ffff, &[21, 12], pae, read))
                    .flatten()
                    .map(|(_, a)| a)
            }
            Self::Bits32 { cr3, pse } => translate_32bit(cr3, gla & 0xffff_ffff, pse, read),
            Self::Level5 => None,
        }
    }
}

/// Reads the 32-bit entry at `addr` (4-aligned) through an 8-byte reader.
fn read32(addr: u64, read: &impl Fn(u64) -> Option<u64>) -> Option<u64> {
    let word = read(addr & !7)?;
    Some((word >> (addr & 4).wrapping_mul(8)) & 0xffff_ffff)
}

fn translate_32bit(
    cr3: u64,
    gla: u64,
    pse: bool,
    read: &impl Fn(u64) -> Option<u64>,
) -> Option<u64> {
    let pde = read32((cr3 & 0xffff_f000) | (gla >> 22).wrapping_mul(4), read)?;
    if pde & 1 == 0 {
        return None;
    }
    if pse && pde & LARGE != 0 {
        // PSE-36: bits 20:13 of the entry are bits 39:32 of the address.
        let high = ((pde >> 13) & 0xff) << 32;
        return Some(high | (pde & 0xffc0_0000) | (gla & 0x3f_ffff));
    }
    let pte = read32(
        (pde & 0xffff_f000) | ((gla >> 12) & 0x3ff).wrapping_mul(4),
        read,
    )?;
    (pte & 1 != 0).then_some((pte & 0xffff_f000) | (gla & 0xfff))
}

/// Guest memory as the backend reads it: guest-physical addresses through the EPT
/// to host physical memory, read 8 bytes at a time (8-aligned) by `read_host`.
pub struct GuestMemory<R> {
    /// The EPT pointer.
    pub eptp: u64,
    /// Reads 8 bytes of host physical memory at an 8-aligned address.
    pub read_host: R,
}

impl<R: Fn(u64) -> Option<u64>> GuestMemory<R> {
    /// The 8 bytes at the 8-aligned guest-physical address `gpa`.
    pub fn read_gpa(&self, gpa: u64) -> Option<u64> {
        let hpa = ept_translate(self.eptp, gpa & !7, &self.read_host)?;
        (self.read_host)(hpa)
    }

    /// Fetches up to [`MAX_INSTRUCTION_LEN`] bytes at guest-linear address `gla`
    /// (wrapping at 4 GiB unless `wide`) into `buf`; the number of bytes read, which
    /// is short when a following page is not mapped.
    pub fn fetch(&self, paging: GuestPaging, gla: u64, wide: bool, buf: &mut [u8]) -> usize {
        let read_gpa = |gpa| self.read_gpa(gpa);
        let mut done = 0usize;
        let mut page_hpa = None;
        for (index, byte) in buf.iter_mut().take(MAX_INSTRUCTION_LEN).enumerate() {
            let mut addr = gla.wrapping_add(index as u64);
            if !wide {
                addr &= 0xffff_ffff;
            }
            if index == 0 || addr & 0xfff == 0 {
                page_hpa = paging
                    .translate(addr, &read_gpa)
                    .and_then(|gpa| ept_translate(self.eptp, gpa, &self.read_host))
                    .map(|hpa| hpa & !0xfff);
            }
            let Some(word) = page_hpa.and_then(|page| (self.read_host)(page | (addr & 0xff8)))
            else {
                break;
            };
            *byte = (word >> (addr & 7).wrapping_mul(8)) as u8;
            done = index.wrapping_add(1);
        }
        done
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use alloc::collections::BTreeMap;
    use core::cell::RefCell;

    use axvm_types::HostPhysAddr;

    use super::*;

    /// Host physical memory as a sparse map of 8-byte words.
    #[derive(Default)]
    pub(crate) struct Phys(pub RefCell<BTreeMap<u64, u64>>);

    impl Phys {
        pub fn write(&self, addr: u64, value: u64) {
            self.0.borrow_mut().insert(addr, value);
        }
        pub fn write_bytes(&self, addr: u64, bytes: &[u8]) {
            for (i, b) in bytes.iter().enumerate() {
                let a = addr + i as u64;
                let mut map = self.0.borrow_mut();
                let word = map.entry(a & !7).or_insert(0);
                *word &= !(0xff << ((a & 7) * 8));
                *word |= u64::from(*b) << ((a & 7) * 8);
            }
        }
        pub fn reader(&self) -> impl Fn(u64) -> Option<u64> + '_ {
            |addr| self.0.borrow().get(&addr).copied()
        }
    }

    const RWX_WB: u64 = 0b111 | (6 << 3);
    pub(crate) const EPTP: u64 = 0x10_0000 | (3 << 3) | 6;

    /// An EPT at 0x10_0000 mapping guest 0..16 MiB to host 0x4000_0000 with 2 MiB
    /// pages, except guest 0x20_0000..0x40_0000 (at host 0x8000_0000), and guest
    /// 3..4 GiB as one uncached 1 GiB page.
    pub(crate) fn ept(phys: &Phys) {
        phys.write(0x10_0000, 0x10_1000 | 7);
        phys.write(0x10_1000, 0x10_2000 | 7);
        phys.write(0x10_1000 + 3 * 8, 0xc000_0000 | LARGE | 0b111); // 3 GiB: UC
        phys.write(0x10_2000 + 8, 0x8000_0000 | LARGE | RWX_WB);
        for i in [0u64, 2, 3, 4, 5, 6, 7] {
            phys.write(
                0x10_2000 + i * 8,
                (0x4000_0000 + i * 0x20_0000) | LARGE | RWX_WB,
            );
        }
    }

    #[test]
    fn eptp_and_vpid() {
        let config = NestedPagingConfig {
            root: HostPhysAddr::from(0x10_0000),
            levels: 4,
            gpa_bits: 48,
            vmid: 0,
        };
        assert_eq!(eptp(&config), Ok(EPTP));
        let three = NestedPagingConfig {
            levels: 3,
            ..config
        };
        assert_eq!(eptp(&three), Err(AxVmError::InvalidInput));
        let odd = NestedPagingConfig {
            root: HostPhysAddr::from(0x10_0800),
            ..config
        };
        assert_eq!(eptp(&odd), Err(AxVmError::InvalidInput));
        assert_eq!(vpid(0), 1);
        assert_eq!(vpid(7), 7);
    }

    #[test]
    fn the_ept_walk_follows_large_pages_and_refuses_device_memory() {
        let phys = Phys::default();
        ept(&phys);
        let read = phys.reader();
        assert_eq!(ept_translate(EPTP, 0x1234, &read), Some(0x4000_1234));
        assert_eq!(ept_translate(EPTP, 0x20_0008, &read), Some(0x8000_0008));
        assert_eq!(ept_translate(EPTP, 0xc000_0000, &read), None);
        assert_eq!(ept_translate(EPTP, 0x1_0000_0000, &read), None);
    }

    #[test]
    fn guest_walks_of_every_mode() {
        let phys = Phys::default();
        // 4-level at 0x1000: 0x4000_0000_1000 -> 1 GiB page at 0, 0x7000 -> 2 MiB,
        // 0x20_2000 -> 4 KiB page 0x9000.
        phys.write(0x1000, 0x2000 | 1);
        phys.write(0x1000 + 0x80 * 8, 0x3000 | 1);
        phys.write(0x3000, LARGE | 1);
        phys.write(0x2000, 0x4000 | 1);
        phys.write(0x4000, 0x20_0000 | LARGE | 1);
        phys.write(0x4000 + 8, 0x5000 | 1);
        phys.write(0x5000 + 2 * 8, 0x9000 | 1);
        let read = phys.reader();
        let long = GuestPaging::new(CR0_PG, 0x1000, CR4_PAE, EFER_LMA);
        assert_eq!(long, GuestPaging::Level4 { cr3: 0x1000 });
        assert_eq!(long.translate(0x4000_0000_1000, &read), Some(0x1000));
        assert_eq!(long.translate(0x1234, &read), Some(0x20_1234));
        assert_eq!(long.translate(0x20_2010, &read), Some(0x9010));
        assert_eq!(long.translate(0x20_3000, &read), None);
        // PAE at 0x6000: PDPTE 0 -> PD 0x7000, 2 MiB page.
        phys.write(0x6000, 0x7000 | 1);
        phys.write(0x7000 + 8, 0x60_0000 | LARGE | 1);
        let pae = GuestPaging::new(CR0_PG, 0x6000, CR4_PAE, 0);
        assert_eq!(pae.translate(0x20_0042, &read), Some(0x60_0042));
        assert_eq!(pae.translate(0x4000_0000, &read), None);
        // 32-bit at 0x8000: PDE 1 -> 4 MiB page at 0x1_0080_0000 (PSE-36), PDE 0 -> PT 0xa000.
        phys.write(
            0x8000,
            ((1 << 13) | 0x0080_0000 | LARGE | 1) << 32 | 0xa000 | 1,
        );
        phys.write(0xa000, (0xb000 | 1) << 32);
        let bits32 = GuestPaging::new(CR0_PG, 0x8000, CR4_PSE, 0);
        assert_eq!(bits32.translate(0x40_0010, &read), Some(0x1_0080_0010));
        assert_eq!(bits32.translate(0x1004, &read), Some(0xb004));
        assert_eq!(bits32.translate(0x0, &read), None);
        let flat = GuestPaging::new(0, 0, 0, 0);
        assert_eq!(flat.translate(0x1_0000_1234, &read), Some(0x1234));
        assert_eq!(
            GuestPaging::new(CR0_PG, 0, CR4_LA57, EFER_LMA).translate(0, &read),
            None
        );
    }

    #[test]
    fn fetch_crosses_pages_and_stops_at_unmapped_ones() {
        let phys = Phys::default();
        ept(&phys);
        // Paging off: guest 0x1ffa.. is host 0x4000_1ffa.., across a 4 KiB boundary.
        phys.write_bytes(
            0x4000_1ffa,
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
        );
        let memory = GuestMemory {
            eptp: EPTP,
            read_host: phys.reader(),
        };
        let mut buf = [0u8; 15];
        assert_eq!(memory.fetch(GuestPaging::None, 0x1ffa, false, &mut buf), 15);
        assert_eq!(buf, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
        // The last page below 16 MiB is mapped, the next is not; device memory is
        // never read.
        phys.write_bytes(0x40ff_fffe, &[0xaa, 0xbb]);
        let mut buf = [0u8; 15];
        assert_eq!(
            memory.fetch(GuestPaging::None, 0xff_fffe, false, &mut buf),
            2
        );
        assert_eq!(buf[..2], [0xaa, 0xbb]);
        assert_eq!(
            memory.fetch(GuestPaging::None, 0xc000_0000, false, &mut buf),
            0
        );
        assert_eq!(memory.read_gpa(0x1ffa), phys.reader()(0x4000_1ff8));
    }
}
