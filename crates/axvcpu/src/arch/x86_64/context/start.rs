//! The register state a guest starts in, for each [`X86StartMode`], and writing it
//! into the VMCS.

use axvm_types::{AxVmError, AxVmResult};

use super::vmcs::{self, VmcsAccess};
use crate::arch::x86_64::vcpu::{CrFixed, X86StartMode, controls};

/// `CR0.PE`: protection enabled.
pub const CR0_PE: u64 = 1 << 0;
/// `CR0.ET`: extension type (hard-wired to 1 on modern CPUs).
pub const CR0_ET: u64 = 1 << 4;
/// `CR0.NE`: native FPU error reporting.
pub const CR0_NE: u64 = 1 << 5;
/// `CR0.PG`: paging.
pub const CR0_PG: u64 = 1 << 31;
/// `CR4.PAE`: physical address extension.
pub const CR4_PAE: u64 = 1 << 5;
/// `CR4.PSE`: 4 MiB pages in 32-bit paging.
pub const CR4_PSE: u64 = 1 << 4;
/// `CR4.VMXE`: VMX enabled.
pub const CR4_VMXE: u64 = 1 << 13;
/// `IA32_EFER.LME`: long mode enable.
pub const EFER_LME: u64 = 1 << 8;
/// `IA32_EFER.LMA`: long mode active.
pub const EFER_LMA: u64 = 1 << 10;
/// `RFLAGS` bit 1, always set.
pub const RFLAGS_FIXED: u64 = 1 << 1;
/// `RFLAGS.IF`: interrupts enabled.
pub const RFLAGS_IF: u64 = 1 << 9;

/// Segment access rights: present, DPL 0, code/data, accessed, read/write data.
const AR_DATA: u32 = 0x93;
/// Present, DPL 0, code/data, accessed, execute/read code.
const AR_CODE: u32 = 0x9b;
/// Granularity 4 KiB.
const AR_G: u32 = 1 << 15;
/// Default operation size 32 bits.
const AR_DB: u32 = 1 << 14;
/// 64-bit code segment.
const AR_L: u32 = 1 << 13;
/// The segment is unusable.
const AR_UNUSABLE: u32 = 1 << 16;
/// Present busy 32/64-bit TSS.
const AR_TSS_BUSY: u32 = 0x8b;
/// The reset value of `IA32_PAT`.
const PAT_RESET: u64 = 0x0007_0406_0007_0406;

/// The guest CS selector and the data selector of the flat start modes.
pub const FLAT_CODE_SELECTOR: u16 = 0x08;
/// The data selector (DS, ES, SS, FS, GS) of the flat start modes.
pub const FLAT_DATA_SELECTOR: u16 = 0x10;

/// A segment register as the VMCS holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// The selector.
    pub selector: u16,
    /// The base address.
    pub base: u64,
    /// The limit (in bytes).
    pub limit: u32,
    /// The access rights in the VMCS format.
    pub access: u32,
}

/// The register state of a guest at its entry point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestStart {
    /// CR0 as the guest sees it.
    pub cr0: u64,
    /// CR3.
    pub cr3: u64,
    /// CR4 as the guest sees it.
    pub cr4: u64,
    /// `IA32_EFER`.
    pub efer: u64,
    /// RIP (relative to the CS base).
    pub rip: u64,
    /// CS.
    pub cs: Segment,
    /// DS, ES, SS, FS and GS.
    pub data: Segment,
}

