//! The per-interrupt registers the distributor and the redistributors' SGI frames share
//! (IGROUPR, I{S,C}ENABLER, I{S,C}PENDR, I{S,C}ACTIVER, IPRIORITYR, ICFGR), decoded from an
//! offset and applied to the state.
//!
//! Access rules (GICv3 12.1.6): these registers take 32-bit accesses, IPRIORITYR also
//! byte accesses; anything else (16-bit, 64-bit, unaligned) is refused with an error the
//! hypervisor turns into a fault.

use axvm_types::{AccessWidth, AxVmErrorKind, AxVmResult};

use super::{
    regs::{
        BIT_BANK_LEN, ICACTIVER, ICFGR, ICFGR_END, ICFGR_SGI, IGROUPR, IPRIORITYR, IPRIORITYR_END,
        PRIVATE_COUNT, SGI_COUNT,
    },
    state::{GicState, Notify},
};

/// A register with one bit per INTID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BitReg {
    Group,
    SetEnable,
    ClearEnable,
    SetPending,
    ClearPending,
    SetActive,
    ClearActive,
}

/// A decoded access to a per-interrupt register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IrqReg {
    /// 32 INTIDs from `first`, one bit each.
    Bits { reg: BitReg, first: u32 },
    /// One byte per INTID from `first`, as many as the access is wide.
    Priority { first: u32 },
    /// 16 INTIDs from `first`, two bits each.
    Config { first: u32 },
    /// An offset of the areas with no register behind it (a bank past the frame's
    /// INTIDs): reads as zero, ignores writes.
    Reserved,
}

/// The 1-bit banks in offset order, each [`BIT_BANK_LEN`] bytes, from [`IGROUPR`].
const BIT_BANKS: [BitReg; 7] = [
    BitReg::Group,
    BitReg::SetEnable,
    BitReg::ClearEnable,
    BitReg::SetPending,
    BitReg::ClearPending,
    BitReg::SetActive,
    BitReg::ClearActive,
];
/// The end of the last 1-bit bank (ICACTIVER).
const BIT_BANKS_END: usize = ICACTIVER + BIT_BANK_LEN;

/// Which INTIDs a frame's per-interrupt registers cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Frame {
    /// The distributor: SPIs only (with ARE set, INTIDs 0-31 are the redistributors').
    Distributor,
    /// A redistributor's SGI frame: INTIDs 0-31 only.
    Redistributor,
}

impl Frame {
    fn covers(self, first: u32) -> bool {
        match self {
            Self::Distributor => first >= PRIVATE_COUNT,
            Self::Redistributor => first < PRIVATE_COUNT,
        }
    }
}

/// Whether an access of `width` at `offset` is naturally aligned.
pub(super) fn aligned(offset: usize, width: AccessWidth) -> bool {
    offset.checked_rem(width.size()) == Some(0)
}

fn dword_only(width: AccessWidth, offset: usize) -> AxVmResult {
    if width == AccessWidth::Dword && offset % 4 == 0 {
        Ok(())
    } else {
        Err(AxVmErrorKind::InvalidInput.into())
    }
}

fn intid(index: usize) -> Option<u32> {
    u32::try_from(index).ok()
}

/// The first INTID of a well-formed distributor IPRIORITYR access (a byte, or an aligned
/// 32-bit word) to SPIs; `None` for anything else, which [`decode`] then handles: the
/// same register as `decode` gives, found without building its [`IrqReg`], for the GICD
/// write an OS makes most.
#[inline(always)]
pub(super) fn spi_priorities(offset: usize, width: AccessWidth) -> Option<u32> {
    let first = offset.checked_sub(IPRIORITYR).and_then(intid)?;
    let well_formed = offset < IPRIORITYR_END
        && matches!(width, AccessWidth::Byte | AccessWidth::Dword)
        && aligned(offset, width);
    (well_formed && Frame::Distributor.covers(first)).then_some(first)
}

