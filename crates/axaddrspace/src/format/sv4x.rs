//! RISC-V G-stage translation (privileged spec, "Two-Stage Address Translation"):
//! Sv39x4 and Sv48x4, whose root is widened by two bits to 2048 entries (16 KiB).

use axvm_types::{AxVmError, AxVmResult, MappingFlags, NestedPagingConfig};

use super::{Geometry, NestedFormat, PageSize};

const V: u64 = 1 << 0;
const R: u64 = 1 << 1;
const W: u64 = 1 << 2;
const X: u64 = 1 << 3;
/// G-stage accesses count as user-mode accesses, so every leaf has U set.
const U: u64 = 1 << 4;
const A: u64 = 1 << 6;
const D: u64 = 1 << 7;
/// An RSW (supervisor software) bit, marking disabled entries so they stay nonzero.
const DISABLED: u64 = 1 << 8;
const PPN_SHIFT: u32 = 10;
const PPN_MASK: u64 = ((1 << 44) - 1) << PPN_SHIFT;
/// Svpbmt memory types in bits 62:61.
const PBMT_SHIFT: u32 = 61;
const PBMT_MASK: u64 = 0b11 << PBMT_SHIFT;
const PBMT_NC: u64 = 1;
const PBMT_IO: u64 = 2;
const HGATP_MODE_SHIFT: u32 = 60;
const HGATP_VMID_SHIFT: u32 = 44;
/// VMIDLEN is at most 14 bits.
const MAX_VMID: u16 = (1 << 14) - 1;

/// Which G-stage mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Sv4xMode {
    /// 3 levels, 41-bit guest-physical addresses (hgatp MODE 8).
    #[default]
    Sv39x4,
    /// 4 levels, 50-bit guest-physical addresses (hgatp MODE 9).
    Sv48x4,
}

/// The RISC-V Sv39x4 / Sv48x4 G-stage format.
///
/// Leaves carry U (G-stage accesses are user accesses) and A, plus D when
/// writable, so hardware without A/D updating never faults on them. Without
/// Svpbmt, memory types come from the platform's PMAs and `DEVICE` / `UNCACHED`
/// are not encoded; with it they select PBMT IO / NC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Sv4x {
    mode: Sv4xMode,
    vmid: u16,
    svpbmt: bool,
}

impl Sv4x {
    /// A G-stage format in `mode` for VMID `vmid` (at most 14 bits).
    pub fn new(mode: Sv4xMode, vmid: u16) -> AxVmResult<Self> {
        if vmid > MAX_VMID {
            return Err(AxVmError::InvalidInput);
        }
        Ok(Self {
            mode,
            vmid,
            svpbmt: false,
        })
    }

    /// The same format encoding `DEVICE` and `UNCACHED` with Svpbmt (the host
    /// must implement Svpbmt and enable it in `henvcfg.PBMTE`).
    #[must_use]
    pub const fn with_svpbmt(self) -> Self {
        Self {
            svpbmt: true,
            ..self
        }
    }

    /// The G-stage mode.
    #[must_use]
    pub const fn mode(&self) -> Sv4xMode {
        self.mode
    }

    /// hgatp of a configuration: MODE 8 (3 levels) or 9 (4 levels), VMID, root PPN.
    #[must_use]
    pub fn hgatp(config: &NestedPagingConfig) -> u64 {
        let mode: u64 = if config.levels >= 4 { 9 } else { 8 };
        let vmid = u64::from(config.vmid & MAX_VMID);
        let ppn = (config.root.as_usize() as u64 >> 12) & ((1 << 44) - 1);
        (mode << HGATP_MODE_SHIFT) | (vmid << HGATP_VMID_SHIFT) | ppn
    }
}

impl NestedFormat for Sv4x {
    fn geometry(&self) -> Geometry {
        match self.mode {
            Sv4xMode::Sv39x4 => Geometry::fixed(3, 41),
            Sv4xMode::Sv48x4 => Geometry::fixed(4, 50),
        }
    }

    fn output_bits(&self) -> u8 {
        56
    }

    fn vmid(&self) -> u16 {
        self.vmid
    }

    #[inline]
    fn table_entry(&self, pa: u64) -> u64 {
        self.encode_pa(pa) | V
    }

    #[inline]
    fn leaf_attrs(&self, flags: MappingFlags, _size: PageSize) -> u64 {
        let mut attrs = V | R | U | A;
        if flags.contains(MappingFlags::WRITE) {
            attrs |= W | D;
        }
        if flags.contains(MappingFlags::EXECUTE) {
            attrs |= X;
        }
        if self.svpbmt {
            if flags.contains(MappingFlags::DEVICE) {
                attrs |= PBMT_IO << PBMT_SHIFT;
            } else if flags.contains(MappingFlags::UNCACHED) {
                attrs |= PBMT_NC << PBMT_SHIFT;
            }
        }
        attrs
    }