impl GuestStart {
    /// The state of `mode` entered at guest address `entry`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a real-mode entry at or above 1 MiB, or a 64-bit CR3
    /// beyond 52 bits.
    pub fn new(mode: X86StartMode, entry: u64) -> AxVmResult<Self> {
        let flat = |access| Segment {
            selector: FLAT_DATA_SELECTOR,
            base: 0,
            limit: u32::MAX,
            access,
        };
        match mode {
            X86StartMode::Real => {
                if entry >= 0x10_0000 {
                    log::error!("x86 vCPU: real-mode entry {entry:#x} is not below 1 MiB");
                    return Err(AxVmError::InvalidInput);
                }
                let selector = ((entry >> 4) & 0xf000) as u16;
                let base = u64::from(selector) << 4;
                let real = |selector, access| Segment {
                    selector,
                    base: u64::from(selector) << 4,
                    limit: 0xffff,
                    access,
                };
                Ok(Self {
                    cr0: CR0_ET,
                    cr3: 0,
                    cr4: 0,
                    efer: 0,
                    rip: entry.wrapping_sub(base),
                    cs: real(selector, AR_CODE),
                    data: real(0, AR_DATA),
                })
            }
            X86StartMode::StartupIpi => {
                let vector = (entry >> 12) & 0xff;
                Ok(Self {
                    rip: 0,
                    cs: Segment {
                        selector: (vector << 8) as u16,
                        base: vector << 12,
                        limit: 0xffff,
                        access: AR_CODE,
                    },
                    ..Self::new(X86StartMode::Real, 0)?
                })
            }
            X86StartMode::Protected32 => Ok(Self {
                cr0: CR0_ET | CR0_PE,
                cr3: 0,
                cr4: 0,
                efer: 0,
                rip: entry,
                cs: Segment {
                    selector: FLAT_CODE_SELECTOR,
                    ..flat(AR_CODE | AR_G | AR_DB)
                },
                data: flat(AR_DATA | AR_G | AR_DB),
            }),
            X86StartMode::Long64 { cr3 } => {
                if cr3 >> 52 != 0 {
                    log::error!("x86 vCPU: CR3 {cr3:#x} is beyond 52 bits");
                    return Err(AxVmError::InvalidInput);
                }
                Ok(Self {
                    cr0: CR0_ET | CR0_PE | CR0_PG,
                    cr3,
                    cr4: CR4_PAE,
                    efer: EFER_LME | EFER_LMA,
                    rip: entry,
                    cs: Segment {
                        selector: FLAT_CODE_SELECTOR,
                        ..flat(AR_CODE | AR_G | AR_L)
                    },
                    data: flat(AR_DATA | AR_G | AR_DB),
                })
            }
        }
    }

    /// Whether the guest starts in IA-32e mode.
    #[must_use]
    pub const fn long_mode(&self) -> bool {
        self.efer & EFER_LMA != 0
    }

