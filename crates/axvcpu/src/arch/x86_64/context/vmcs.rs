//! VMCS field encodings (Intel SDM Vol. 3, Appendix B) and access to the current
//! VMCS through [`VmcsAccess`], so the code that reads and writes guest state is the
//! same on the hardware and in host tests.

use axvm_types::AxVmResult;

/// Reads and writes fields of the current VMCS.
pub trait VmcsAccess {
    /// Reads `field`.
    ///
    /// # Errors
    ///
    /// When there is no current VMCS or the field does not exist.
    fn read(&self, field: u32) -> AxVmResult<u64>;

    /// Writes `field`.
    ///
    /// # Errors
    ///
    /// When there is no current VMCS, the field does not exist or is read-only.
    fn write(&mut self, field: u32, value: u64) -> AxVmResult;
}

/// 16-bit control field: the virtual-processor identifier.
pub const VPID: u32 = 0x0000;

/// The guest's segment selectors, in the order ES, CS, SS, DS, FS, GS, LDTR, TR
/// (each family below uses the same order and a stride of 2).
pub const GUEST_ES_SELECTOR: u32 = 0x0800;
/// The guest's CS selector.
pub const GUEST_CS_SELECTOR: u32 = 0x0802;
/// The host's selectors, in the order ES, CS, SS, DS, FS, GS, TR.
pub const HOST_ES_SELECTOR: u32 = 0x0c00;
/// The host's CS selector.
pub const HOST_CS_SELECTOR: u32 = 0x0c02;
/// The host's SS selector.
pub const HOST_SS_SELECTOR: u32 = 0x0c04;
/// The host's DS selector.
pub const HOST_DS_SELECTOR: u32 = 0x0c06;
/// The host's FS selector.
pub const HOST_FS_SELECTOR: u32 = 0x0c08;
/// The host's GS selector.
pub const HOST_GS_SELECTOR: u32 = 0x0c0a;
/// The host's TR selector.
pub const HOST_TR_SELECTOR: u32 = 0x0c0c;

/// 64-bit control field: the EPT pointer.
pub const EPT_POINTER: u32 = 0x201a;
/// 64-bit read-only field: the guest-physical address of an EPT violation.
pub const GUEST_PHYSICAL_ADDR: u32 = 0x2400;
/// The VMCS link pointer (all ones: no shadow VMCS).
pub const VMCS_LINK_POINTER: u32 = 0x2800;
/// The guest's `IA32_DEBUGCTL`.
pub const GUEST_DEBUGCTL: u32 = 0x2802;
/// The guest's `IA32_PAT`.
pub const GUEST_PAT: u32 = 0x2804;
/// The guest's `IA32_EFER`.
pub const GUEST_EFER: u32 = 0x2806;
/// The guest's first PAE page-directory-pointer-table entry (four, stride 2).
pub const GUEST_PDPTE0: u32 = 0x280a;
/// The host's `IA32_PAT`.
pub const HOST_PAT: u32 = 0x2c00;
/// The host's `IA32_EFER`.
pub const HOST_EFER: u32 = 0x2c02;

/// Pin-based VM-execution controls.
pub const PIN_CONTROLS: u32 = 0x4000;
/// Primary processor-based VM-execution controls.
pub const PROC_CONTROLS: u32 = 0x4002;
/// The exception bitmap.
pub const EXCEPTION_BITMAP: u32 = 0x4004;
/// Page-fault error-code mask (with the match below: which #PF exit; unused).
pub const PAGE_FAULT_ERROR_CODE_MASK: u32 = 0x4006;
/// Page-fault error-code match.
pub const PAGE_FAULT_ERROR_CODE_MATCH: u32 = 0x4008;
/// The CR3-target count.
pub const CR3_TARGET_COUNT: u32 = 0x400a;
/// VM-exit controls.
pub const EXIT_CONTROLS: u32 = 0x400c;
/// VM-exit MSR-store count.
pub const EXIT_MSR_STORE_COUNT: u32 = 0x400e;
/// VM-exit MSR-load count.
pub const EXIT_MSR_LOAD_COUNT: u32 = 0x4010;
/// VM-entry controls.
pub const ENTRY_CONTROLS: u32 = 0x4012;
/// VM-entry MSR-load count.
pub const ENTRY_MSR_LOAD_COUNT: u32 = 0x4014;
/// VM-entry interruption-information field.
pub const ENTRY_INTR_INFO: u32 = 0x4016;
/// VM-entry exception error code.
pub const ENTRY_EXCEPTION_ERROR_CODE: u32 = 0x4018;
/// VM-entry instruction length (for software interrupts and exceptions).
pub const ENTRY_INSTRUCTION_LEN: u32 = 0x401a;
/// Secondary processor-based VM-execution controls.
pub const PROC_CONTROLS2: u32 = 0x401e;
/// Read-only: the error number of the last failed VMX instruction.
pub const VM_INSTRUCTION_ERROR: u32 = 0x4400;
/// Read-only: the exit reason.
pub const EXIT_REASON: u32 = 0x4402;
/// Read-only: VM-exit interruption information.
pub const EXIT_INTR_INFO: u32 = 0x4404;
/// Read-only: IDT-vectoring information (an event interrupted by the exit).
pub const IDT_VECTORING_INFO: u32 = 0x4408;
/// Read-only: IDT-vectoring error code.
pub const IDT_VECTORING_ERROR_CODE: u32 = 0x440a;
/// Read-only: the length of the instruction that caused the exit.
pub const EXIT_INSTRUCTION_LEN: u32 = 0x440c;
/// The guest's segment limits (ES first; then GDTR 0x4810, IDTR 0x4812).
pub const GUEST_ES_LIMIT: u32 = 0x4800;
/// The guest's GDTR limit.
pub const GUEST_GDTR_LIMIT: u32 = 0x4810;
/// The guest's IDTR limit.
pub const GUEST_IDTR_LIMIT: u32 = 0x4812;
/// The guest's segment access rights (ES first).
pub const GUEST_ES_ACCESS_RIGHTS: u32 = 0x4814;
/// The guest's CS access rights.
pub const GUEST_CS_ACCESS_RIGHTS: u32 = 0x4816;
/// The guest's SS access rights (their DPL is the CPL).
pub const GUEST_SS_ACCESS_RIGHTS: u32 = 0x4818;
/// The guest's interruptibility state.
pub const GUEST_INTERRUPTIBILITY: u32 = 0x4824;
/// The guest's activity state.
pub const GUEST_ACTIVITY_STATE: u32 = 0x4826;
/// The guest's `IA32_SYSENTER_CS`.
pub const GUEST_SYSENTER_CS: u32 = 0x482a;
/// The host's `IA32_SYSENTER_CS`.
pub const HOST_SYSENTER_CS: u32 = 0x4c00;

