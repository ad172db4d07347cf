//! Guest CPU state the VMCS does not hold: what `bind` and `unbind` switch
//! (`KERNEL_GS_BASE`, `CR2`, `XCR0` and the XSAVE-managed registers), and the debug
//! registers the guest sees through MOV-DR exits.

/// `XCR0.X87`: x87 state; always set.
pub const XCR0_X87: u64 = 1 << 0;
/// `XCR0.SSE`: XMM registers and MXCSR.
pub const XCR0_SSE: u64 = 1 << 1;
/// `XCR0.AVX`: the upper halves of the YMM registers.
pub const XCR0_AVX: u64 = 1 << 2;
/// `XCR0.BNDREG | BNDCSR`: MPX, set together or not at all.
pub const XCR0_MPX: u64 = 0b11 << 3;
/// `XCR0.OPMASK | ZMM_Hi256 | Hi16_ZMM`: AVX-512, set together or not at all.
pub const XCR0_AVX512: u64 = 0b111 << 5;
/// The user state components the backend switches. Supervisor components (in
/// `IA32_XSS`) and those needing more than a frame (AMX tiles) are never offered.
pub const XCR0_MANAGED: u64 = XCR0_X87 | XCR0_SSE | XCR0_AVX | XCR0_AVX512;
/// The components whose XSAVE area fits the 4 KiB frame in any CPU's layout.
const XCR0_SMALL: u64 = XCR0_X87 | XCR0_SSE | XCR0_AVX;
/// Bytes of one XSAVE area: one frame.
pub const XSAVE_AREA_SIZE: u32 = 4096;
/// Offset of MXCSR in the legacy region of an XSAVE area.
pub const XSAVE_MXCSR_OFFSET: usize = 24;
/// MXCSR after reset: every SIMD exception masked.
pub const MXCSR_RESET: u32 = 0x1f80;

/// The components a guest may enable: the CPU's (`CPUID.(0xD,0)` EAX and EDX) that
/// the backend manages, cut to those whose area fits a frame (`max_size`, ECX).
#[must_use]
pub const fn guest_xcr0_mask(cpu_low: u32, cpu_high: u32, max_size: u32) -> u64 {
    let cpu = ((cpu_high as u64) << 32) | cpu_low as u64;
    let mask = cpu & XCR0_MANAGED;
    if max_size <= XSAVE_AREA_SIZE {
        mask
    } else {
        mask & XCR0_SMALL
    }
}

/// Whether `XSETBV` may set `XCR0` to `value`, as the CPU would check it (else
/// `#GP`): x87 on, nothing outside `supported`, AVX only with SSE, AVX-512 only as a
/// whole and with AVX, MPX only as a whole.
#[must_use]
pub const fn xcr0_is_valid(value: u64, supported: u64) -> bool {
    value & XCR0_X87 != 0
        && value & !supported == 0
        && (value & XCR0_AVX == 0 || value & XCR0_SSE != 0)
        && all_or_none(value, XCR0_AVX512)
        && (value & XCR0_AVX512 == 0 || value & XCR0_AVX != 0)
        && all_or_none(value, XCR0_MPX)
}

/// Whether `value` has all bits of `group` or none.
const fn all_or_none(value: u64, group: u64) -> bool {
    value & group == 0 || value & group == group
}

/// The registers `bind` loads for the guest and `unbind` saves (the host's own
/// values are kept in a second one meanwhile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwitchedRegs {
    /// `IA32_KERNEL_GS_BASE`, which `SWAPGS` exchanges with the GS base.
    pub kernel_gs_base: u64,
    /// `CR2`, the last page-fault address.
    pub cr2: u64,
    /// `XCR0` (0 when the CPU has no XSAVE).
    pub xcr0: u64,
}

impl SwitchedRegs {
    /// A guest after reset: x87 state only.
    #[must_use]
    pub const fn reset() -> Self {
        Self {
            kernel_gs_base: 0,
            cr2: 0,
            xcr0: XCR0_X87,
        }
    }
}

