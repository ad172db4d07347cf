//! Arm VMSAv8-64 stage-2 translation (Arm ARM D8), 4 KiB granule.

use axvm_types::{AxVmError, AxVmResult, MappingFlags, NestedPagingConfig};

use super::{Geometry, NestedFormat, PageSize};

const VALID: u64 = 1 << 0;
/// Bit 1: a table descriptor above height 0, a page descriptor at height 0;
/// clear in a block descriptor.
const TABLE_OR_PAGE: u64 = 1 << 1;
const MEMATTR_SHIFT: u32 = 2;
const MEMATTR_MASK: u64 = 0b1111 << MEMATTR_SHIFT;
/// MemAttr[3:2] = 0b00 selects device memory; MemAttr[1:0] = 0b01 is nGnRE.
const MEMATTR_DEVICE_NGNRE: u64 = 0b0001;
/// Outer and inner non-cacheable normal memory.
const MEMATTR_NORMAL_NC: u64 = 0b0101;
/// Outer and inner write-back normal memory.
const MEMATTR_NORMAL_WB: u64 = 0b1111;
const S2AP_READ: u64 = 1 << 6;
const S2AP_WRITE: u64 = 1 << 7;
const SH_INNER: u64 = 0b11 << 8;
/// Access flag: set so the first access does not fault.
const AF: u64 = 1 << 10;
/// XN[1]: not executable at EL1 or EL0.
const XN: u64 = 1 << 54;
/// A software-use bit, marking disabled entries so they stay nonzero.
const DISABLED: u64 = 1 << 55;
const ADDR_MASK: u64 = 0x0000_ffff_ffff_f000;

/// VTCR_EL2 fields.
const VTCR_SL0_SHIFT: u32 = 6;
const VTCR_IRGN0_WBWA: u64 = 0b01 << 8;
const VTCR_ORGN0_WBWA: u64 = 0b01 << 10;
const VTCR_SH0_INNER: u64 = 0b11 << 12;
const VTCR_PS_SHIFT: u32 = 16;
const VTCR_VS_16BIT: u64 = 1 << 19;
const VTCR_RES1: u64 = 1 << 31;

/// The aarch64 stage-2 format with a 4 KiB granule, 3 or 4 levels, and a
/// configurable IPA width.
///
/// Normal memory is inner-shareable write-back; `UNCACHED` is normal
/// non-cacheable; `DEVICE` is Device-nGnRE. `WRITE` sets S2AP\[1\], `READ`
/// S2AP\[0\]; without `EXECUTE` the leaf is XN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stage2 {
    geometry: Geometry,
    pa_bits: u8,
    vmid: u16,
}

impl Default for Stage2 {
    /// A 40-bit IPA space with 3 levels (two concatenated root tables), 48-bit
    /// host addresses, VMID 0.
    fn default() -> Self {
        Self {
            geometry: Geometry::fixed(3, 40),
            pa_bits: 48,
            vmid: 0,
        }
    }
}

impl Stage2 {
    /// A stage-2 format for `ipa_bits`-bit guest addresses walked in `levels`
    /// levels (3: 32..=43 bits, starting at level 1; 4: 40..=48 bits, starting at
    /// level 0), with 48-bit host addresses.
    pub fn new(ipa_bits: u8, levels: u8, vmid: u16) -> AxVmResult<Self> {
        let geometry = Geometry::new(levels, ipa_bits)?;
        let usable = match levels {
            3 => (32..=43).contains(&ipa_bits),
            _ => (40..=48).contains(&ipa_bits),
        };
        if !usable {
            return Err(AxVmError::InvalidInput);
        }
        Self {
            geometry,
            pa_bits: 48,
            vmid,
        }
        .with_pa_bits(48)
    }

    /// The same format for a host whose physical address range (PARange) is
    /// `pa_bits` wide: 32, 36, 40, 42, 44 or 48, and at least the IPA width.
    pub fn with_pa_bits(self, pa_bits: u8) -> AxVmResult<Self> {
        if ps_field(pa_bits).is_none() || pa_bits < self.geometry.gpa_bits() {
            return Err(AxVmError::InvalidInput);
        }
        Ok(Self { pa_bits, ..self })
    }

