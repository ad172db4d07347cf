//! Exits about guest state the VMCS does not hold: `MOV DR` (answered from the
//! vCPU's own debug registers), `XSETBV` (checked, then applied to the live XCR0),
//! and NMIs that arrived while the guest ran (the host's, handed to it).

use crate::ratelimit::log_limited;
use axvm_types::{AxVmError, AxVmResult};

use super::{ExitCtx, ExitEnv, qual::INTR_INFO_VALID};
use crate::{
    AxVCpuExitReason,
    arch::x86_64::context::{switched::xcr0_is_valid, vmcs},
};

/// Interruption type NMI (bits 10:8 = 2) of exit interruption information.
const INTR_TYPE_NMI: u64 = 2 << 8;

/// A `MOV DR` exit qualification (Intel SDM Vol. 3, Table 28-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MovDrQual(pub u64);

impl MovDrQual {
    /// The debug register (0–7).
    #[must_use]
    pub const fn dr(self) -> u8 {
        (self.0 & 0b111) as u8
    }

    /// `MOV reg, DRn` (a read) rather than `MOV DRn, reg`.
    #[must_use]
    pub const fn is_read(self) -> bool {
        self.0 & (1 << 4) != 0
    }

    /// The general register (x86 numbering).
    #[must_use]
    pub const fn gpr(self) -> usize {
        ((self.0 >> 8) & 0xf) as usize
    }
}

impl<E: ExitEnv> ExitCtx<'_, E> {
    pub(super) fn mov_dr(&mut self) -> AxVmResult<AxVCpuExitReason> {
        let q = MovDrQual(self.env.read(vmcs::EXIT_QUALIFICATION)?);
        if q.is_read() {
            let value = self.debug.read(q.dr());
            self.set_gpr(q.gpr(), value)?;
        } else {
            let value = self.gpr(q.gpr())?;
            self.debug.write(q.dr(), value);
        }
        self.skip()?;
        Ok(AxVCpuExitReason::Nothing)
    }

    pub(super) fn xsetbv(&mut self) -> AxVmResult<AxVCpuExitReason> {
        let index = self.regs.get(1) as u32;
        let value = (self.regs.get(2) << 32) | (self.regs.get(0) & 0xffff_ffff);
        if index != 0 || !xcr0_is_valid(value, self.xcr0_mask) {
            log_limited!(
                debug,
                "x86 vCPU {}: XSETBV of XCR{index} = {value:#x} refused (#GP)",
                self.vcpu_id
            );
            self.inject_gp()?;
            return Ok(AxVCpuExitReason::Nothing);
        }
        self.env.set_xcr0(value);
        self.skip()?;
        Ok(AxVCpuExitReason::Nothing)
    }

    /// An exception or NMI exit: only NMIs exit (the exception bitmap is empty),
    /// and they are the host's.
    pub(super) fn exception_or_nmi(&mut self) -> AxVmResult<AxVCpuExitReason> {
        let info = self.env.read(vmcs::EXIT_INTR_INFO)?;
        if info & u64::from(INTR_INFO_VALID) == 0 || info & (0b111 << 8) != INTR_TYPE_NMI {
            log_limited!(
                error,
                "x86 vCPU {}: exception exit {info:#x} with an empty exception bitmap",
                self.vcpu_id
            );
            return Err(AxVmError::BadState);
        }
        self.env.host_nmi();
        Ok(AxVCpuExitReason::Nothing)
    }
}
