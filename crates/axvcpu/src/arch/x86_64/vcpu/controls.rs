//! The VMX capabilities of a CPU (the `IA32_VMX_*` MSRs) and the VM-execution, exit
//! and entry controls the backend asks for, adjusted against them (Intel SDM Vol. 3,
//! Appendix A).

use axvm_types::{AxVmError, AxVmResult};

use crate::arch::x86_64::context::{
    start::{CR0_PE, CR0_PG},
    vmcs::{self, VmcsAccess},
};

/// Pin-based: external interrupts cause VM exits.
pub const PIN_EXTERNAL_INTERRUPT_EXITING: u32 = 1 << 0;
/// Pin-based: NMIs cause VM exits (they are the host's).
pub const PIN_NMI_EXITING: u32 = 1 << 3;
/// Primary: exit as soon as the guest can take an interrupt.
pub const PROC_INTERRUPT_WINDOW_EXITING: u32 = 1 << 2;
/// Primary: HLT exits.
pub const PROC_HLT_EXITING: u32 = 1 << 7;
/// Primary: every I/O instruction exits.
pub const PROC_UNCONDITIONAL_IO_EXITING: u32 = 1 << 24;
/// Primary: `MOV DR` causes VM exits (the guest never reaches the CPU's debug
/// registers).
pub const PROC_MOV_DR_EXITING: u32 = 1 << 23;
/// Primary: the secondary controls are active.
pub const PROC_SECONDARY_CONTROLS: u32 = 1 << 31;
/// Secondary: EPT.
pub const PROC2_ENABLE_EPT: u32 = 1 << 1;
/// Secondary: RDTSCP does not raise #UD.
pub const PROC2_ENABLE_RDTSCP: u32 = 1 << 3;
/// Secondary: VPID-tagged TLB entries.
pub const PROC2_ENABLE_VPID: u32 = 1 << 5;
/// Secondary: unrestricted guest (real mode and unpaged protected mode).
pub const PROC2_UNRESTRICTED_GUEST: u32 = 1 << 7;
/// Secondary: INVPCID does not raise #UD.
pub const PROC2_ENABLE_INVPCID: u32 = 1 << 12;
/// Secondary: XSAVES/XRSTORS do not raise #UD.
pub const PROC2_ENABLE_XSAVES: u32 = 1 << 20;
/// Exit: the host runs in 64-bit mode.
pub const EXIT_HOST_ADDRESS_SPACE_SIZE: u32 = 1 << 9;
/// Exit: the interrupt controller is acknowledged on an external-interrupt exit.
pub const EXIT_ACK_INTERRUPT_ON_EXIT: u32 = 1 << 15;
/// Exit: save the guest's `IA32_PAT`.
pub const EXIT_SAVE_PAT: u32 = 1 << 18;
/// Exit: load the host's `IA32_PAT`.
pub const EXIT_LOAD_PAT: u32 = 1 << 19;
/// Exit: save the guest's `IA32_EFER`.
pub const EXIT_SAVE_EFER: u32 = 1 << 20;
/// Exit: load the host's `IA32_EFER`.
pub const EXIT_LOAD_EFER: u32 = 1 << 21;
/// Entry: the guest runs in IA-32e mode.
pub const ENTRY_IA32E_GUEST: u32 = 1 << 9;
/// Entry: load the guest's `IA32_PAT`.
pub const ENTRY_LOAD_PAT: u32 = 1 << 14;
/// Entry: load the guest's `IA32_EFER`.
pub const ENTRY_LOAD_EFER: u32 = 1 << 15;

/// `IA32_VMX_BASIC` bit 55: the `IA32_VMX_TRUE_*` MSRs exist.
pub const BASIC_TRUE_CONTROLS: u64 = 1 << 55;
/// `IA32_VMX_BASIC` bit 48: VMXON and VMCS regions must be below 4 GiB.
pub const BASIC_32BIT_ADDRESSES: u64 = 1 << 48;

