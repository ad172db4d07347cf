//! The MSRs a guest may read and write (everything else raises `#GP(0)` in the
//! guest and is logged).
//!
//! | MSR | read | write |
//! |---|---|---|
//! | `IA32_TIME_STAMP_COUNTER` (0x10) | the host TSC | refused |
//! | `IA32_APIC_BASE` (0x1b) | `0xfee0_0000`, enabled, BSP bit for vCPU 0 | refused |
//! | `IA32_MTRRCAP` (0xfe) | 0 (no MTRRs) | refused |
//! | `IA32_SYSENTER_CS/ESP/EIP` (0x174–0x176) | VMCS guest field | VMCS guest field |
//! | `IA32_MISC_ENABLE` (0x1a0) | 1 (fast strings) | refused |
//! | `IA32_PAT` (0x277) | VMCS | VMCS, each entry a valid memory type |
//! | `IA32_EFER` (0xc000_0080) | VMCS | SCE, LME, NXE; LMA kept; LME fixed while paging |
//! | `IA32_FS_BASE`, `IA32_GS_BASE` (0xc000_0100/1) | VMCS | VMCS, canonical |

use super::super::context::{
    start::{EFER_LMA, EFER_LME},
    vmcs,
};

/// `IA32_TIME_STAMP_COUNTER`.
pub const TSC: u32 = 0x10;
/// `IA32_APIC_BASE`.
pub const APIC_BASE: u32 = 0x1b;
/// `IA32_MTRRCAP`.
pub const MTRRCAP: u32 = 0xfe;
/// `IA32_SYSENTER_CS`.
pub const SYSENTER_CS: u32 = 0x174;
/// `IA32_SYSENTER_ESP`.
pub const SYSENTER_ESP: u32 = 0x175;
/// `IA32_SYSENTER_EIP`.
pub const SYSENTER_EIP: u32 = 0x176;
/// `IA32_MISC_ENABLE`.
pub const MISC_ENABLE: u32 = 0x1a0;
/// `IA32_PAT`.
pub const PAT: u32 = 0x277;
/// `IA32_EFER`.
pub const EFER: u32 = 0xc000_0080;
/// `IA32_FS_BASE`.
pub const FS_BASE: u32 = 0xc000_0100;
/// `IA32_GS_BASE`.
pub const GS_BASE: u32 = 0xc000_0101;

/// EFER bits a guest may write: SCE, LME, LMA (ignored) and NXE.
const EFER_WRITABLE: u64 = 1 | EFER_LME | EFER_LMA | (1 << 11);

/// Where a readable MSR's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsrRead {
    /// A VMCS guest-state field.
    Vmcs(u32),
    /// A constant.
    Constant(u64),
    /// The host's time-stamp counter.
    Tsc,
}

/// How `RDMSR msr` is answered for vCPU `bsp` (the bootstrap vCPU or not);
/// `None`: `#GP`.
#[must_use]
pub const fn read(msr: u32, bsp: bool) -> Option<MsrRead> {
    Some(match msr {
        TSC => MsrRead::Tsc,
        APIC_BASE => MsrRead::Constant(0xfee0_0000 | (1 << 11) | if bsp { 1 << 8 } else { 0 }),
        MTRRCAP => MsrRead::Constant(0),
        MISC_ENABLE => MsrRead::Constant(1),
        _ => match vmcs_field(msr) {
            Some(field) => MsrRead::Vmcs(field),
            None => return None,
        },
    })
}

/// The VMCS guest field that holds `msr`.
#[must_use]
pub const fn vmcs_field(msr: u32) -> Option<u32> {
    match msr {
        SYSENTER_CS => Some(vmcs::GUEST_SYSENTER_CS),
        SYSENTER_ESP => Some(vmcs::GUEST_SYSENTER_ESP),
        SYSENTER_EIP => Some(vmcs::GUEST_SYSENTER_EIP),
        PAT => Some(vmcs::GUEST_PAT),
        EFER => Some(vmcs::GUEST_EFER),
        FS_BASE => Some(vmcs::GUEST_FS_BASE),
        GS_BASE => Some(vmcs::GUEST_GS_BASE),
        _ => None,
    }
}