/// CR0 guest/host mask.
pub const CR0_GUEST_HOST_MASK: u32 = 0x6000;
/// CR4 guest/host mask.
pub const CR4_GUEST_HOST_MASK: u32 = 0x6002;
/// CR0 read shadow.
pub const CR0_READ_SHADOW: u32 = 0x6004;
/// CR4 read shadow.
pub const CR4_READ_SHADOW: u32 = 0x6006;
/// Read-only: the exit qualification.
pub const EXIT_QUALIFICATION: u32 = 0x6400;
/// Read-only: the guest-linear address of the exit.
pub const GUEST_LINEAR_ADDR: u32 = 0x640a;
/// The guest's CR0.
pub const GUEST_CR0: u32 = 0x6800;
/// The guest's CR3.
pub const GUEST_CR3: u32 = 0x6802;
/// The guest's CR4.
pub const GUEST_CR4: u32 = 0x6804;
/// The guest's segment bases (ES first; then GDTR 0x6816, IDTR 0x6818).
pub const GUEST_ES_BASE: u32 = 0x6806;
/// The guest's CS base.
pub const GUEST_CS_BASE: u32 = 0x6808;
/// The guest's FS base.
pub const GUEST_FS_BASE: u32 = 0x680e;
/// The guest's GS base.
pub const GUEST_GS_BASE: u32 = 0x6810;
/// The guest's GDTR base.
pub const GUEST_GDTR_BASE: u32 = 0x6816;
/// The guest's IDTR base.
pub const GUEST_IDTR_BASE: u32 = 0x6818;
/// The guest's DR7.
pub const GUEST_DR7: u32 = 0x681a;
/// The guest's RSP.
pub const GUEST_RSP: u32 = 0x681c;
/// The guest's RIP.
pub const GUEST_RIP: u32 = 0x681e;
/// The guest's RFLAGS.
pub const GUEST_RFLAGS: u32 = 0x6820;
/// The guest's `IA32_SYSENTER_ESP`.
pub const GUEST_SYSENTER_ESP: u32 = 0x6824;
/// The guest's `IA32_SYSENTER_EIP`.
pub const GUEST_SYSENTER_EIP: u32 = 0x6826;
/// The host's CR0.
pub const HOST_CR0: u32 = 0x6c00;
/// The host's CR3.
pub const HOST_CR3: u32 = 0x6c02;
/// The host's CR4.
pub const HOST_CR4: u32 = 0x6c04;
/// The host's FS base.
pub const HOST_FS_BASE: u32 = 0x6c06;
/// The host's GS base.
pub const HOST_GS_BASE: u32 = 0x6c08;
/// The host's TR base.
pub const HOST_TR_BASE: u32 = 0x6c0a;
/// The host's GDTR base.
pub const HOST_GDTR_BASE: u32 = 0x6c0c;
/// The host's IDTR base.
pub const HOST_IDTR_BASE: u32 = 0x6c0e;
/// The host's `IA32_SYSENTER_ESP`.
pub const HOST_SYSENTER_ESP: u32 = 0x6c10;
/// The host's `IA32_SYSENTER_EIP`.
pub const HOST_SYSENTER_EIP: u32 = 0x6c12;
/// The host's RSP (written by the world switch before each entry).
pub const HOST_RSP: u32 = 0x6c14;
/// The host's RIP: where a VM exit lands.
pub const HOST_RIP: u32 = 0x6c16;

/// A VMCS in memory, for host tests: every field reads as written (0 if never
/// written).
#[cfg(test)]
#[derive(Debug, Default, Clone)]
pub(crate) struct FakeVmcs {
    pub fields: alloc::collections::BTreeMap<u32, u64>,
}

#[cfg(test)]
impl FakeVmcs {
    pub fn get(&self, field: u32) -> u64 {
        self.fields.get(&field).copied().unwrap_or(0)
    }
}

#[cfg(test)]
impl VmcsAccess for FakeVmcs {
    fn read(&self, field: u32) -> AxVmResult<u64> {
        Ok(self.get(field))
    }

    fn write(&mut self, field: u32, value: u64) -> AxVmResult {
        self.fields.insert(field, value);
        Ok(())
    }
}