/// `IA32_VMX_EPT_VPID_CAP`: page walks of length 4.
const EPT_WALK_4: u64 = 1 << 6;
/// Write-back EPT paging structures.
const EPT_WB: u64 = 1 << 14;
/// INVEPT, single-context, all-context.
const INVEPT: u64 = 1 << 20;
const INVEPT_SINGLE: u64 = 1 << 25;
const INVEPT_ALL: u64 = 1 << 26;
/// INVVPID, single-context, all-context.
const INVVPID: u64 = 1 << 32;
const INVVPID_SINGLE: u64 = 1 << 41;
const INVVPID_ALL: u64 = 1 << 42;

/// The CR0/CR4 bits VMX operation fixes (`IA32_VMX_CR0_FIXED0/1`,
/// `IA32_VMX_CR4_FIXED0/1`): a bit set in `FIXED0` must be 1, a bit clear in
/// `FIXED1` must be 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CrFixed {
    /// `IA32_VMX_CR0_FIXED0`.
    pub cr0_fixed0: u64,
    /// `IA32_VMX_CR0_FIXED1`.
    pub cr0_fixed1: u64,
    /// `IA32_VMX_CR4_FIXED0`.
    pub cr4_fixed0: u64,
    /// `IA32_VMX_CR4_FIXED1`.
    pub cr4_fixed1: u64,
}

impl CrFixed {
    /// CR0 bits that must be 1 in the guest: `FIXED0` except PE and PG, which
    /// unrestricted guest frees.
    #[must_use]
    pub const fn cr0_must_be_one(&self) -> u64 {
        self.cr0_fixed0 & !(CR0_PE | CR0_PG)
    }

    /// The real CR0 for a guest-visible `value`.
    #[must_use]
    pub const fn cr0_real(&self, value: u64) -> u64 {
        (value | self.cr0_must_be_one()) & self.cr0_fixed1
    }

    /// The CR0 guest/host mask: the bits the guest may not change itself (it sees
    /// the read shadow, and writing them exits).
    #[must_use]
    pub const fn cr0_mask(&self) -> u64 {
        self.cr0_must_be_one() | (!self.cr0_fixed1 & 0xffff_ffff)
    }

    /// The real CR4 for a guest-visible `value`.
    #[must_use]
    pub const fn cr4_real(&self, value: u64) -> u64 {
        (value | self.cr4_fixed0) & self.cr4_fixed1
    }

    /// The CR4 guest/host mask.
    #[must_use]
    pub const fn cr4_mask(&self) -> u64 {
        self.cr4_fixed0 | (!self.cr4_fixed1 & 0xffff_ffff)
    }
}

/// The VMX capability MSRs of a CPU. The control capabilities are the
/// `IA32_VMX_TRUE_*` MSRs when `IA32_VMX_BASIC` bit 55 says they exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VmxCaps {
    /// `IA32_VMX_BASIC`.
    pub basic: u64,
    /// Pin-based controls capability.
    pub pin: u64,
    /// Primary processor-based controls capability.
    pub proc: u64,
    /// Secondary processor-based controls capability (`IA32_VMX_PROCBASED_CTLS2`).
    pub proc2: u64,
    /// VM-exit controls capability.
    pub exit: u64,
    /// VM-entry controls capability.
    pub entry: u64,
    /// `IA32_VMX_EPT_VPID_CAP`.
    pub ept_vpid: u64,
    /// The CR0/CR4 fixed bits.
    pub cr: CrFixed,
}

impl VmxCaps {
    /// The VMCS revision identifier (bits 30:0 of `IA32_VMX_BASIC`).
    #[must_use]
    pub const fn revision_id(&self) -> u32 {
        (self.basic & 0x7fff_ffff) as u32
    }
}

/// The INVEPT / INVVPID type to use: 1 (single context) or 2 (all contexts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalidation {
    /// The INVEPT type.
    pub invept: u64,
    /// The INVVPID type.
    pub invvpid: u64,
}

/// The controls the backend runs guests with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Controls {
    /// Pin-based controls.
    pub pin: u32,
    /// Primary processor-based controls (without interrupt-window exiting, which
    /// `run` turns on while an interrupt waits).
    pub proc: u32,
    /// Secondary processor-based controls.
    pub proc2: u32,
    /// VM-exit controls.
    pub exit: u32,
    /// VM-entry controls (without `IA-32e mode guest`, which follows the guest).
    pub entry: u32,
    /// How to drop cached translations.
    pub invalidation: Invalidation,
}

