//! The distributor (GICD): one 64 KiB MMIO frame.
//!
//! Implemented: CTLR, TYPER, IIDR, TYPER2 (reads 0), PIDR2, the SPIs' IGROUPR,
//! I{S,C}ENABLER, I{S,C}PENDR, I{S,C}ACTIVER, IPRIORITYR (byte and word), ICFGR and IROUTER
//! (64-bit, or either 32-bit half). With ARE set the banks of INTIDs 0-31 are reserved
//! (they live in the redistributors), and so are ITARGETSR, SGIR, {C,S}PENDSGIR,
//! IGRPMODR (single security state) and NSACR. Every offset without a register, and
//! every bit of an INTID past the SPI count, reads 0 and ignores writes (logged at debug
//! level). Accesses of a width a register does not take, or unaligned ones, are errors.

use alloc::sync::Arc;

use axvm_types::{AccessWidth, AxVmErrorKind, AxVmResult, EmulatedDeviceType, GuestPhysAddr};

use super::{
    VGic,
    registers::{self, Frame, IrqReg},
    regs::{
        CTLR, CTLR_ARE, CTLR_DS, CTLR_ENABLE_GRP1, GICD_IIDR, GICD_TYPER, GICD_TYPER_IDBITS,
        GICD_TYPER_RSS, GICD_TYPER2, IIDR_VALUE, IROUTER, IROUTER_END, PIDR2, PIDR2_VALUE,
    },
    state::{GicState, Notify},
};
use crate::{addr::MmioRange, traits::BaseDeviceOps};

/// A decoded distributor access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DistReg {
    Ctlr,
    Typer,
    Iidr,
    Typer2,
    Pidr2,
    Irq(IrqReg),
    /// IROUTER of `intid`: the whole register, or its low or high half.
    Route {
        intid: u32,
        half: Half,
    },
    Reserved,
}

/// Which part of a 64-bit register an access covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Half {
    All,
    Low,
    High,
}

impl Half {
    pub(super) fn read(self, value: u64) -> u64 {
        match self {
            Self::All => value,
            Self::Low => value & 0xffff_ffff,
            Self::High => value >> 32,
        }
    }

    pub(super) fn merge(self, old: u64, value: u64) -> u64 {
        match self {
            Self::All => value,
            Self::Low => (old & !0xffff_ffff) | (value & 0xffff_ffff),
            Self::High => (old & 0xffff_ffff) | (value << 32),
        }
    }

    /// The part a 64-bit access or a 32-bit access at `offset` (the register's offset
    /// plus 0 or 4) covers.
    pub(super) fn of(offset: usize, width: AccessWidth) -> AxVmResult<Self> {
        match (width, offset % 8) {
            (AccessWidth::Qword, 0) => Ok(Self::All),
            (AccessWidth::Dword, 0) => Ok(Self::Low),
            (AccessWidth::Dword, 4) => Ok(Self::High),
            _ => Err(AxVmErrorKind::InvalidInput.into()),
        }
    }
}

/// A 32-bit register: only 32-bit aligned accesses.
pub(super) fn dword(offset: usize, width: AccessWidth) -> AxVmResult {
    if width == AccessWidth::Dword && offset % 4 == 0 {
        Ok(())
    } else {
        Err(AxVmErrorKind::InvalidInput.into())
    }
}

/// Any naturally aligned access to an offset without a register.
pub(super) fn reserved(offset: usize, width: AccessWidth) -> AxVmResult {
    if registers::aligned(offset, width) {
        Ok(())
    } else {
        Err(AxVmErrorKind::InvalidInput.into())
    }
}

/// Inlined into the handlers, so the decoded register is control flow, not a value
/// moved through memory.
#[inline(always)]
fn decode(offset: usize, width: AccessWidth) -> AxVmResult<DistReg> {
    // The per-interrupt banks first: an OS writes them most.
    if let Some(reg) = registers::decode(Frame::Distributor, offset, width)? {
        return Ok(DistReg::Irq(reg));
    }
    // Match the register containing the access, so a narrow access inside one is refused.
    let fixed = match offset & !3 {
        CTLR => Some(DistReg::Ctlr),
        GICD_TYPER => Some(DistReg::Typer),
        GICD_IIDR => Some(DistReg::Iidr),
        GICD_TYPER2 => Some(DistReg::Typer2),
        PIDR2 => Some(DistReg::Pidr2),
        _ => None,
    };
    if let Some(reg) = fixed {
        dword(offset, width)?;
        return Ok(reg);
    }
    if (IROUTER..IROUTER_END).contains(&offset) {
        let half = Half::of(offset, width)?;
        let intid = u32::try_from(offset.saturating_sub(IROUTER) / 8).unwrap_or(0);
        // IROUTER<n> exists for SPIs only.
        return Ok(if intid < 32 {
            DistReg::Reserved
        } else {
            DistReg::Route { intid, half }
        });
    }
    reserved(offset, width)?;
    Ok(DistReg::Reserved)
}

/// The distributor of a [`VGic`], as an MMIO device.
#[derive(Debug)]
pub struct GicDistributor {
    vgic: Arc<VGic>,
}

impl GicDistributor {
    /// The distributor of `vgic`, at its GICD window.
    #[must_use]
    pub const fn new(vgic: Arc<VGic>) -> Self {
        Self { vgic }
    }

    fn typer(&self, state: &GicState) -> u32 {
        let it_lines = (state.intids.div_ceil(32)).saturating_sub(1).min(31);
        let cpus = u32::try_from(state.vcpu_num.clamp(1, 8).saturating_sub(1)).unwrap_or(7);
        it_lines | (cpus << 5) | GICD_TYPER_IDBITS | GICD_TYPER_RSS
    }