    /// Writes the whole guest-state area (and the `IA-32e mode guest` entry control)
    /// into the current VMCS; CR0 and CR4 get `fixed`'s bits, their read shadows the
    /// guest's values.
    ///
    /// # Errors
    ///
    /// When a VMCS access fails.
    pub fn write<V: VmcsAccess>(&self, vmcs: &mut V, fixed: &CrFixed) -> AxVmResult {
        use vmcs::*;
        // ES, CS, SS, DS, FS, GS in VMCS order, then LDTR (unusable) and TR (a busy
        // TSS at 0, as after reset).
        let unusable = Segment {
            selector: 0,
            base: 0,
            limit: 0xffff,
            access: AR_UNUSABLE,
        };
        let tss = Segment {
            access: AR_TSS_BUSY,
            ..unusable
        };
        let segments = [
            self.data, self.cs, self.data, self.data, self.data, self.data, unusable, tss,
        ];
        for (index, segment) in (0u32..).zip(segments) {
            let offset = index.wrapping_mul(2);
            vmcs.write(
                GUEST_ES_SELECTOR.wrapping_add(offset),
                u64::from(segment.selector),
            )?;
            vmcs.write(GUEST_ES_BASE.wrapping_add(offset), segment.base)?;
            vmcs.write(
                GUEST_ES_LIMIT.wrapping_add(offset),
                u64::from(segment.limit),
            )?;
            vmcs.write(
                GUEST_ES_ACCESS_RIGHTS.wrapping_add(offset),
                u64::from(segment.access),
            )?;
        }
        vmcs.write(GUEST_GDTR_BASE, 0)?;
        vmcs.write(GUEST_GDTR_LIMIT, 0xffff)?;
        vmcs.write(GUEST_IDTR_BASE, 0)?;
        vmcs.write(GUEST_IDTR_LIMIT, 0x3ff)?;
        vmcs.write(GUEST_CR0, fixed.cr0_real(self.cr0))?;
        vmcs.write(CR0_READ_SHADOW, self.cr0)?;
        vmcs.write(GUEST_CR3, self.cr3)?;
        vmcs.write(GUEST_CR4, fixed.cr4_real(self.cr4))?;
        vmcs.write(CR4_READ_SHADOW, self.cr4)?;
        vmcs.write(GUEST_EFER, self.efer)?;
        vmcs.write(GUEST_PAT, PAT_RESET)?;
        vmcs.write(GUEST_DEBUGCTL, 0)?;
        vmcs.write(GUEST_DR7, 0x400)?;
        vmcs.write(GUEST_RIP, self.rip)?;
        vmcs.write(GUEST_RFLAGS, RFLAGS_FIXED)?;
        vmcs.write(GUEST_SYSENTER_CS, 0)?;
        vmcs.write(GUEST_SYSENTER_ESP, 0)?;
        vmcs.write(GUEST_SYSENTER_EIP, 0)?;
        vmcs.write(GUEST_INTERRUPTIBILITY, 0)?;
        vmcs.write(GUEST_ACTIVITY_STATE, 0)?;
        vmcs.write(VMCS_LINK_POINTER, u64::MAX)?;
        controls::set_ia32e_guest(vmcs, self.long_mode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::x86_64::context::vmcs::FakeVmcs;

    #[test]
    fn real_mode_splits_the_entry_into_segment_and_offset() {
        let start = GuestStart::new(X86StartMode::Real, 0x9_1234).unwrap();
        assert_eq!(start.cs.selector, 0x9000);
        assert_eq!(start.cs.base, 0x9_0000);
        assert_eq!(start.rip, 0x1234);
        let low = GuestStart::new(X86StartMode::Real, 0x7c00).unwrap();
        assert_eq!((low.cs.selector, low.rip), (0, 0x7c00));
        assert_eq!(
            GuestStart::new(X86StartMode::Real, 0x10_0000),
            Err(AxVmError::InvalidInput)
        );
    }

    #[test]
    fn a_startup_ipi_starts_at_its_page_with_ip_0() {
        let ap = GuestStart::new(X86StartMode::StartupIpi, 0x8000).unwrap();
        assert_eq!((ap.cs.selector, ap.cs.base, ap.rip), (0x800, 0x8000, 0));
        assert_eq!((ap.cr0, ap.data.base), (CR0_ET, 0));
        let wrapped = GuestStart::new(X86StartMode::StartupIpi, 0x10_9abc).unwrap();
        assert_eq!((wrapped.cs.selector, wrapped.rip), (0x900, 0));
    }

    #[test]
    fn flat_modes_start_at_the_entry() {
        let prot = GuestStart::new(X86StartMode::Protected32, 0x10_0000).unwrap();
        assert_eq!(prot.rip, 0x10_0000);
        assert_eq!(prot.cs.access, 0xc09b);
        assert_eq!(prot.cr0, 0x11);
        assert!(!prot.long_mode());
        let long = GuestStart::new(X86StartMode::Long64 { cr3: 0x1000 }, 0x20_0000).unwrap();
        assert_eq!(long.cs.access, 0xa09b);
        assert_eq!(long.efer, 0x500);
        assert!(long.long_mode());
        assert_eq!(
            GuestStart::new(X86StartMode::Long64 { cr3: 1 << 52 }, 0),
            Err(AxVmError::InvalidInput)
        );
    }

    #[test]
    fn the_vmcs_gets_fixed_bits_and_shadows() {
        let fixed = CrFixed {
            cr0_fixed0: 0x8000_0021,
            cr0_fixed1: 0xffff_ffff,
            cr4_fixed0: 0x2000,
            cr4_fixed1: 0x3727ff,
        };
        let mut vmcs = FakeVmcs::default();
        GuestStart::new(X86StartMode::Real, 0x8000)
            .unwrap()
            .write(&mut vmcs, &fixed)
            .unwrap();
        assert_eq!(vmcs.get(vmcs::GUEST_CR0), 0x30);
        assert_eq!(vmcs.get(vmcs::CR0_READ_SHADOW), 0x10);
        assert_eq!(vmcs.get(vmcs::GUEST_CR4), 0x2000);
        assert_eq!(vmcs.get(vmcs::CR4_READ_SHADOW), 0);
        assert_eq!(vmcs.get(vmcs::GUEST_CS_ACCESS_RIGHTS), 0x9b);
        assert_eq!(vmcs.get(vmcs::GUEST_ES_ACCESS_RIGHTS + 12), 0x1_0000);
        assert_eq!(
            vmcs.get(vmcs::ENTRY_CONTROLS) & u64::from(controls::ENTRY_IA32E_GUEST),
            0
        );
        GuestStart::new(X86StartMode::Long64 { cr3: 0x5000 }, 0x20_0000)
            .unwrap()
            .write(&mut vmcs, &fixed)
            .unwrap();
        assert_eq!(vmcs.get(vmcs::GUEST_CR0), 0x8000_0031);
        assert_eq!(vmcs.get(vmcs::GUEST_CR3), 0x5000);
        assert_ne!(
            vmcs.get(vmcs::ENTRY_CONTROLS) & u64::from(controls::ENTRY_IA32E_GUEST),
            0
        );
    }
}