/// `required` and the supported part of `optional`, with the bits the CPU forces
/// to 1, for a capability MSR `cap` (bits 31:0 allowed 0-settings, 63:32 allowed
/// 1-settings).
///
/// # Errors
///
/// `Unsupported` (logged with `name`) when a required bit cannot be 1.
pub fn adjust(name: &str, cap: u64, required: u32, optional: u32) -> AxVmResult<u32> {
    let must_be_one = cap as u32;
    let may_be_one = (cap >> 32) as u32;
    let missing = required & !may_be_one;
    if missing != 0 {
        log::error!("x86 vCPU: the CPU lacks {name} controls {missing:#x} (capability {cap:#x})");
        return Err(AxVmError::Unsupported);
    }
    Ok(must_be_one | required | (optional & may_be_one))
}

impl Controls {
    /// The controls for a CPU with capabilities `caps`.
    ///
    /// # Errors
    ///
    /// `Unsupported` when the CPU lacks EPT (4-level, write-back), VPID,
    /// unrestricted guest, secondary controls, INVEPT / INVVPID, or any other
    /// control the backend needs.
    pub fn new(caps: &VmxCaps) -> AxVmResult<Self> {
        let pin = adjust(
            "pin-based",
            caps.pin,
            PIN_EXTERNAL_INTERRUPT_EXITING | PIN_NMI_EXITING,
            0,
        )?;
        let proc_required = PROC_HLT_EXITING
            | PROC_UNCONDITIONAL_IO_EXITING
            | PROC_MOV_DR_EXITING
            | PROC_SECONDARY_CONTROLS
            | PROC_INTERRUPT_WINDOW_EXITING;
        let proc = adjust("primary processor-based", caps.proc, proc_required, 0)?
            & !PROC_INTERRUPT_WINDOW_EXITING;
        let proc2 = adjust(
            "secondary processor-based",
            caps.proc2,
            PROC2_ENABLE_EPT | PROC2_ENABLE_VPID | PROC2_UNRESTRICTED_GUEST,
            PROC2_ENABLE_RDTSCP | PROC2_ENABLE_INVPCID | PROC2_ENABLE_XSAVES,
        )?;
        let exit = adjust(
            "VM-exit",
            caps.exit,
            EXIT_HOST_ADDRESS_SPACE_SIZE
                | EXIT_ACK_INTERRUPT_ON_EXIT
                | EXIT_SAVE_PAT
                | EXIT_LOAD_PAT
                | EXIT_SAVE_EFER
                | EXIT_LOAD_EFER,
            0,
        )?;
        let entry = adjust(
            "VM-entry",
            caps.entry,
            ENTRY_LOAD_PAT | ENTRY_LOAD_EFER | ENTRY_IA32E_GUEST,
            0,
        )? & !ENTRY_IA32E_GUEST;
        Ok(Self {
            pin,
            proc,
            proc2,
            exit,
            entry,
            invalidation: invalidation(caps.ept_vpid)?,
        })
    }
}

fn invalidation(cap: u64) -> AxVmResult<Invalidation> {
    let pick = |any, single, all| {
        if cap & any == 0 {
            None
        } else if cap & single != 0 {
            Some(1)
        } else if cap & all != 0 {
            Some(2)
        } else {
            None
        }
    };
    let walk = cap & (EPT_WALK_4 | EPT_WB) == EPT_WALK_4 | EPT_WB;
    match (
        walk,
        pick(INVEPT, INVEPT_SINGLE, INVEPT_ALL),
        pick(INVVPID, INVVPID_SINGLE, INVVPID_ALL),
    ) {
        (true, Some(invept), Some(invvpid)) => Ok(Invalidation { invept, invvpid }),
        _ => {
            log::error!(
                "x86 vCPU: the CPU lacks 4-level write-back EPT, INVEPT or INVVPID (IA32_VMX_EPT_VPID_CAP {cap:#x})"
            );
            Err(AxVmError::Unsupported)
        }
    }
}

