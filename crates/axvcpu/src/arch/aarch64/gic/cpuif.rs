//! The instructions that reach the GICv3 virtualization registers of the current
//! CPU (`ICH_*_EL2`) and its physical deactivation register (`ICC_DIR_EL1`), behind
//! [`CpuInterfaceHw`] so that the switching logic (`state`) is tested on any host
//! against a model. Built for aarch64 only; elsewhere [`SysRegs`] reads zeros and
//! ignores writes (nothing is ever bound there).

use super::regs::IchVtr;

/// The registers the switching logic reads and writes. `index` arguments are in
/// range (below the CPU's list registers / active-priority registers): the caller
/// checks them.
pub(crate) trait CpuInterfaceHw {
    /// Reads `ICH_LR<index>_EL2`.
    fn read_lr(&mut self, index: usize) -> u64;
    /// Writes `ICH_LR<index>_EL2`.
    fn write_lr(&mut self, index: usize, value: u64);
    /// Writes `ICH_HCR_EL2`.
    fn write_hcr(&mut self, value: u64);
    /// Reads `ICH_VMCR_EL2`.
    fn read_vmcr(&mut self) -> u64;
    /// Writes `ICH_VMCR_EL2`.
    fn write_vmcr(&mut self, value: u64);
    /// Reads `ICH_AP0R<index>_EL2` (`group1` false) or `ICH_AP1R<index>_EL2`.
    fn read_apr(&mut self, group1: bool, index: usize) -> u64;
    /// Writes `ICH_AP0R<index>_EL2` (`group1` false) or `ICH_AP1R<index>_EL2`.
    fn write_apr(&mut self, group1: bool, index: usize, value: u64);
    /// Deactivates physical interrupt `intid` of this CPU (`ICC_DIR_EL1`; the host
    /// runs with `ICC_CTLR_EL1.EOImode` = 1).
    fn deactivate(&mut self, intid: u32);
}

/// The current CPU's registers.
pub(crate) struct SysRegs;

#[cfg(target_arch = "aarch64")]
mod imp {
    use core::arch::asm;

    use super::{CpuInterfaceHw, IchVtr, SysRegs};

    macro_rules! mrs {
        ($reg:literal) => {{
            let value: u64;
            // SAFETY: at EL2 with ICC_SRE_EL2.SRE = 1 (checked by `probe` before any
            // vCPU uses the interface), reading a GIC virtualization register has
            // no effect on memory or on the CPU's state.
            unsafe {
                asm!(concat!("mrs {}, ", $reg), out(reg) value, options(nomem, nostack, preserves_flags))
            };
            value
        }};
    }

    macro_rules! msr {
        ($reg:literal, $value:expr) => {{
            let value: u64 = $value;
            // SAFETY: at EL2 with ICC_SRE_EL2.SRE = 1, these registers hold only the
            // virtual CPU interface of the vCPU bound to this CPU (or the
            // deactivation of one of its linked physical interrupts); the hypervisor's
            // own EL2 state and memory are untouched.
            unsafe {
                asm!(concat!("msr ", $reg, ", {}"), in(reg) value, options(nomem, nostack, preserves_flags))
            };
        }};
    }

    /// `$op!` applied to `ICH_LR<index>_EL2` for an index from 0 to 15.
    macro_rules! with_lr {
        ($index:expr, $op:ident $(, $value:expr)?) => {
            match $index {
                0 => $op!("S3_4_C12_C12_0" $(, $value)?),
                1 => $op!("S3_4_C12_C12_1" $(, $value)?),
                2 => $op!("S3_4_C12_C12_2" $(, $value)?),
                3 => $op!("S3_4_C12_C12_3" $(, $value)?),
                4 => $op!("S3_4_C12_C12_4" $(, $value)?),
                5 => $op!("S3_4_C12_C12_5" $(, $value)?),
                6 => $op!("S3_4_C12_C12_6" $(, $value)?),
                7 => $op!("S3_4_C12_C12_7" $(, $value)?),
                8 => $op!("S3_4_C12_C13_0" $(, $value)?),
                9 => $op!("S3_4_C12_C13_1" $(, $value)?),
                10 => $op!("S3_4_C12_C13_2" $(, $value)?),
                11 => $op!("S3_4_C12_C13_3" $(, $value)?),
                12 => $op!("S3_4_C12_C13_4" $(, $value)?),
                13 => $op!("S3_4_C12_C13_5" $(, $value)?),
                14 => $op!("S3_4_C12_C13_6" $(, $value)?),
                _ => $op!("S3_4_C12_C13_7" $(, $value)?),
            }
        };
    }

