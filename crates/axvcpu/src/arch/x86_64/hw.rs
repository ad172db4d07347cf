//! The privileged instructions of the backend: MSRs, control and descriptor
//! registers, VMXON/VMXOFF, VMCLEAR/VMPTRLD, VMREAD/VMWRITE, INVEPT/INVVPID, and
//! [`hardware_enable`] / [`hardware_disable`]. Built for bare-metal x86_64
//! (`target_os = "none"`) only: elsewhere — including host tests on an x86_64
//! machine — every operation reports `Unsupported` and none of these instructions
//! is compiled in.

use axvm_types::{AxVmResult, HostPhysAddr};

use super::context::vmcs::VmcsAccess;
use crate::AxVCpuHal;

/// The host registers `bind` copies into the VMCS host-state area and restores
/// after each exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(not(all(target_arch = "x86_64", target_os = "none")), allow(dead_code))]
pub(crate) struct HostState {
    pub cr0: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub cs: u16,
    pub ss: u16,
    pub ds: u16,
    pub es: u16,
    pub fs: u16,
    pub gs: u16,
    pub tr: u16,
    pub fs_base: u64,
    pub gs_base: u64,
    pub tr_base: u64,
    pub gdtr_base: u64,
    pub gdtr_limit: u16,
    pub idtr_base: u64,
    pub idtr_limit: u16,
    pub sysenter_cs: u64,
    pub sysenter_esp: u64,
    pub sysenter_eip: u64,
    pub efer: u64,
    pub pat: u64,
}

/// The two XSAVE areas of a vCPU (one frame each) and the components switched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct XsaveAreas {
    /// The guest's extended state while the vCPU is not bound.
    pub guest: HostPhysAddr,
    /// The host's extended state while the vCPU is bound.
    pub host: HostPhysAddr,
    /// Every component a guest may enable (`guest_xcr0_mask`).
    pub mask: u64,
}

/// The current VMCS of this CPU.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CurrentVmcs;

#[cfg(all(target_arch = "x86_64", target_os = "none"))]
#[path = "hw/imp.rs"]
mod imp;

#[cfg(not(all(target_arch = "x86_64", target_os = "none")))]
mod imp {
    //! Off bare-metal x86_64 there is no VMX: every operation is unsupported.
    use axvm_types::{AxVmError, AxVmResult};

    use super::{HostState, XsaveAreas};
    use crate::{
        AxVCpuHal,
        arch::x86_64::{context::switched::SwitchedRegs, vcpu::controls::VmxCaps},
    };

    #[allow(clippy::extra_unused_type_parameters)] // Same signature as on x86_64.
    pub(crate) fn hardware_enable<H: AxVCpuHal>() -> AxVmResult {
        Err(AxVmError::Unsupported)
    }
    #[allow(clippy::extra_unused_type_parameters)] // Same signature as on x86_64.
    pub(crate) fn hardware_disable<H: AxVCpuHal>() -> AxVmResult {
        Err(AxVmError::Unsupported)
    }
    pub(crate) fn caps() -> AxVmResult<VmxCaps> {
        Err(AxVmError::Unsupported)
    }
    pub(crate) fn vmclear(_paddr: u64) -> AxVmResult {
        Err(AxVmError::Unsupported)
    }
    pub(crate) fn vmptrld(_paddr: u64) -> AxVmResult {
        Err(AxVmError::Unsupported)
    }
    pub(crate) fn vmread(_field: u32) -> AxVmResult<u64> {
        Err(AxVmError::Unsupported)
    }
    pub(crate) fn vmwrite(_field: u32, _value: u64) -> AxVmResult {
        Err(AxVmError::Unsupported)
    }
    pub(crate) fn invept(_kind: u64, _eptp: u64) -> AxVmResult {
        Err(AxVmError::Unsupported)
    }
    pub(crate) fn invvpid(_kind: u64, _vpid: u16) -> AxVmResult {
        Err(AxVmError::Unsupported)
    }
    pub(crate) fn host_state() -> AxVmResult<HostState> {
        Err(AxVmError::Unsupported)
    }
    pub(crate) fn restore_descriptor_tables(_host: &HostState) {}
    pub(crate) fn cpuid(_leaf: u32, _subleaf: u32) -> [u32; 4] {
        [0; 4]
    }
    pub(crate) fn rdtsc() -> u64 {
        0
    }
    pub(crate) fn guest_xcr0_mask() -> u64 {
        0
    }
    #[allow(clippy::extra_unused_type_parameters)] // Same signature as on x86_64.
    pub(crate) fn switch_to_guest<H: AxVCpuHal>(
        guest: &SwitchedRegs,
        _areas: Option<&XsaveAreas>,
    ) -> SwitchedRegs {
        *guest
    }
    #[allow(clippy::extra_unused_type_parameters)] // Same signature as on x86_64.
    pub(crate) fn switch_to_host<H: AxVCpuHal>(
        _guest: &mut SwitchedRegs,
        _host: &SwitchedRegs,
        _areas: Option<&XsaveAreas>,
    ) {
    }
    pub(crate) fn set_guest_xcr0(_value: u64) {}
    pub(crate) fn host_xsave_size() -> u32 {
        0
    }
    pub(crate) fn deliver_nmi_to_host() {}
}