/// Sets or clears the `IA-32e mode guest` entry control of the current VMCS.
///
/// # Errors
///
/// When a VMCS access fails.
pub fn set_ia32e_guest<V: VmcsAccess>(vmcs: &mut V, on: bool) -> AxVmResult {
    let entry = vmcs.read(vmcs::ENTRY_CONTROLS)?;
    let bit = u64::from(ENTRY_IA32E_GUEST);
    vmcs.write(
        vmcs::ENTRY_CONTROLS,
        if on { entry | bit } else { entry & !bit },
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Capabilities of a CPU that allows everything and forces `forced`.
    fn cap(forced: u32) -> u64 {
        (u64::from(u32::MAX) << 32) | u64::from(forced)
    }

    pub(crate) fn caps() -> VmxCaps {
        VmxCaps {
            basic: BASIC_TRUE_CONTROLS | 0x12,
            pin: cap(0x16),
            proc: cap(0x0401_e172),
            proc2: cap(0),
            exit: cap(0x0003_6dff),
            entry: cap(0x11ff),
            ept_vpid: EPT_WALK_4 | EPT_WB | INVEPT | INVEPT_SINGLE | INVVPID | INVVPID_ALL,
            cr: CrFixed::default(),
        }
    }

    #[test]
    fn controls_keep_forced_bits_and_add_what_is_needed() {
        let controls = Controls::new(&caps()).unwrap();
        assert_eq!(controls.pin, 0x1f);
        assert_eq!(controls.proc & PROC_MOV_DR_EXITING, PROC_MOV_DR_EXITING);
        assert_eq!(controls.proc & PROC_HLT_EXITING, PROC_HLT_EXITING);
        assert_eq!(controls.proc & PROC_INTERRUPT_WINDOW_EXITING, 0);
        assert_eq!(controls.proc & 0x0401_e172, 0x0401_e172);
        assert_eq!(controls.proc2, 0x0010_10aa);
        assert_eq!(controls.entry & ENTRY_IA32E_GUEST, 0);
        assert_eq!(
            controls.exit & EXIT_ACK_INTERRUPT_ON_EXIT,
            EXIT_ACK_INTERRUPT_ON_EXIT
        );
        assert_eq!(
            controls.invalidation,
            Invalidation {
                invept: 1,
                invvpid: 2
            }
        );
        assert_eq!(caps().revision_id(), 0x12);
    }

    #[test]
    fn optional_bits_follow_the_cpu_and_missing_required_ones_are_errors() {
        let mut caps = caps();
        // No RDTSCP/INVPCID/XSAVES, and no unrestricted guest.
        caps.proc2 = u64::from(PROC2_ENABLE_EPT | PROC2_ENABLE_VPID) << 32;
        assert_eq!(Controls::new(&caps), Err(AxVmError::Unsupported));
        caps.proc2 |= u64::from(PROC2_UNRESTRICTED_GUEST) << 32;
        assert_eq!(Controls::new(&caps).unwrap().proc2, 0xa2);
        caps.ept_vpid &= !INVVPID_ALL;
        assert_eq!(Controls::new(&caps), Err(AxVmError::Unsupported));
        assert_eq!(
            adjust("x", 0x0000_0001_0000_0000, 2, 0),
            Err(AxVmError::Unsupported)
        );
        assert_eq!(adjust("x", 0x0000_0007_0000_0001, 2, 4), Ok(7));
    }

    #[test]
    fn fixed_bits_and_masks() {
        let fixed = CrFixed {
            cr0_fixed0: 0x8000_0021,
            cr0_fixed1: 0xffff_ffff,
            cr4_fixed0: 0x2000,
            cr4_fixed1: 0x0037_27ff,
        };
        assert_eq!(fixed.cr0_mask(), 0x20);
        assert_eq!(fixed.cr0_real(0x11), 0x31);
        assert_eq!(fixed.cr4_real(0x20), 0x2020);
        assert_eq!(fixed.cr4_mask(), 0xffc8_f800 | 0x2000);
    }
}