    /// VTTBR_EL2 of a configuration: the root address and the VMID in bits 63:48.
    #[must_use]
    pub fn vttbr(config: &NestedPagingConfig) -> u64 {
        (config.root.as_usize() as u64 & ADDR_MASK) | (u64::from(config.vmid) << 48)
    }

    /// VTCR_EL2 for this format: T0SZ and SL0 from the geometry, write-back
    /// inner-shareable walks, 4 KiB granule, PS from the host address width, and
    /// 16-bit VMIDs when the VMID needs them.
    #[must_use]
    pub fn vtcr(&self) -> u64 {
        let t0sz = u64::from(64u8.saturating_sub(self.geometry.gpa_bits()));
        // SL0 for a 4 KiB granule: 1 starts at level 1 (3 levels), 2 at level 0 (4 levels).
        let sl0 = u64::from(self.geometry.levels().saturating_sub(2));
        let ps = ps_field(self.pa_bits).unwrap_or(0);
        let vs = if self.vmid > 0xff { VTCR_VS_16BIT } else { 0 };
        t0sz | (sl0 << VTCR_SL0_SHIFT)
            | VTCR_IRGN0_WBWA
            | VTCR_ORGN0_WBWA
            | VTCR_SH0_INNER
            | (ps << VTCR_PS_SHIFT)
            | vs
            | VTCR_RES1
    }
}

/// The VTCR_EL2.PS encoding of a physical address width.
fn ps_field(pa_bits: u8) -> Option<u64> {
    Some(match pa_bits {
        32 => 0b000,
        36 => 0b001,
        40 => 0b010,
        42 => 0b011,
        44 => 0b100,
        48 => 0b101,
        _ => return None,
    })
}

impl NestedFormat for Stage2 {
    fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn output_bits(&self) -> u8 {
        self.pa_bits
    }

    fn vmid(&self) -> u16 {
        self.vmid
    }

    #[inline]
    fn table_entry(&self, pa: u64) -> u64 {
        (pa & ADDR_MASK) | TABLE_OR_PAGE | VALID
    }

    #[inline]
    fn leaf_attrs(&self, flags: MappingFlags, size: PageSize) -> u64 {
        let mut attrs = VALID | SH_INNER | AF;
        if size == PageSize::Size4K {
            attrs |= TABLE_OR_PAGE;
        }
        let memattr = if flags.contains(MappingFlags::DEVICE) {
            MEMATTR_DEVICE_NGNRE
        } else if flags.contains(MappingFlags::UNCACHED) {
            MEMATTR_NORMAL_NC
        } else {
            MEMATTR_NORMAL_WB
        };
        attrs |= memattr << MEMATTR_SHIFT;
        if flags.contains(MappingFlags::READ) {
            attrs |= S2AP_READ;
        }
        if flags.contains(MappingFlags::WRITE) {
            attrs |= S2AP_WRITE;
        }
        if !flags.contains(MappingFlags::EXECUTE) {
            attrs |= XN;
        }
        attrs
    }

    #[inline]
    fn encode_pa(&self, pa: u64) -> u64 {
        pa & ADDR_MASK
    }

    #[inline]
    fn decode_pa(&self, entry: u64) -> u64 {
        entry & ADDR_MASK
    }

    #[inline]
    fn is_present(&self, entry: u64) -> bool {
        entry & VALID != 0
    }

    #[inline]
    fn is_table(&self, entry: u64, height: usize) -> bool {
        height > 0 && entry & TABLE_OR_PAGE != 0
    }

    fn leaf_flags(&self, entry: u64) -> MappingFlags {
        let mut flags = MappingFlags::empty();
        flags.set(MappingFlags::READ, entry & S2AP_READ != 0);
        flags.set(MappingFlags::WRITE, entry & S2AP_WRITE != 0);
        flags.set(MappingFlags::EXECUTE, entry & XN == 0);
        let memattr = (entry & MEMATTR_MASK) >> MEMATTR_SHIFT;
        if memattr & 0b1100 == 0 {
            flags |= MappingFlags::DEVICE;
        } else if memattr == MEMATTR_NORMAL_NC {
            flags |= MappingFlags::UNCACHED;
        }
        flags
    }

