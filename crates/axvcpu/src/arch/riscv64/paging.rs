//! G-stage translation set-up: `hgatp` from a [`NestedPagingConfig`] (Sv39x4 or
//! Sv48x4, privileged specification, "Hypervisor Guest Address Translation and
//! Protection Register").
//!
//! The encoding is that of `axaddrspace`'s [`Sv4x`] format, which built the table;
//! this module checks the configuration against what the hart supports
//! ([`GStageCaps`]) first.

use axaddrspace::Sv4x;
use axvm_types::{AxVmError, AxVmResult, NestedPagingConfig};

/// `hgatp.MODE` of Sv39x4.
pub const MODE_SV39X4: u64 = 8;
/// `hgatp.MODE` of Sv48x4.
pub const MODE_SV48X4: u64 = 9;
/// The root of an Sv39x4 / Sv48x4 table: four concatenated 4 KiB pages, 16 KiB
/// aligned.
pub const ROOT_ALIGN: u64 = 0x4000;

/// What the physical hart supports for G-stage translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GStageCaps {
    /// `VMIDLEN`: how many VMID bits `hgatp` holds (0 to 14).
    pub vmid_bits: u8,
    /// Whether Sv48x4 is implemented.
    pub sv48x4: bool,
}

/// `hgatp` for `paging` on a hart with `caps`: MODE in bits \[63:60\], VMID in
/// \[57:44\], the root's PPN in \[43:0\].
///
/// # Errors
///
/// `InvalidInput` for a geometry that is not Sv39x4 (3 levels, 41-bit GPAs) or
/// Sv48x4 (4 levels, 50-bit GPAs), or a root not 16 KiB aligned or beyond 56 bits;
/// `Unsupported` when the hart lacks Sv48x4 or the VMID does not fit its `VMIDLEN`.
pub fn hgatp(paging: &NestedPagingConfig, caps: GStageCaps) -> AxVmResult<u64> {
    match (paging.levels, paging.gpa_bits) {
        (3, 41) => {}
        (4, 50) if caps.sv48x4 => {}
        (4, 50) => {
            log::error!("riscv64 G-stage: the hart does not implement Sv48x4");
            return Err(AxVmError::Unsupported);
        }
        (levels, bits) => {
            log::error!(
                "riscv64 G-stage: {levels} levels with {bits}-bit GPAs is neither Sv39x4 nor Sv48x4"
            );
            return Err(AxVmError::InvalidInput);
        }
    }
    let root = paging.root.as_usize() as u64;
    if root % ROOT_ALIGN != 0 || root >> 56 != 0 {
        log::error!("riscv64 G-stage: root {root:#x} is not a 16 KiB-aligned 56-bit address");
        return Err(AxVmError::InvalidInput);
    }
    let vmid = u64::from(paging.vmid);
    if vmid
        .checked_shr(u32::from(caps.vmid_bits.min(14)))
        .unwrap_or(0)
        != 0
    {
        log::error!(
            "riscv64 G-stage: VMID {vmid} does not fit the hart's {} VMID bits",
            caps.vmid_bits
        );
        return Err(AxVmError::Unsupported);
    }
    Ok(Sv4x::hgatp(paging))
}

#[cfg(test)]
mod tests {
    use axvm_types::HostPhysAddr;

    use super::*;

    const QEMU: GStageCaps = GStageCaps {
        vmid_bits: 14,
        sv48x4: true,
    };

    fn paging(root: usize, levels: u8, gpa_bits: u8, vmid: u16) -> NestedPagingConfig {
        NestedPagingConfig {
            root: HostPhysAddr::from(root),
            levels,
            gpa_bits,
            vmid,
        }
    }

    #[test]
    fn sv39x4_and_sv48x4() {
        assert_eq!(
            hgatp(&paging(0x8040_4000, 3, 41, 1), QEMU),
            Ok(0x8000_1000_0008_0404)
        );
        assert_eq!(
            hgatp(&paging(0x8040_0000, 4, 50, 0x3fff), QEMU),
            Ok(0x93ff_f000_0008_0400)
        );
    }

    #[test]
    fn bad_geometries_and_roots_are_invalid() {
        for (root, levels, bits) in [
            (0x8040_2000, 3, 41),
            (0x8040_0000, 3, 39),
            (0x8040_0000, 4, 48),
            (0x8040_0000, 5, 57),
            (1 << 56, 3, 41),
        ] {
            assert_eq!(
                hgatp(&paging(root, levels, bits, 1), QEMU),
                Err(AxVmError::InvalidInput),
                "{root:#x} {levels} {bits}"
            );
        }
    }

    #[test]
    fn what_the_hart_lacks_is_unsupported() {
        let small = GStageCaps {
            vmid_bits: 7,
            sv48x4: false,
        };
        assert_eq!(
            hgatp(&paging(0x8040_0000, 4, 50, 1), small),
            Err(AxVmError::Unsupported)
        );
        assert_eq!(
            hgatp(&paging(0x8040_0000, 3, 41, 128), small),
            Err(AxVmError::Unsupported)
        );
        assert!(hgatp(&paging(0x8040_0000, 3, 41, 127), small).is_ok());
        let none = GStageCaps {
            vmid_bits: 0,
            sv48x4: false,
        };
        assert!(hgatp(&paging(0x8040_0000, 3, 41, 0), none).is_ok());
        assert_eq!(
            hgatp(&paging(0x8040_0000, 3, 41, 1), none),
            Err(AxVmError::Unsupported)
        );
    }
}