/// The debug registers as the guest set them. MOV-DR exits read and write these,
/// never the CPU's: the guest cannot see the host's or another VM's breakpoints,
/// and its own have no effect (the VMCS keeps `DR7` disabled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebugRegs {
    /// DR0–DR3.
    pub addr: [u64; 4],
    /// DR6.
    pub dr6: u64,
    /// DR7.
    pub dr7: u64,
}

impl Default for DebugRegs {
    fn default() -> Self {
        Self {
            addr: [0; 4],
            dr6: 0xffff_0ff0,
            dr7: 0x400,
        }
    }
}

impl DebugRegs {
    /// Debug register `n` (4 and 5 alias 6 and 7, as with `CR4.DE` clear).
    #[must_use]
    pub fn read(&self, n: u8) -> u64 {
        match n {
            4 | 6 => self.dr6,
            5 | 7 => self.dr7,
            _ => self.addr.get(usize::from(n)).copied().unwrap_or(0),
        }
    }

    /// Sets debug register `n`, keeping the bits the CPU fixes in DR6 and DR7.
    pub fn write(&mut self, n: u8, value: u64) {
        match n {
            4 | 6 => self.dr6 = (value & 0xe00f) | 0xffff_0ff0,
            5 | 7 => self.dr7 = (value & 0xffff_2bff) | 0x400,
            _ => {
                if let Some(slot) = self.addr.get_mut(usize::from(n)) {
                    *slot = value;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xcr0_values_are_checked_as_the_cpu_does() {
        let all = XCR0_MANAGED;
        assert!(xcr0_is_valid(XCR0_X87, all));
        assert!(xcr0_is_valid(XCR0_X87 | XCR0_SSE | XCR0_AVX, all));
        assert!(xcr0_is_valid(all, all));
        assert!(!xcr0_is_valid(0, all));
        assert!(!xcr0_is_valid(XCR0_SSE, all));
        assert!(!xcr0_is_valid(XCR0_X87 | XCR0_AVX, all));
        assert!(!xcr0_is_valid(
            XCR0_X87 | XCR0_SSE | XCR0_AVX | (1 << 5),
            all
        ));
        assert!(!xcr0_is_valid(XCR0_X87 | XCR0_SSE | XCR0_AVX512, all));
        assert!(!xcr0_is_valid(
            XCR0_X87 | XCR0_SSE | XCR0_AVX,
            XCR0_X87 | XCR0_SSE
        ));
        assert!(!xcr0_is_valid(XCR0_X87 | (1 << 9), all));
        assert!(xcr0_is_valid(XCR0_X87 | XCR0_MPX, u64::MAX));
        assert!(!xcr0_is_valid(XCR0_X87 | (1 << 3), u64::MAX));
    }

    #[test]
    fn the_guest_mask_is_what_the_cpu_has_and_a_frame_holds() {
        // A CPU with x87, SSE, AVX, MPX, AVX-512 and PKRU (bit 9).
        let cpu = 0x2ff;
        assert_eq!(guest_xcr0_mask(cpu, 0, 2696), XCR0_MANAGED);
        assert_eq!(guest_xcr0_mask(cpu, 0, 8192), XCR0_SMALL);
        assert_eq!(guest_xcr0_mask(0b11, 0, 576), XCR0_X87 | XCR0_SSE);
        assert_eq!(guest_xcr0_mask(0, 0, 0), 0);
    }

    #[test]
    fn debug_registers_keep_their_fixed_bits_and_alias() {
        let mut dr = DebugRegs::default();
        assert_eq!(dr.read(6), 0xffff_0ff0);
        assert_eq!(dr.read(7), 0x400);
        dr.write(0, 0xdead_beef);
        dr.write(5, 0);
        dr.write(4, u64::MAX);
        assert_eq!(dr.read(0), 0xdead_beef);
        assert_eq!(dr.read(7), 0x400);
        assert_eq!(dr.read(6), 0xffff_efff);
        assert_eq!(dr.read(9), 0);
        dr.write(200, 1);
        assert_eq!(
            dr,
            DebugRegs {
                addr: [0xdead_beef, 0, 0, 0],
                ..dr
            }
        );
    }
}