    #[inline]
    fn encode_pa(&self, pa: u64) -> u64 {
        (pa >> 2) & PPN_MASK
    }

    #[inline]
    fn decode_pa(&self, entry: u64) -> u64 {
        (entry & PPN_MASK) << 2
    }

    #[inline]
    fn is_present(&self, entry: u64) -> bool {
        entry & V != 0
    }

    #[inline]
    fn is_table(&self, entry: u64, _height: usize) -> bool {
        entry & (R | W | X) == 0
    }

    fn leaf_flags(&self, entry: u64) -> MappingFlags {
        let mut flags = MappingFlags::empty();
        flags.set(MappingFlags::READ, entry & R != 0);
        flags.set(MappingFlags::WRITE, entry & W != 0);
        flags.set(MappingFlags::EXECUTE, entry & X != 0);
        match (entry & PBMT_MASK) >> PBMT_SHIFT {
            PBMT_IO => flags |= MappingFlags::DEVICE,
            PBMT_NC => flags |= MappingFlags::UNCACHED,
            _ => {}
        }
        flags
    }

    #[inline]
    fn disable(&self, entry: u64) -> u64 {
        (entry & !V) | DISABLED
    }
}

#[cfg(test)]
mod tests {
    use axvm_types::HostPhysAddr;

    use super::*;

    const RWX: MappingFlags = MappingFlags::READ
        .union(MappingFlags::WRITE)
        .union(MappingFlags::EXECUTE);
    const RW: MappingFlags = MappingFlags::READ.union(MappingFlags::WRITE);

    fn leaf(format: Sv4x, flags: MappingFlags, pa: u64) -> u64 {
        format.leaf_attrs(flags, PageSize::Size4K) | format.encode_pa(pa)
    }

    #[test]
    fn entries_match_the_privileged_spec_layout() {
        let sv = Sv4x::default();
        // PPN 0x80200 in bits 53:10; V R W X U A D.
        assert_eq!(leaf(sv, RWX, 0x8020_0000), 0x2008_00df);
        // Read-only: V R U A.
        assert_eq!(leaf(sv, MappingFlags::READ, 0x8020_0000), 0x2008_0053);
        // The top PPN bit is host physical bit 55.
        assert_eq!(sv.encode_pa(1 << 55), 1 << 53);
        // Non-leaf: V only.
        assert_eq!(sv.table_entry(0x8000_4000), 0x2000_1001);
        // Without Svpbmt the memory type bits stay zero.
        assert_eq!(
            leaf(sv, RW | MappingFlags::DEVICE, 0x1000_0000),
            0x0400_00d7
        );
        let pbmt = sv.with_svpbmt();
        assert_eq!(
            leaf(pbmt, RW | MappingFlags::DEVICE, 0x1000_0000),
            0x4000_0000_0400_00d7
        );
        assert_eq!(
            leaf(pbmt, RW | MappingFlags::UNCACHED, 0x1000_0000),
            0x2000_0000_0400_00d7
        );
    }

    #[test]
    fn hgatp_has_mode_vmid_and_root_ppn() {
        let sv39 = Sv4x::new(Sv4xMode::Sv39x4, 3).unwrap();
        let config = sv39.paging_config(HostPhysAddr::from(0x8040_4000));
        assert_eq!((config.levels, config.gpa_bits), (3, 41));
        assert_eq!(Sv4x::hgatp(&config), 0x8000_3000_0008_0404);
        let sv48 = Sv4x::new(Sv4xMode::Sv48x4, 0x3fff).unwrap();
        assert_eq!(sv48.mode(), Sv4xMode::Sv48x4);
        let config = sv48.paging_config(HostPhysAddr::from(0x8040_4000));
        assert_eq!((config.levels, config.gpa_bits), (4, 50));
        assert_eq!(Sv4x::hgatp(&config), 0x93ff_f000_0008_0404);
        assert_eq!(
            Sv4x::new(Sv4xMode::Sv39x4, 0x4000),
            Err(AxVmError::InvalidInput)
        );
        assert_eq!(Geometry::new(3, 41), Ok(sv39.geometry()));
        assert_eq!(Geometry::new(4, 50), Ok(sv48.geometry()));
    }

    #[test]
    fn flags_round_trip_and_disabled_entries_keep_address_and_kind() {
        let sv = Sv4x::default().with_svpbmt();
        for flags in [
            RWX,
            RW,
            MappingFlags::READ,
            RW | MappingFlags::DEVICE,
            RW | MappingFlags::UNCACHED,
        ] {
            let entry = leaf(sv, flags, 0x4000_0000);
            assert_eq!(sv.leaf_flags(entry), flags);
            let disabled = sv.disable(entry);
            assert!(!sv.is_present(disabled) && !sv.is_table(disabled, 1));
            assert_eq!(sv.decode_pa(disabled), 0x4000_0000);
        }
        let table = sv.disable(sv.table_entry(0));
        assert!(table != 0 && sv.is_table(table, 1) && !sv.is_present(table));
    }
}