pub(crate) use imp::{
    caps, cpuid, deliver_nmi_to_host, guest_xcr0_mask, host_state, host_xsave_size, invept,
    invvpid, rdtsc, restore_descriptor_tables, set_guest_xcr0, switch_to_guest, switch_to_host,
    vmclear, vmptrld,
};

/// Turns VMX operation on for the current physical CPU; call it once per CPU
/// before any vCPU is bound there.
///
/// Checks `CPUID.1:ECX.VMX`, sets `IA32_FEATURE_CONTROL` (lock + VMXON outside SMX)
/// when the firmware left it unlocked, sets CR0/CR4 to the bits VMX operation
/// requires (`IA32_VMX_CR0/CR4_FIXED0/1`) and `CR4.VMXE`, and executes VMXON on a
/// frame from [`AxVCpuHal::alloc_frame`] stamped with the revision id of
/// `IA32_VMX_BASIC`. Succeeds at once when VMX is already on.
///
/// # Errors
///
/// `Unsupported` when the CPU has no VMX, the firmware locked it off, or this is
/// not a bare-metal x86_64 build; `NoMemory` when no frame is available;
/// `InvalidInput` when the HAL's CPU id is not below
/// [`MAX_PHYS_CPUS`](crate::MAX_PHYS_CPUS); `BadState` when VMXON fails.
pub fn hardware_enable<H: AxVCpuHal>() -> AxVmResult {
    imp::hardware_enable::<H>()
}

/// Leaves VMX operation on the current physical CPU (VMXOFF, then clears
/// `CR4.VMXE`) and frees the VMXON region [`hardware_enable`] allocated there.
///
/// # Errors
///
/// `BadState` when VMX is not on or a vCPU is still bound to this CPU (unbind it
/// first); `Unsupported` when not a bare-metal x86_64 build.
pub fn hardware_disable<H: AxVCpuHal>() -> AxVmResult {
    imp::hardware_disable::<H>()
}

impl VmcsAccess for CurrentVmcs {
    fn read(&self, field: u32) -> AxVmResult<u64> {
        imp::vmread(field)
    }

    fn write(&mut self, field: u32, value: u64) -> AxVmResult {
        imp::vmwrite(field, value)
    }
}

/// Stamps a VMXON region or VMCS with the VMCS revision id.
pub(crate) fn write_revision<H: AxVCpuHal>(frame: HostPhysAddr, revision: u32) {
    let ptr = H::phys_to_virt(frame).as_usize() as *mut u32;
    // SAFETY: `frame` is a 4 KiB frame the backend owns (from `alloc_frame`), mapped
    // at `ptr` by the hypervisor (`AxVCpuHal::phys_to_virt`), so its first 4 bytes
    // are writable and aligned.
    unsafe { ptr.write_volatile(revision) };
}

/// Reads 8 bytes of host physical memory at the 8-aligned `hpa`, through the
/// hypervisor's mapping.
pub(crate) fn read_host<H: AxVCpuHal>(hpa: u64) -> Option<u64> {
    let ptr =
        H::phys_to_virt(HostPhysAddr::from(usize::try_from(hpa).ok()?)).as_usize() as *const u64;
    if !ptr.is_aligned() {
        return None;
    }
    // SAFETY: `hpa` comes from a write-back EPT leaf of the vCPU's VM (guest RAM) or
    // from the EPT itself, both host memory the hypervisor maps (README); the read is
    // aligned and has no side effect.
    Some(unsafe { ptr.read_volatile() })
}