    #[inline]
    fn disable(&self, entry: u64) -> u64 {
        (entry & !VALID) | DISABLED
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

    fn leaf(flags: MappingFlags, size: PageSize, pa: u64) -> u64 {
        let s2 = Stage2::default();
        s2.leaf_attrs(flags, size) | s2.encode_pa(pa)
    }

    #[test]
    fn descriptors_match_the_arm_arm_layout() {
        // Page (0b11), MemAttr 0b1111, S2AP 0b11, SH 0b11, AF.
        assert_eq!(leaf(RWX, PageSize::Size4K, 0x4000_0000), 0x4000_07ff);
        // Device-nGnRE (MemAttr 0b0001), XN[1] (bit 54).
        assert_eq!(
            leaf(RW | MappingFlags::DEVICE, PageSize::Size4K, 0x0900_0000),
            0x0040_0000_0900_07c7
        );
        // Block (0b01), read-only (S2AP 0b01), executable.
        assert_eq!(
            leaf(
                MappingFlags::READ | MappingFlags::EXECUTE,
                PageSize::Size2M,
                0x4020_0000
            ),
            0x4020_077d
        );
        // Normal non-cacheable (MemAttr 0b0101), 1 GiB block.
        assert_eq!(
            leaf(RW | MappingFlags::UNCACHED, PageSize::Size1G, 0x8000_0000),
            0x0040_0000_8000_07d5
        );
        assert_eq!(Stage2::default().table_entry(0x4_0000_1000), 0x4_0000_1003);
    }

    #[test]
    fn vtcr_and_vttbr_follow_the_geometry() {
        let s2 = Stage2::new(40, 3, 1).unwrap();
        // T0SZ 24, SL0 1, IRGN0/ORGN0 WBWA, SH0 inner, TG0 4K, PS 48-bit, RES1.
        assert_eq!(s2.vtcr(), 0x8005_3558);
        let s2 = Stage2::new(48, 4, 0x1234).unwrap();
        // T0SZ 16, SL0 2, 16-bit VMIDs.
        assert_eq!(s2.vtcr(), 0x800d_3590);
        let config = s2.paging_config(HostPhysAddr::from(0x8123_4000));
        assert_eq!(
            (config.levels, config.gpa_bits, config.vmid),
            (4, 48, 0x1234)
        );
        assert_eq!(Stage2::vttbr(&config), 0x1234_0000_8123_4000);
        let s2 = Stage2::new(36, 3, 5).unwrap().with_pa_bits(40).unwrap();
        // T0SZ 28, PS 40-bit.
        assert_eq!(s2.vtcr(), 0x8002_355c);
        assert_eq!(s2.output_bits(), 40);
    }

    #[test]
    fn unusable_configurations_are_errors() {
        assert_eq!(Stage2::new(48, 3, 0), Err(AxVmError::InvalidInput));
        assert_eq!(Stage2::new(39, 4, 0), Err(AxVmError::InvalidInput));
        assert_eq!(Stage2::new(31, 3, 0), Err(AxVmError::InvalidInput));
        assert_eq!(Stage2::new(40, 2, 0), Err(AxVmError::InvalidInput));
        let s2 = Stage2::new(42, 3, 0).unwrap();
        assert_eq!(s2.with_pa_bits(40), Err(AxVmError::InvalidInput));
        assert_eq!(s2.with_pa_bits(46), Err(AxVmError::InvalidInput));
        assert_eq!(Stage2::new(43, 3, 0).unwrap().geometry().root_frames(), 16);
    }

    #[test]
    fn flags_round_trip_and_disabled_entries_keep_address_and_kind() {
        let s2 = Stage2::default();
        for flags in [
            RWX,
            RW,
            MappingFlags::READ,
            RW | MappingFlags::DEVICE,
            RW | MappingFlags::UNCACHED,
        ] {
            for size in PageSize::LARGEST_FIRST {
                let entry = leaf(flags, size, 0x4000_0000);
                assert_eq!(s2.leaf_flags(entry), flags);
                let disabled = s2.disable(entry);
                assert!(!s2.is_present(disabled));
                assert!(!s2.is_table(disabled, size.height()));
                assert_eq!(s2.decode_pa(disabled), 0x4000_0000);
            }
        }
        let table = s2.disable(s2.table_entry(0));
        assert!(table != 0 && s2.is_table(table, 1) && !s2.is_present(table));
    }
}
