//! Control-register access exits: the guest writes a CR0 or CR4 bit the guest/host
//! mask owns (the fixed bits of VMX operation). The write is emulated: the read
//! shadow takes the guest's value, the real register the value with the fixed bits,
//! and a change of CR0.PG keeps EFER.LMA, the `IA-32e mode guest` entry control
//! and the PAE PDPTEs consistent. `MOV` to and from CR3 (which exit only on CPUs
//! that force CR3 exiting) are emulated too; anything else is an error.

use crate::ratelimit::log_limited;
use axvm_types::{AxVmError, AxVmResult};

use super::{ExitCtx, ExitEnv, qual::CrAccess};
use crate::{
    AxVCpuExitReason,
    arch::x86_64::{
        context::{
            start::{CR0_PE, CR0_PG, CR4_PAE, CR4_VMXE, EFER_LMA, EFER_LME},
            vmcs,
        },
        vcpu::controls,
    },
};

impl<E: ExitEnv> ExitCtx<'_, E> {
    pub(super) fn cr_access(&mut self) -> AxVmResult<AxVCpuExitReason> {
        let access = CrAccess::decode(self.env.read(vmcs::EXIT_QUALIFICATION)?);
        let done = match access {
            CrAccess::MovTo { cr: 0, gpr } => self.write_cr0(self.gpr(gpr)?)?,
            CrAccess::MovTo { cr: 4, gpr } => self.write_cr4(self.gpr(gpr)?)?,
            CrAccess::MovTo { cr: 3, gpr } => {
                let cr3 = self.gpr(gpr)?;
                self.env.write(vmcs::GUEST_CR3, cr3)?;
                if self.pae_paging()? {
                    self.load_pdptes(cr3)?;
                }
                true
            }
            CrAccess::MovFrom { cr: 3, gpr } => {
                let cr3 = self.env.read(vmcs::GUEST_CR3)?;
                self.set_gpr(gpr, cr3)?;
                true
            }
            other => {
                log_limited!(
                    error,
                    "x86 vCPU {}: unexpected control-register access {other:?}",
                    self.vcpu_id
                );
                return Err(AxVmError::Unsupported);
            }
        };
        if done {
            self.skip()?;
        }
        Ok(AxVCpuExitReason::Nothing)
    }

    /// Whether the guest uses PAE paging outside IA-32e mode (its PDPTEs live in
    /// the VMCS).
    fn pae_paging(&self) -> AxVmResult<bool> {
        let cr0 = self.env.read(vmcs::GUEST_CR0)?;
        let cr4 = self.env.read(vmcs::GUEST_CR4)?;
        let efer = self.env.read(vmcs::GUEST_EFER)?;
        Ok(cr0 & CR0_PG != 0 && cr4 & CR4_PAE != 0 && efer & EFER_LMA == 0)
    }

    /// Emulates `MOV CR0, value`; `false` when it raised `#GP` instead.
    fn write_cr0(&mut self, value: u64) -> AxVmResult<bool> {
        let invalid = value >> 32 != 0
            || (value & CR0_PG != 0 && value & CR0_PE == 0)
            || value & !self.fixed.cr0_fixed1 & 0xffff_ffff != 0;
        let old = self.env.read(vmcs::GUEST_CR0)?;
        let efer = self.env.read(vmcs::GUEST_EFER)?;
        let cr4 = self.env.read(vmcs::GUEST_CR4)?;
        let paging = value & CR0_PG != 0;
        let long_without_pae = paging && efer & EFER_LME != 0 && cr4 & CR4_PAE == 0;
        if invalid || long_without_pae {
            self.inject_gp()?;
            return Ok(false);
        }
        if paging != (old & CR0_PG != 0) {
            if efer & EFER_LME != 0 {
                let efer = if paging {
                    efer | EFER_LMA
                } else {
                    efer & !EFER_LMA
                };
                self.env.write(vmcs::GUEST_EFER, efer)?;
                controls::set_ia32e_guest(self.env, paging)?;
            } else if paging && cr4 & CR4_PAE != 0 {
                self.load_pdptes(self.env.read(vmcs::GUEST_CR3)?)?;
            }
        }
        self.env
            .write(vmcs::GUEST_CR0, self.fixed.cr0_real(value))?;
        self.env.write(vmcs::CR0_READ_SHADOW, value)?;
        Ok(true)
    }

    /// Emulates `MOV CR4, value`; `false` when it raised `#GP` instead (VMX is not
    /// offered to the guest).
    fn write_cr4(&mut self, value: u64) -> AxVmResult<bool> {
        let efer = self.env.read(vmcs::GUEST_EFER)?;
        let invalid = value & CR4_VMXE != 0
            || value & !self.fixed.cr4_fixed1 != 0
            || (efer & EFER_LMA != 0 && value & CR4_PAE == 0);
        if invalid {
            self.inject_gp()?;
            return Ok(false);
        }
        let old = self.env.read(vmcs::GUEST_CR4)?;
        self.env
            .write(vmcs::GUEST_CR4, self.fixed.cr4_real(value))?;
        self.env.write(vmcs::CR4_READ_SHADOW, value)?;
        if (old ^ value) & CR4_PAE != 0 && self.pae_paging()? {
            self.load_pdptes(self.env.read(vmcs::GUEST_CR3)?)?;
        }
        Ok(true)
    }

    /// Loads the four PAE PDPTEs at `cr3` into the VMCS, as the CPU does when it
    /// enters PAE paging.
    fn load_pdptes(&mut self, cr3: u64) -> AxVmResult {
        let base = cr3 & 0xffff_ffe0;
        let mut entries = [0u64; 4];
        {
            let memory = self.guest_memory();
            for (index, entry) in (0u64..).zip(entries.iter_mut()) {
                *entry = memory
                    .read_gpa(base.wrapping_add(index.wrapping_mul(8)))
                    .ok_or_else(|| {
                        log_limited!(
                            error,
                            "x86 vCPU: PAE PDPTEs at {base:#x} are not in guest RAM"
                        );
                        AxVmError::BadAddress
                    })?;
            }
        }
        for (index, entry) in (0u32..).zip(entries) {
            self.env.write(
                vmcs::GUEST_PDPTE0.wrapping_add(index.wrapping_mul(2)),
                entry,
            )?;
        }
        Ok(())
    }
}
