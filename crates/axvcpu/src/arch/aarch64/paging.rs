//! Stage-2 translation set-up: `VTCR_EL2` and `VTTBR_EL2` from a
//! [`NestedPagingConfig`] (4 KiB granule, 3 or 4 levels).
//!
//! The register encodings are those of `axaddrspace`'s [`Stage2`] format, which
//! built the table; this module checks the configuration against what the physical
//! CPU supports ([`Stage2Caps`]) and that the root is placed where the hardware can
//! walk it. With a 4 KiB granule a walk that starts at level 1 (3 levels) resolves 32
//! to 43 bits of IPA, one that starts at level 0 (4 levels) 40 to 48 bits; above 39
//! bits (3 levels) the root is made of 2, 4, 8 or 16 concatenated tables
//! ([`root_table_pages`]), aligned to their size.

use axaddrspace::{NestedFormat, Stage2};
use axvm_types::{AxVmError, AxVmResult, NestedPagingConfig};

/// What the physical CPU supports for stage-2 translation
/// (`ID_AA64MMFR0_EL1.PARange`, `ID_AA64MMFR1_EL1.VMIDBits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage2Caps {
    /// Physical address size in bits (32, 36, 40, 42, 44, 48 or 52).
    pub pa_bits: u8,
    /// Whether 16-bit VMIDs are implemented.
    pub vmid16: bool,
}

impl Stage2Caps {
    /// The capabilities described by the ID registers' raw values.
    ///
    /// # Errors
    ///
    /// `Unsupported` for a `PARange` encoding this crate does not know.
    pub fn from_id_regs(id_aa64mmfr0: u64, id_aa64mmfr1: u64) -> AxVmResult<Self> {
        let pa_bits = match id_aa64mmfr0 & 0xf {
            0 => 32,
            1 => 36,
            2 => 40,
            3 => 42,
            4 => 44,
            5 => 48,
            6 => 52,
            _ => return Err(AxVmError::Unsupported),
        };
        Ok(Self {
            pa_bits,
            vmid16: (id_aa64mmfr1 >> 4) & 0xf == 0b0010,
        })
    }
}

/// The stage-2 registers of a VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage2Regs {
    /// `VTCR_EL2`.
    pub vtcr: u64,
    /// `VTTBR_EL2`: root table address and VMID.
    pub vttbr: u64,
}

/// The stage-2 format of a configuration, or `InvalidInput` when its levels and
/// IPA size are not a valid 4 KiB-granule walk.
fn format_of(levels: u8, gpa_bits: u8, vmid: u16) -> AxVmResult<Stage2> {
    Stage2::new(gpa_bits, levels, vmid).inspect_err(|_| {
        log::error!(
            "aarch64 stage 2: {levels} levels with a {gpa_bits}-bit IPA is not a valid 4 KiB-granule walk"
        );
    })
}

/// How many 4 KiB tables are concatenated at the root of a stage-2 table of `levels`
/// levels for `gpa_bits` bits of IPA (1 unless 3 levels cover more than 39 bits).
///
/// # Errors
///
/// `InvalidInput` for a combination the architecture does not allow (see the module
/// documentation).
pub fn root_table_pages(levels: u8, gpa_bits: u8) -> AxVmResult<usize> {
    Ok(format_of(levels, gpa_bits, 0)?.geometry().root_frames())
}

/// `VTCR_EL2` and `VTTBR_EL2` for `paging` on a CPU with `caps`.
///
/// # Errors
///
/// `InvalidInput` for an invalid levels / IPA-size combination or a root that is not
/// aligned to the root's size; `Unsupported` when the CPU's physical address size is
/// smaller than the IPA or the root address, or the VMID needs 16 bits the CPU lacks.
pub fn stage2_regs(paging: &NestedPagingConfig, caps: Stage2Caps) -> AxVmResult<Stage2Regs> {
    let format = format_of(paging.levels, paging.gpa_bits, paging.vmid)?;
    if paging.gpa_bits > caps.pa_bits {
        log::error!(
            "aarch64 stage 2: a {}-bit IPA exceeds the CPU's {}-bit physical address size",
            paging.gpa_bits,
            caps.pa_bits
        );
        return Err(AxVmError::Unsupported);
    }
    if paging.vmid > 0xff && !caps.vmid16 {
        log::error!(
            "aarch64 stage 2: VMID {} needs 16-bit VMIDs, which the CPU lacks",
            paging.vmid
        );
        return Err(AxVmError::Unsupported);
    }
    // 52-bit PAs need FEAT_LPA, which the format does not use: walk with 48 bits.
    let format = format.with_pa_bits(caps.pa_bits.min(48))?;
    let root = paging.root.as_usize() as u64;
    let root_size = (format.geometry().root_frames() as u64).saturating_mul(4096);
    // The root's size is a power of two, so `root_size - 1` is the alignment mask.
    if root & root_size.wrapping_sub(1) != 0 {
        log::error!("aarch64 stage 2: root {root:#x} is not aligned to its {root_size:#x} bytes");
        return Err(AxVmError::InvalidInput);
    }
    let pa_limit = 1u64
        .checked_shl(u32::from(caps.pa_bits.min(48)))
        .unwrap_or(u64::MAX);
    if root >= pa_limit || root.saturating_add(root_size) > pa_limit {
        log::error!(
            "aarch64 stage 2: root {root:#x} is beyond the {}-bit PA range",
            caps.pa_bits
        );
        return Err(AxVmError::Unsupported);
    }
    Ok(Stage2Regs {
        vtcr: format.vtcr(),
        vttbr: Stage2::vttbr(paging),
    })
}

