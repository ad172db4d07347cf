//! The redistributors (GICR): one MMIO device covering every vCPU's pair of frames,
//! vCPU `n`'s at `n` × 0x20000 (RD_base, then SGI_base 64 KiB above it).
//!
//! RD frame: CTLR (reads 0: no LPIs, RWP and UWP clear), IIDR, TYPER (64-bit or either
//! half: Affinity_Value = the vCPU's affinity, Aff0 = its id; Processor_Number = its id;
//! Last on the last vCPU; no LPIs), WAKER (clearing ProcessorSleep clears ChildrenAsleep
//! at once) and PIDR2. SGI frame: IGROUPR0, I{S,C}ENABLER0, I{S,C}PENDR0, I{S,C}ACTIVER0,
//! IPRIORITYR0-7 (byte and word), ICFGR0 (SGIs: always edge, read-only) and ICFGR1 (PPIs,
//! writable). IGRPMODR0 and NSACR (single security state), the LPI registers and every
//! other offset read 0 and ignore writes (logged at debug level).

use alloc::sync::Arc;

use axvm_types::{AccessWidth, AxVmErrorKind, AxVmResult, EmulatedDeviceType, GuestPhysAddr};

use super::{
    VGic,
    distributor::{Half, dword, reserved},
    registers::{self, Frame, IrqReg},
    regs::{
        CTLR, GICR_FRAME_SIZE, GICR_IIDR, GICR_STRIDE, GICR_TYPER, GICR_TYPER_HIGH,
        GICR_TYPER_LAST, GICR_WAKER, IIDR_VALUE, PIDR2, PIDR2_VALUE, WAKER_CHILDREN_ASLEEP,
        WAKER_PROCESSOR_SLEEP,
    },
    state::{GicState, Notify},
};
use crate::{addr::MmioRange, traits::BaseDeviceOps};

/// A decoded redistributor access, to the frames of one vCPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RedistReg {
    Ctlr,
    Iidr,
    Typer(Half),
    Waker,
    Pidr2,
    Irq(IrqReg),
    Reserved,
}

fn decode_rd(offset: usize, width: AccessWidth) -> AxVmResult<RedistReg> {
    // Match the register containing the access, so a narrow access inside one is refused.
    let reg = match offset & !3 {
        CTLR => RedistReg::Ctlr,
        GICR_IIDR => RedistReg::Iidr,
        GICR_WAKER => RedistReg::Waker,
        PIDR2 => RedistReg::Pidr2,
        GICR_TYPER | GICR_TYPER_HIGH => return Half::of(offset, width).map(RedistReg::Typer),
        _ => {
            reserved(offset, width)?;
            return Ok(RedistReg::Reserved);
        }
    };
    dword(offset, width)?;
    Ok(reg)
}

fn decode_sgi(offset: usize, width: AccessWidth) -> AxVmResult<RedistReg> {
    if let Some(reg) = registers::decode(Frame::Redistributor, offset, width)? {
        return Ok(RedistReg::Irq(reg));
    }
    reserved(offset, width)?;
    Ok(RedistReg::Reserved)
}

/// The redistributors of all vCPUs of a [`VGic`], as one MMIO device.
#[derive(Debug)]
pub struct GicRedistributors {
    vgic: Arc<VGic>,
}

impl GicRedistributors {
    /// The redistributors of `vgic`, at its GICR window.
    #[must_use]
    pub const fn new(vgic: Arc<VGic>) -> Self {
        Self { vgic }
    }

    /// The vCPU and the decoded register an access at `addr` reaches.
    fn locate(&self, addr: GuestPhysAddr, width: AccessWidth) -> AxVmResult<(usize, RedistReg)> {
        let offset = self
            .vgic
            .gicr_range()
            .offset_of(addr)
            .ok_or(AxVmErrorKind::BadAddress)?;
        let vcpu = offset / GICR_STRIDE;
        let in_stride = offset % GICR_STRIDE;
        let reg = match in_stride.checked_sub(GICR_FRAME_SIZE) {
            None => decode_rd(in_stride, width)?,
            Some(sgi_offset) => decode_sgi(sgi_offset, width)?,
        };
        Ok((vcpu, reg))
    }