/// Decodes `offset` in `frame`'s per-interrupt areas; `None` if it lies outside them.
///
/// # Errors
///
/// `InvalidInput` for a width or alignment the register does not take.
#[inline(always)]
pub(super) fn decode(
    frame: Frame,
    offset: usize,
    width: AccessWidth,
) -> AxVmResult<Option<IrqReg>> {
    // Ranges, not a scan of the banks: this runs on every GIC register access.
    let reg = match offset {
        IGROUPR..BIT_BANKS_END => {
            dword_only(width, offset)?;
            let rel = offset.wrapping_sub(IGROUPR);
            let Some(&reg) = BIT_BANKS.get(rel / BIT_BANK_LEN) else {
                return Ok(None);
            };
            bank(frame, (rel % BIT_BANK_LEN).saturating_mul(8), |first| {
                IrqReg::Bits { reg, first }
            })
        }
        IPRIORITYR..IPRIORITYR_END => {
            if !matches!(width, AccessWidth::Byte | AccessWidth::Dword) || !aligned(offset, width) {
                return Err(AxVmErrorKind::InvalidInput.into());
            }
            bank(frame, offset.wrapping_sub(IPRIORITYR), |first| {
                IrqReg::Priority { first }
            })
        }
        ICFGR..ICFGR_END => {
            dword_only(width, offset)?;
            bank(
                frame,
                offset.wrapping_sub(ICFGR).saturating_mul(4),
                |first| IrqReg::Config { first },
            )
        }
        _ => return Ok(None),
    };
    Ok(Some(reg))
}

/// The register for the INTIDs from `first_index`, or `Reserved` if `frame` does not own
/// them.
fn bank(frame: Frame, first_index: usize, make: impl FnOnce(u32) -> IrqReg) -> IrqReg {
    match intid(first_index) {
        Some(first) if frame.covers(first) => make(first),
        _ => IrqReg::Reserved,
    }
}

impl GicState {
    /// Reads a per-interrupt register of bank `vcpu`. INTIDs without state read 0.
    pub(super) fn read_irq_reg(&self, vcpu: usize, reg: IrqReg, width: AccessWidth) -> u32 {
        match reg {
            IrqReg::Bits { reg, first } => (0..32u32).fold(0, |value, bit| {
                let set = self
                    .irq(vcpu, first.saturating_add(bit))
                    .is_some_and(|irq| match reg {
                        BitReg::Group => irq.group1,
                        BitReg::SetEnable | BitReg::ClearEnable => irq.enabled,
                        BitReg::SetPending | BitReg::ClearPending => irq.pending(),
                        BitReg::SetActive | BitReg::ClearActive => irq.active,
                    });
                value | (u32::from(set) << bit)
            }),
            IrqReg::Priority { first } => (0..lanes(width)).fold(0, |value, lane| {
                let priority = self
                    .irq(vcpu, first.saturating_add(lane))
                    .map_or(0, |irq| irq.priority);
                value | (u32::from(priority) << lane.saturating_mul(8))
            }),
            IrqReg::Config { first } if first < SGI_COUNT => ICFGR_SGI,
            IrqReg::Config { first } => (0..16u32).fold(0, |value, field| {
                let edge = self
                    .irq(vcpu, first.saturating_add(field))
                    .is_some_and(|irq| irq.edge);
                value | (u32::from(edge) << field.saturating_mul(2).saturating_add(1))
            }),
            IrqReg::Reserved => 0,
        }
    }

    /// Writes a per-interrupt register of bank `vcpu`. Bits of INTIDs without state, and
    /// the SGIs' configuration, are ignored. Inlined into the frames' handlers: each arm
    /// is a call, so a priority write does not pay for the setup of the others.
    #[inline(always)]
    pub(super) fn write_irq_reg(
        &mut self,
        vcpu: usize,
        reg: IrqReg,
        width: AccessWidth,
        value: u32,
        notify: &mut Notify,
    ) {
        match reg {
            IrqReg::Bits { reg, first } => self.write_bits(vcpu, reg, first, value, notify),
            IrqReg::Priority { first } => {
                let bytes = value.to_le_bytes();
                let lanes = bytes.get(..width.size()).unwrap_or(&bytes);
                self.set_priorities(vcpu, first, lanes, notify);
            }
            IrqReg::Config { first } if first < SGI_COUNT => {
                log::debug!("vgic: write {value:#x} to the read-only ICFGR0 ignored");
            }
            IrqReg::Config { first } => self.write_config(vcpu, first, value, notify),
            IrqReg::Reserved => {
                log::debug!("vgic: write {value:#x} to a reserved register ignored")
            }
        }
    }

    #[inline(never)]
    fn write_bits(
        &mut self,
        vcpu: usize,
        reg: BitReg,
        first: u32,
        value: u32,
        notify: &mut Notify,
    ) {
        for bit in 0..32u32 {
            let set = value & (1 << bit) != 0;
            self.write_bit(vcpu, reg, first.saturating_add(bit), set, notify);
        }
    }

