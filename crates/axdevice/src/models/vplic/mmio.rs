//! The guest's side: accesses to the register window.
//!
//! Every register is 32 bits wide and Linux only uses `readl`/`writel`. Accesses of any
//! other width or alignment read 0 and are ignored, as reserved offsets are, rather than
//! fault: a PLIC ignores what it does not decode, and a guest gains nothing by it. They
//! are logged at debug level.

use axvm_types::{AccessWidth, AxVmErrorKind, AxVmResult, EmulatedDeviceType, GuestPhysAddr};

use super::{
    VPlic,
    regs::{self, PlicReg},
};
use crate::{addr::MmioRange, traits::BaseDeviceOps};

impl VPlic {
    /// The register an access at `addr` reaches, or `None` for one that is not an
    /// aligned 32-bit access.
    fn decode(&self, addr: GuestPhysAddr, width: AccessWidth) -> AxVmResult<Option<PlicReg>> {
        let offset = self
            .range
            .offset_of(addr)
            .ok_or(AxVmErrorKind::BadAddress)?;
        if width != AccessWidth::Dword || offset % 4 != 0 {
            log::debug!(
                "{}: {width:?} access at {offset:#x} ignored (registers are 32-bit)",
                self.name
            );
            return Ok(None);
        }
        Ok(Some(regs::decode(offset, self.config.context_count())))
    }
}

impl BaseDeviceOps<GuestPhysAddr> for VPlic {
    fn emu_type(&self) -> EmulatedDeviceType {
        EmulatedDeviceType::InterruptController
    }

    fn address_range(&self) -> MmioRange {
        self.range
    }

    fn name(&self) -> &str {
        &self.name
    }

    /// Reads a register; a read of a context's claim register claims.
    fn handle_read(&self, addr: GuestPhysAddr, width: AccessWidth) -> AxVmResult<usize> {
        let Some(reg) = self.decode(addr, width)? else {
            return Ok(0);
        };
        let value = self.with_state(|state, changes| state.read(reg, changes));
        Ok(usize::try_from(value).unwrap_or(0))
    }

    /// Writes a register; a write of a context's claim register completes.
    fn handle_write(&self, addr: GuestPhysAddr, width: AccessWidth, val: usize) -> AxVmResult {
        let Some(reg) = self.decode(addr, width)? else {
            return Ok(());
        };
        if reg == PlicReg::Reserved {
            log::debug!("{}: write {val:#x} to a reserved offset ignored", self.name);
            return Ok(());
        }
        let value = u32::try_from(val & 0xffff_ffff).unwrap_or(0);
        self.with_state(|state, changes| state.write(reg, value, changes));
        Ok(())
    }
}