    fn typer(state: &GicState, vcpu: usize) -> u64 {
        let id = u64::try_from(vcpu).unwrap_or(0);
        let last = if vcpu.saturating_add(1) == state.vcpu_num {
            GICR_TYPER_LAST
        } else {
            0
        };
        // Affinity_Value [63:32] = Aff3.Aff2.Aff1.Aff0 with Aff0 = id; Processor_Number [23:8].
        ((id & 0xff) << 32) | ((id & 0xffff) << 8) | last
    }

    fn read(state: &GicState, vcpu: usize, reg: RedistReg, width: AccessWidth) -> u64 {
        let value = match reg {
            RedistReg::Ctlr | RedistReg::Reserved => 0,
            RedistReg::Iidr => IIDR_VALUE,
            RedistReg::Typer(half) => return half.read(Self::typer(state, vcpu)),
            RedistReg::Waker => {
                let asleep = state.cpus.get(vcpu).is_some_and(|cpu| cpu.asleep);
                if asleep {
                    WAKER_PROCESSOR_SLEEP | WAKER_CHILDREN_ASLEEP
                } else {
                    0
                }
            }
            RedistReg::Pidr2 => PIDR2_VALUE,
            RedistReg::Irq(reg) => state.read_irq_reg(vcpu, reg, width),
        };
        u64::from(value)
    }

    fn write(
        &self,
        state: &mut GicState,
        vcpu: usize,
        reg: RedistReg,
        width: AccessWidth,
        value: u32,
        notify: &mut Notify,
    ) {
        match reg {
            RedistReg::Waker => {
                if let Some(cpu) = state.cpus.get_mut(vcpu) {
                    cpu.asleep = value & WAKER_PROCESSOR_SLEEP != 0;
                }
            }
            RedistReg::Irq(reg) => state.write_irq_reg(vcpu, reg, width, value, notify),
            RedistReg::Ctlr
            | RedistReg::Iidr
            | RedistReg::Typer(_)
            | RedistReg::Pidr2
            | RedistReg::Reserved => log::debug!(
                "{}: GICR{vcpu} write {value:#x} to {reg:?} ignored",
                self.vgic.name()
            ),
        }
    }
}

impl BaseDeviceOps<GuestPhysAddr> for GicRedistributors {
    fn emu_type(&self) -> EmulatedDeviceType {
        EmulatedDeviceType::InterruptController
    }

    fn address_range(&self) -> MmioRange {
        self.vgic.gicr_range()
    }

    fn name(&self) -> &str {
        self.vgic.name()
    }

    fn handle_read(&self, addr: GuestPhysAddr, width: AccessWidth) -> AxVmResult<usize> {
        let (vcpu, reg) = self.locate(addr, width)?;
        if reg == RedistReg::Reserved {
            log::debug!("{}: GICR read of reserved {addr}", self.vgic.name());
        }
        let value = self
            .vgic
            .with_state(None, |state, _| Self::read(state, vcpu, reg, width));
        usize::try_from(value).map_err(|_| AxVmErrorKind::InvalidInput.into())
    }

    fn handle_write(&self, addr: GuestPhysAddr, width: AccessWidth, val: usize) -> AxVmResult {
        let (vcpu, reg) = self.locate(addr, width)?;
        // The only 64-bit register (TYPER) is read-only, so 32 bits carry every write.
        let value = u32::try_from(val & 0xffff_ffff).unwrap_or(0);
        self.vgic.with_state(None, |state, notify| {
            self.write(state, vcpu, reg, width, value, notify);
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_both_frames() {
        let dword = AccessWidth::Dword;
        assert_eq!(decode_rd(0x14, dword), Ok(RedistReg::Waker));
        assert_eq!(
            decode_rd(0x8, AccessWidth::Qword),
            Ok(RedistReg::Typer(Half::All))
        );
        assert_eq!(decode_rd(0xc, dword), Ok(RedistReg::Typer(Half::High)));
        assert!(decode_rd(0xc, AccessWidth::Qword).is_err());
        assert!(decode_rd(0x14, AccessWidth::Byte).is_err());
        assert_eq!(
            decode_rd(0x70, AccessWidth::Qword),
            Ok(RedistReg::Reserved),
            "PROPBASER"
        );
        assert_eq!(
            decode_sgi(0xd00, dword),
            Ok(RedistReg::Reserved),
            "IGRPMODR0"
        );
        assert!(matches!(decode_sgi(0x100, dword), Ok(RedistReg::Irq(_))));
        assert!(decode_sgi(0x101, AccessWidth::Byte).is_err());
    }
}