    fn read(&self, state: &GicState, reg: DistReg, width: AccessWidth) -> u64 {
        let value = match reg {
            DistReg::Ctlr => {
                let grp1 = if state.grp1_enabled {
                    CTLR_ENABLE_GRP1
                } else {
                    0
                };
                CTLR_ARE | CTLR_DS | grp1
            }
            DistReg::Typer => self.typer(state),
            DistReg::Iidr => IIDR_VALUE,
            DistReg::Typer2 => 0,
            DistReg::Pidr2 => PIDR2_VALUE,
            DistReg::Irq(reg) => state.read_irq_reg(0, reg, width),
            DistReg::Route { intid, half } => return half.read(state.route(intid)),
            DistReg::Reserved => 0,
        };
        u64::from(value)
    }

    fn write(
        &self,
        state: &mut GicState,
        reg: DistReg,
        width: AccessWidth,
        value: u64,
        notify: &mut Notify,
    ) {
        let low = u32::try_from(value & 0xffff_ffff).unwrap_or(0);
        match reg {
            DistReg::Ctlr => state.set_grp1_enabled(low & CTLR_ENABLE_GRP1 != 0, notify),
            DistReg::Irq(reg) => state.write_irq_reg(0, reg, width, low, notify),
            DistReg::Route { intid, half } => {
                let merged = half.merge(state.route(intid), value);
                state.set_route(intid, merged, notify);
            }
            DistReg::Typer
            | DistReg::Iidr
            | DistReg::Typer2
            | DistReg::Pidr2
            | DistReg::Reserved => {
                log::debug!(
                    "{}: GICD write {value:#x} to {reg:?} ignored",
                    self.vgic.name()
                );
            }
        }
    }

    fn offset(&self, addr: GuestPhysAddr) -> AxVmResult<usize> {
        self.vgic
            .gicd_range()
            .offset_of(addr)
            .ok_or_else(|| AxVmErrorKind::BadAddress.into())
    }
}

impl BaseDeviceOps<GuestPhysAddr> for GicDistributor {
    fn emu_type(&self) -> EmulatedDeviceType {
        EmulatedDeviceType::InterruptController
    }

    fn address_range(&self) -> MmioRange {
        self.vgic.gicd_range()
    }

    fn name(&self) -> &str {
        self.vgic.name()
    }

    fn handle_read(&self, addr: GuestPhysAddr, width: AccessWidth) -> AxVmResult<usize> {
        let offset = self.offset(addr)?;
        let reg = decode(offset, width)?;
        if reg == DistReg::Reserved {
            log::debug!(
                "{}: GICD read of reserved offset {offset:#x}",
                self.vgic.name()
            );
        }
        let value = self.vgic.read_state(|state| self.read(state, reg, width));
        usize::try_from(value).map_err(|_| AxVmErrorKind::InvalidInput.into())
    }

    fn handle_write(&self, addr: GuestPhysAddr, width: AccessWidth, val: usize) -> AxVmResult {
        let offset = self.offset(addr)?;
        if let Some(first) = registers::spi_priorities(offset, width) {
            let bytes = u32::try_from(val & 0xffff_ffff).unwrap_or(0).to_le_bytes();
            let lanes = bytes.get(..width.size()).unwrap_or(&bytes);
            self.vgic.with_state(None, |state, notify| {
                state.set_priorities(0, first, lanes, notify);
            });
            return Ok(());
        }
        let reg = decode(offset, width)?;
        let value = u64::try_from(val).map_err(|_| AxVmErrorKind::InvalidInput)?;
        self.vgic.with_state(None, |state, notify| {
            self.write(state, reg, width, value, notify)
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_fixed_routing_and_reserved_offsets() {
        let dword = AccessWidth::Dword;
        assert_eq!(decode(0, dword), Ok(DistReg::Ctlr));
        assert_eq!(decode(0xffe8, dword), Ok(DistReg::Pidr2));
        assert!(decode(0, AccessWidth::Qword).is_err());
        assert!(decode(4, AccessWidth::Byte).is_err());
        assert_eq!(
            decode(0x6100, AccessWidth::Qword),
            Ok(DistReg::Route {
                intid: 32,
                half: Half::All
            })
        );
        assert_eq!(
            decode(0x6104, dword),
            Ok(DistReg::Route {
                intid: 32,
                half: Half::High
            })
        );
        assert_eq!(decode(0x60f8, AccessWidth::Qword), Ok(DistReg::Reserved));
        assert!(decode(0x6104, AccessWidth::Qword).is_err());
        assert!(decode(0x6102, AccessWidth::Word).is_err());
        assert_eq!(decode(0x0800, dword), Ok(DistReg::Reserved), "ITARGETSR");
        assert_eq!(decode(0x0f00, dword), Ok(DistReg::Reserved), "SGIR");
        assert_eq!(
            decode(0x0f11, AccessWidth::Byte),
            Ok(DistReg::Reserved),
            "SPENDSGIR"
        );
        assert!(decode(0x0f11, AccessWidth::Word).is_err(), "unaligned");
    }

    #[test]
    fn halves_merge_into_the_64_bit_value() {
        assert_eq!(Half::Low.merge(0x1_0000_0002, 0x3), 0x1_0000_0003);
        assert_eq!(Half::High.merge(0x1_0000_0002, 0x5), 0x5_0000_0002);
        assert_eq!(Half::High.read(0x7_0000_0001), 7);
        assert_eq!(Half::of(0x6104, AccessWidth::Dword), Ok(Half::High));
    }
}