#[cfg(test)]
mod tests {
    use axvm_types::HostPhysAddr;

    use super::*;

    const A72: Stage2Caps = Stage2Caps {
        pa_bits: 44,
        vmid16: true,
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
    fn caps_come_from_the_id_registers() {
        // Cortex-A72: PARange = 0b0100 (44 bits), VMIDBits = 0b0010 (16).
        assert_eq!(Stage2Caps::from_id_regs(0x1124, 0x1_0020), Ok(A72));
        let caps = Stage2Caps::from_id_regs(0x5, 0x0).unwrap();
        assert_eq!((caps.pa_bits, caps.vmid16), (48, false));
        assert_eq!(
            Stage2Caps::from_id_regs(0x7, 0),
            Err(AxVmError::Unsupported)
        );
    }

    #[test]
    fn three_levels_with_a_39_bit_ipa() {
        let regs = stage2_regs(&paging(0x4010_0000, 3, 39, 1), A72).unwrap();
        // RES1 | PS=0b100 | SH0=0b11 ORGN0=0b01 IRGN0=0b01 | SL0=0b01 | T0SZ=25; an
        // 8-bit VMID leaves VS clear.
        assert_eq!(regs.vtcr, 0x8000_0000 | 0x4_0000 | 0x3500 | 0x40 | 25);
        assert_eq!(regs.vtcr, 0x8004_3559);
        let wide = stage2_regs(&paging(0x4010_0000, 3, 39, 0x100), A72).unwrap();
        assert_eq!(wide.vtcr, 0x800c_3559);
        assert_eq!(wide.vttbr, 0x0100_0000_4010_0000);
        assert_eq!(regs.vttbr, 0x0001_0000_4010_0000);
    }

    #[test]
    fn four_levels_with_a_44_bit_ipa_and_an_8_bit_vmid_cpu() {
        let caps = Stage2Caps {
            pa_bits: 48,
            vmid16: false,
        };
        let regs = stage2_regs(&paging(0x8000_0000, 4, 44, 0xff), caps).unwrap();
        // RES1 | PS=0b101 | walk attributes | SL0=0b10 | T0SZ=20
        assert_eq!(regs.vtcr, 0x8005_3594);
        assert_eq!(regs.vttbr, 0x00ff_0000_8000_0000);
    }

    #[test]
    fn concatenated_roots_need_their_alignment() {
        assert_eq!(root_table_pages(3, 32), Ok(1));
        assert_eq!(root_table_pages(3, 39), Ok(1));
        assert_eq!(root_table_pages(3, 40), Ok(2));
        assert_eq!(root_table_pages(3, 43), Ok(16));
        assert_eq!(root_table_pages(4, 48), Ok(1));
        let regs = stage2_regs(&paging(0x4000_2000, 3, 40, 2), A72).unwrap();
        assert_eq!(regs.vtcr & 0x3f, 24);
        assert_eq!(
            stage2_regs(&paging(0x4000_1000, 3, 40, 2), A72),
            Err(AxVmError::InvalidInput)
        );
        assert_eq!(
            stage2_regs(&paging(0x4000_0800, 3, 39, 2), A72),
            Err(AxVmError::InvalidInput)
        );
    }

    #[test]
    fn invalid_geometries_are_errors() {
        for (levels, bits) in [
            (3, 30),
            (3, 44),
            (4, 39),
            (4, 49),
            (4, 52),
            (2, 30),
            (5, 52),
            (0, 0),
        ] {
            assert_eq!(
                stage2_regs(&paging(0x1000, levels, bits, 1), A72),
                Err(AxVmError::InvalidInput),
                "{levels} levels, {bits} bits"
            );
        }
    }

    #[test]
    fn what_the_cpu_cannot_do_is_unsupported() {
        // A 48-bit IPA on a 44-bit CPU.
        assert_eq!(
            stage2_regs(&paging(0x1000, 4, 48, 1), A72),
            Err(AxVmError::Unsupported)
        );
        // A 16-bit VMID on an 8-bit CPU.
        let caps = Stage2Caps {
            pa_bits: 44,
            vmid16: false,
        };
        assert_eq!(
            stage2_regs(&paging(0x1000, 3, 39, 256), caps),
            Err(AxVmError::Unsupported)
        );
        // A root beyond the PA range.
        assert_eq!(
            stage2_regs(&paging(1 << 44, 3, 39, 1), A72),
            Err(AxVmError::Unsupported)
        );
    }
}