    /// `$op!` applied to `ICH_AP0R<index>_EL2` or `ICH_AP1R<index>_EL2`.
    macro_rules! with_apr {
        ($group1:expr, $index:expr, $op:ident $(, $value:expr)?) => {
            match ($group1, $index) {
                (false, 0) => $op!("S3_4_C12_C8_0" $(, $value)?),
                (false, 1) => $op!("S3_4_C12_C8_1" $(, $value)?),
                (false, 2) => $op!("S3_4_C12_C8_2" $(, $value)?),
                (false, _) => $op!("S3_4_C12_C8_3" $(, $value)?),
                (true, 0) => $op!("S3_4_C12_C9_0" $(, $value)?),
                (true, 1) => $op!("S3_4_C12_C9_1" $(, $value)?),
                (true, 2) => $op!("S3_4_C12_C9_2" $(, $value)?),
                (true, _) => $op!("S3_4_C12_C9_3" $(, $value)?),
            }
        };
    }

    impl CpuInterfaceHw for SysRegs {
        fn read_lr(&mut self, index: usize) -> u64 {
            with_lr!(index, mrs)
        }

        fn write_lr(&mut self, index: usize, value: u64) {
            with_lr!(index, msr, value);
        }

        fn write_hcr(&mut self, value: u64) {
            msr!("S3_4_C12_C11_0", value);
        }

        fn read_vmcr(&mut self) -> u64 {
            mrs!("S3_4_C12_C11_7")
        }

        fn write_vmcr(&mut self, value: u64) {
            msr!("S3_4_C12_C11_7", value);
        }

        fn read_apr(&mut self, group1: bool, index: usize) -> u64 {
            with_apr!(group1, index, mrs)
        }

        fn write_apr(&mut self, group1: bool, index: usize, value: u64) {
            with_apr!(group1, index, msr, value);
        }

        fn deactivate(&mut self, intid: u32) {
            msr!("S3_0_C12_C11_1", u64::from(intid)); // ICC_DIR_EL1
        }
    }

    /// `ICH_VTR_EL2` of this CPU, when it has a GICv3 CPU interface whose system
    /// registers EL2 uses (`ID_AA64PFR0_EL1.GIC` ≠ 0 and `ICC_SRE_EL2.SRE` = 1);
    /// otherwise the `ICH_*` registers are not accessible and guests get no list
    /// registers.
    pub(crate) fn probe() -> Option<IchVtr> {
        let pfr0: u64;
        // SAFETY: reading an ID register has no side effect.
        unsafe {
            asm!("mrs {}, id_aa64pfr0_el1", out(reg) pfr0, options(nomem, nostack, preserves_flags))
        };
        if (pfr0 >> 24) & 0xf == 0 {
            return None;
        }
        let sre: u64;
        // SAFETY: with the GIC system registers implemented, reading ICC_SRE_EL2 at
        // EL2 has no side effect.
        unsafe {
            asm!("mrs {}, S3_4_C12_C9_5", out(reg) sre, options(nomem, nostack, preserves_flags))
        };
        if sre & 1 == 0 {
            return None;
        }
        Some(IchVtr(mrs!("S3_4_C12_C11_1")))
    }
}

#[cfg(not(target_arch = "aarch64"))]
mod imp {
    use super::{CpuInterfaceHw, IchVtr, SysRegs};

    impl CpuInterfaceHw for SysRegs {
        fn read_lr(&mut self, _index: usize) -> u64 {
            0
        }
        fn write_lr(&mut self, _index: usize, _value: u64) {}
        fn write_hcr(&mut self, _value: u64) {}
        fn read_vmcr(&mut self) -> u64 {
            0
        }
        fn write_vmcr(&mut self, _value: u64) {}
        fn read_apr(&mut self, _group1: bool, _index: usize) -> u64 {
            0
        }
        fn write_apr(&mut self, _group1: bool, _index: usize, _value: u64) {}
        fn deactivate(&mut self, _intid: u32) {}
    }

    /// Off aarch64 there is no CPU to ask: QEMU's cortex-a72 (4 list registers, 5
    /// priority bits), so the interrupt list can be exercised in host tests.
    #[allow(clippy::unnecessary_wraps)] // Same signature as on aarch64.
    pub(crate) const fn probe() -> Option<IchVtr> {
        Some(IchVtr(0x90b8_0003))
    }
}

/// `ICH_VTR_EL2` of the calling CPU, or `None` when it has no usable GICv3 virtual
/// CPU interface.
pub(crate) fn probe() -> Option<IchVtr> {
    imp::probe()
}