    #[inline(never)]
    fn write_config(&mut self, vcpu: usize, first: u32, value: u32, notify: &mut Notify) {
        for field in 0..16u32 {
            let edge = value & (1 << field.saturating_mul(2).saturating_add(1)) != 0;
            self.update(vcpu, first.saturating_add(field), notify, |irq| {
                irq.edge = edge
            });
        }
    }

    fn write_bit(&mut self, vcpu: usize, reg: BitReg, intid: u32, set: bool, notify: &mut Notify) {
        if !set && reg != BitReg::Group {
            return;
        }
        // An SPI made active by software belongs to the vCPU it is routed to.
        let owner = self
            .target(vcpu, intid)
            .and_then(|target| u8::try_from(target).ok())
            .unwrap_or(0);
        self.update(vcpu, intid, notify, |irq| match reg {
            BitReg::Group => irq.group1 = set,
            BitReg::SetEnable => irq.enabled = true,
            BitReg::ClearEnable => irq.enabled = false,
            BitReg::SetPending => irq.set_latch(),
            BitReg::ClearPending => irq.clear_latch(),
            BitReg::SetActive => {
                if !irq.active {
                    irq.active = true;
                    irq.active_on = owner;
                }
            }
            BitReg::ClearActive => irq.active = false,
        });
    }
}

/// The number of byte lanes of a priority access.
fn lanes(width: AccessWidth) -> u32 {
    u32::try_from(width.size()).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_bank_for_its_frame() {
        let d = Frame::Distributor;
        let r = Frame::Redistributor;
        let dword = AccessWidth::Dword;
        assert_eq!(
            decode(d, 0x104, dword),
            Ok(Some(IrqReg::Bits {
                reg: BitReg::SetEnable,
                first: 32
            }))
        );
        assert_eq!(
            decode(d, 0x100, dword),
            Ok(Some(IrqReg::Reserved)),
            "ARE: SGIs/PPIs"
        );
        assert_eq!(
            decode(r, 0x380, dword),
            Ok(Some(IrqReg::Bits {
                reg: BitReg::ClearActive,
                first: 0
            }))
        );
        assert_eq!(decode(r, 0x384, dword), Ok(Some(IrqReg::Reserved)));
        assert_eq!(
            decode(d, 0x423, AccessWidth::Byte),
            Ok(Some(IrqReg::Priority { first: 35 }))
        );
        assert_eq!(decode(d, 0x41c, dword), Ok(Some(IrqReg::Reserved)));
        assert_eq!(
            decode(r, 0x41c, dword),
            Ok(Some(IrqReg::Priority { first: 28 }))
        );
        assert_eq!(
            decode(d, 0xc08, dword),
            Ok(Some(IrqReg::Config { first: 32 }))
        );
        assert_eq!(
            decode(r, 0xc04, dword),
            Ok(Some(IrqReg::Config { first: 16 }))
        );
        assert_eq!(decode(d, 0xc04, dword), Ok(Some(IrqReg::Reserved)));
        assert_eq!(decode(d, 0x7c, dword), Ok(None));
        assert_eq!(decode(d, 0xd00, dword), Ok(None));
    }

    #[test]
    fn refuses_widths_the_registers_do_not_take() {
        let d = Frame::Distributor;
        for (offset, width) in [
            (0x104, AccessWidth::Byte),
            (0x104, AccessWidth::Word),
            (0x104, AccessWidth::Qword),
            (0x106, AccessWidth::Dword),
            (0x420, AccessWidth::Word),
            (0x420, AccessWidth::Qword),
            (0x421, AccessWidth::Dword),
            (0xc08, AccessWidth::Byte),
        ] {
            assert!(decode(d, offset, width).is_err(), "{offset:#x} {width:?}");
        }
    }

    proptest::proptest! {
        /// The priority shortcut finds exactly the registers `decode` calls SPI priorities.
        #[test]
        fn the_priority_shortcut_agrees_with_decode(offset in 0usize..0x1_0000, width in 0u8..4) {
            let width = [AccessWidth::Byte, AccessWidth::Word, AccessWidth::Dword, AccessWidth::Qword]
                [usize::from(width)];
            let decoded = decode(Frame::Distributor, offset, width);
            match spi_priorities(offset, width) {
                Some(first) => proptest::prop_assert_eq!(decoded, Ok(Some(IrqReg::Priority { first }))),
                None => {
                    let priority = matches!(decoded, Ok(Some(IrqReg::Priority { .. })));
                    proptest::prop_assert!(!priority, "missed {:?}", decoded);
                }
            }
        }
    }
}