/// The value to store for `WRMSR msr, value`, given the current value `old` of
/// that MSR and whether guest paging is on; `None`: `#GP`.
#[must_use]
pub const fn write(msr: u32, value: u64, old: u64, paging: bool) -> Option<u64> {
    match msr {
        SYSENTER_CS => Some(value & 0xffff_ffff),
        SYSENTER_ESP | SYSENTER_EIP | FS_BASE | GS_BASE => {
            if is_canonical(value) {
                Some(value)
            } else {
                None
            }
        }
        PAT => {
            if valid_pat(value) {
                Some(value)
            } else {
                None
            }
        }
        EFER => {
            if value & !EFER_WRITABLE != 0 || (paging && (value ^ old) & EFER_LME != 0) {
                None
            } else {
                Some((value & !EFER_LMA) | (old & EFER_LMA))
            }
        }
        _ => None,
    }
}

/// Whether `addr` is canonical with 48-bit linear addresses.
#[must_use]
pub const fn is_canonical(addr: u64) -> bool {
    let top = addr >> 47;
    top == 0 || top == 0x1_ffff
}

/// Whether every byte of `pat` is a valid memory type (0, 1, 4, 5, 6, 7).
#[must_use]
pub const fn valid_pat(pat: u64) -> bool {
    let mut rest = pat;
    let mut count = 0u32;
    while count < 8 {
        let kind = rest & 0xff;
        if matches!(kind, 2 | 3) || kind > 7 {
            return false;
        }
        rest >>= 8;
        count = count.wrapping_add(1);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_come_from_the_vmcs_constants_or_the_tsc() {
        assert_eq!(read(EFER, false), Some(MsrRead::Vmcs(vmcs::GUEST_EFER)));
        assert_eq!(
            read(FS_BASE, false),
            Some(MsrRead::Vmcs(vmcs::GUEST_FS_BASE))
        );
        assert_eq!(read(TSC, false), Some(MsrRead::Tsc));
        assert_eq!(read(APIC_BASE, true), Some(MsrRead::Constant(0xfee0_0900)));
        assert_eq!(read(APIC_BASE, false), Some(MsrRead::Constant(0xfee0_0800)));
        assert_eq!(read(MTRRCAP, false), Some(MsrRead::Constant(0)));
        assert_eq!(read(0xc000_0082, false), None); // LSTAR
        assert_eq!(read(0x3a, false), None);
    }

    #[test]
    fn writes_are_checked() {
        assert_eq!(write(EFER, 0x901, 0, false), Some(0x901));
        // LMA is the CPU's, not the guest's.
        assert_eq!(write(EFER, 0xd01, 0x500, true), Some(0xd01));
        assert_eq!(write(EFER, 0x001, 0x500, false), Some(0x401));
        // LME cannot change while paging is on; reserved bits fault.
        assert_eq!(write(EFER, 0x100, 0, true), None);
        assert_eq!(write(EFER, 1 << 12, 0, false), None);
        assert_eq!(
            write(FS_BASE, 0xffff_8000_0000_0000, 0, false),
            Some(0xffff_8000_0000_0000)
        );
        assert_eq!(write(GS_BASE, 0x0000_8000_0000_0000, 0, false), None);
        assert_eq!(
            write(PAT, 0x0007_0406_0007_0406, 0, false),
            Some(0x0007_0406_0007_0406)
        );
        assert_eq!(write(PAT, 0x02, 0, false), None);
        assert_eq!(write(PAT, 0x08, 0, false), None);
        assert_eq!(write(SYSENTER_CS, 0x1_0000_0008, 0, false), Some(8));
        assert_eq!(write(TSC, 0, 0, false), None);
        assert_eq!(write(APIC_BASE, 0, 0, false), None);
    }
}
