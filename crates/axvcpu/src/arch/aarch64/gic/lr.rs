//! `ICH_LR<n>_EL2`, the list registers: one virtual interrupt each, as the guest's
//! virtual CPU interface sees it. [`encode_lr`] turns a [`VirtualIrq`] into one,
//! [`decode_lr`] reads one back; both are pure.
//!
//! Layout (IHI 0069, 12.5.11): vINTID \[31:0\], pINTID \[44:32\] when HW = 1 (else
//! bit 41 = EOI, a maintenance interrupt request when the guest ends it), Priority
//! \[55:48\], Group \[60\], HW \[61\], State \[63:62\] (01 pending, 10 active, 11
//! pending and active).

use axvm_types::{AxVmError, AxVmResult, VirqState, VirtualIrq};

use super::regs::IchVtr;

/// List register fields.
pub mod field {
    /// The state field's position (two bits).
    pub const STATE_SHIFT: u32 = 62;
    /// HW: the interrupt is linked to the physical interrupt in pINTID, which the
    /// guest's deactivation deactivates.
    pub const HW: u64 = 1 << 61;
    /// Group: the interrupt is Group 1 (the guest's IRQs).
    pub const GROUP1: u64 = 1 << 60;
    /// The priority field's position (eight bits, the top `PRIbits` used).
    pub const PRIORITY_SHIFT: u32 = 48;
    /// The pINTID field's position (13 bits), with HW = 1.
    pub const PINTID_SHIFT: u32 = 32;
    /// The pINTID field's width mask.
    pub const PINTID_MASK: u64 = 0x1fff;
    /// EOI: with HW = 0, a maintenance interrupt when the guest ends the interrupt.
    pub const EOI: u64 = 1 << 41;
    /// The vINTID field.
    pub const VINTID_MASK: u64 = 0xffff_ffff;
}

/// The first INTID that is not an SGI, PPI or SPI (1020–1023 are special).
const SPECIAL_INTIDS: u32 = 1020;
/// The first LPI.
const FIRST_LPI: u32 = 8192;
/// The first physical INTID a list register may link to: PPIs and SPIs only.
const FIRST_PPI: u32 = 16;

const fn state_bits(state: VirqState) -> u64 {
    match state {
        VirqState::Inactive => 0b00,
        VirqState::Pending => 0b01,
        VirqState::Active => 0b10,
        VirqState::PendingActive => 0b11,
    }
}

/// The state a list register holds.
#[must_use]
pub const fn lr_state(value: u64) -> VirqState {
    match value >> field::STATE_SHIFT {
        0b00 => VirqState::Inactive,
        0b01 => VirqState::Pending,
        0b10 => VirqState::Active,
        _ => VirqState::PendingActive,
    }
}

/// Whether `intid` can be a virtual INTID on a CPU with `id_bits` INTID bits: an
/// SGI, PPI or SPI (0–1019), or an LPI (8192 up to the INTID width).
const fn valid_vintid(intid: u32, id_bits: u32) -> bool {
    intid < SPECIAL_INTIDS || (intid >= FIRST_LPI && (intid as u64) < 1u64 << id_bits)
}

/// The list register value of `irq` on a CPU whose virtual interface is `vtr`: a
/// Group 1 interrupt with its vINTID, priority (cut to the implemented bits), state,
/// and either its physical link (HW, pINTID) or its EOI maintenance request.
///
/// # Errors
///
/// `InvalidInput` for a vINTID that is special (1020–1023), between the SPIs and
/// the LPIs or wider than the CPU's INTIDs; a physical link to anything but a PPI
/// or SPI (16–1019); a linked interrupt that is `PendingActive` (its pending state
/// is the physical interrupt's, which stays active until the guest deactivates the
/// virtual one) or asks for EOI notification (the hardware deactivates it; there is
/// no maintenance request for linked interrupts).
pub fn encode_lr(irq: &VirtualIrq, vtr: IchVtr) -> AxVmResult<u64> {
    check_lr(irq, vtr)?;
    Ok(lr_value(irq, vtr))
}

/// Whether [`encode_lr`] accepts `irq`.
///
/// # Errors
///
/// As [`encode_lr`].
pub fn check_lr(irq: &VirtualIrq, vtr: IchVtr) -> AxVmResult {
    if !valid_vintid(irq.intid, vtr.id_bits()) {
        return Err(AxVmError::InvalidInput);
    }
    if let Some(pintid) = irq.hw_intid
        && (!(FIRST_PPI..SPECIAL_INTIDS).contains(&pintid)
            || irq.notify_eoi
            || irq.state == VirqState::PendingActive)
    {
        return Err(AxVmError::InvalidInput);
    }
    Ok(())
}

/// The list register value of `irq`, which [`check_lr`] accepted (for one it
/// refuses, a value that may name the wrong interrupt).
#[must_use]
pub fn lr_value(irq: &VirtualIrq, vtr: IchVtr) -> u64 {
    let priority = u64::from(irq.priority & vtr.priority_mask());
    let value = (state_bits(irq.state) << field::STATE_SHIFT)
        | field::GROUP1
        | (priority << field::PRIORITY_SHIFT)
        | u64::from(irq.intid);
    match irq.hw_intid {
        Some(pintid) => value | field::HW | (u64::from(pintid) << field::PINTID_SHIFT),
        None if irq.notify_eoi => value | field::EOI,
        None => value,
    }
}

/// The virtual interrupt list register `value` holds.
#[must_use]
pub const fn decode_lr(value: u64) -> VirtualIrq {
    let hw = value & field::HW != 0;
    VirtualIrq {
        intid: (value & field::VINTID_MASK) as u32,
        priority: (value >> field::PRIORITY_SHIFT) as u8,
        state: lr_state(value),
        hw_intid: if hw {
            Some(((value >> field::PINTID_SHIFT) & field::PINTID_MASK) as u32)
        } else {
            None
        },
        notify_eoi: !hw && value & field::EOI != 0,
    }
}

/// The physical INTID a list register links to, if it does.
#[must_use]
pub const fn linked_intid(value: u64) -> Option<u32> {
    if value & field::HW == 0 {
        None
    } else {
        Some(((value >> field::PINTID_SHIFT) & field::PINTID_MASK) as u32)
    }
}

/// `value` without its physical link, asking for EOI maintenance instead: what a
/// linked interrupt becomes once the hypervisor deactivated the physical one itself.
#[must_use]
pub const fn unlink(value: u64) -> u64 {
    (value & !(field::HW | (field::PINTID_MASK << field::PINTID_SHIFT))) | field::EOI
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const A72: IchVtr = IchVtr(0x90b8_0003);

    fn timer(state: VirqState) -> VirtualIrq {
        VirtualIrq {
            intid: 27,
            priority: 0xa0,
            state,
            hw_intid: Some(27),
            notify_eoi: false,
        }
    }

    #[test]
    fn the_virtual_timer_is_a_linked_group_1_interrupt() {
        let value = encode_lr(&timer(VirqState::Pending), A72).unwrap();
        // State 01, HW, Group 1, priority 0xa0, pINTID 27, vINTID 27.
        assert_eq!(value, 0x70a0_001b_0000_001b);
        assert_eq!(decode_lr(value), timer(VirqState::Pending));
        assert_eq!(linked_intid(value), Some(27));
        // The probe's software LR (linux-guests.md §2.1): pending, Group 1, 0xa0, 27.
        let software = VirtualIrq {
            hw_intid: None,
            ..timer(VirqState::Pending)
        };
        assert_eq!(encode_lr(&software, A72).unwrap(), 0x50a0_0000_0000_001b);
    }

    #[test]
    fn states_decode_from_the_top_two_bits() {
        assert_eq!(lr_state(0), VirqState::Inactive);
        assert_eq!(lr_state(0x4000_0000_0000_001b), VirqState::Pending);
        assert_eq!(lr_state(0x8000_0000_0000_001b), VirqState::Active);
        assert_eq!(lr_state(0xc000_0000_0000_001b), VirqState::PendingActive);
        // What the guest's acknowledgement and EOI leave (linux-guests.md §2.1).
        assert_eq!(lr_state(0x10a0_0000_0000_001b), VirqState::Inactive);
    }

    #[test]
    fn priorities_keep_only_the_implemented_bits() {
        let irq = VirtualIrq {
            intid: 40,
            priority: 0xa7,
            state: VirqState::Pending,
            ..VirtualIrq::default()
        };
        let value = encode_lr(&irq, A72).unwrap();
        assert_eq!(decode_lr(value).priority, 0xa0);
        assert_eq!(
            decode_lr(encode_lr(&irq, IchVtr(0xe000_0003)).unwrap()).priority,
            0xa7
        );
    }

    #[test]
    fn unusable_interrupts_are_refused() {
        let bad = |irq: VirtualIrq| encode_lr(&irq, A72) == Err(AxVmError::InvalidInput);
        let pending = |intid| VirtualIrq {
            intid,
            state: VirqState::Pending,
            ..VirtualIrq::default()
        };
        assert!(bad(pending(1020)));
        assert!(bad(pending(1023)));
        assert!(bad(pending(4096)));
        assert!(bad(pending(1 << 24)));
        assert!(encode_lr(&pending(8192), A72).is_ok());
        assert!(encode_lr(&pending(1 << 16), IchVtr(0x9038_0003)).is_err());
        // Linked to an SGI, to a special INTID, with EOI notification, or pending and
        // active.
        assert!(bad(VirtualIrq {
            hw_intid: Some(3),
            ..timer(VirqState::Pending)
        }));
        assert!(bad(VirtualIrq {
            hw_intid: Some(1020),
            ..timer(VirqState::Pending)
        }));
        assert!(bad(VirtualIrq {
            notify_eoi: true,
            ..timer(VirqState::Pending)
        }));
        assert!(bad(timer(VirqState::PendingActive)));
        assert!(encode_lr(&timer(VirqState::Active), A72).is_ok());
    }

    #[test]
    fn unlinking_asks_for_eoi_maintenance_instead() {
        let value = encode_lr(&timer(VirqState::Active), A72).unwrap();
        let unlinked = decode_lr(unlink(value));
        assert_eq!(
            unlinked,
            VirtualIrq {
                hw_intid: None,
                notify_eoi: true,
                ..timer(VirqState::Active)
            }
        );
        assert_eq!(linked_intid(unlink(value)), None);
    }

    fn state() -> impl Strategy<Value = VirqState> {
        prop_oneof![
            Just(VirqState::Inactive),
            Just(VirqState::Pending),
            Just(VirqState::Active),
            Just(VirqState::PendingActive),
        ]
    }

    fn irq() -> impl Strategy<Value = VirtualIrq> {
        let intid = prop_oneof![0u32..1020, 8192u32..(1 << 24)];
        let link = prop_oneof![Just(None), (16u32..1020).prop_map(Some)];
        (intid, any::<u8>(), state(), link, any::<bool>()).prop_map(
            |(intid, priority, state, hw_intid, notify_eoi)| {
                // Only the combinations a list register can hold.
                let linked = hw_intid.is_some();
                VirtualIrq {
                    intid,
                    priority: priority & A72.priority_mask(),
                    state: if linked && state == VirqState::PendingActive {
                        VirqState::Active
                    } else {
                        state
                    },
                    hw_intid,
                    notify_eoi: notify_eoi && !linked,
                }
            },
        )
    }

    proptest! {
        #[test]
        fn every_valid_interrupt_round_trips(irq in irq()) {
            let value = encode_lr(&irq, A72).unwrap();
            prop_assert_eq!(decode_lr(value), irq);
            prop_assert_eq!(lr_state(value), irq.state);
            prop_assert_eq!(linked_intid(value), irq.hw_intid);
            prop_assert!(value & field::GROUP1 != 0);
        }

        #[test]
        fn decoding_any_value_is_total_and_re_encodes_its_state(value in any::<u64>()) {
            let irq = decode_lr(value);
            prop_assert_eq!(irq.state, lr_state(value));
            prop_assert!(!(irq.notify_eoi && irq.hw_intid.is_some()));
        }

        #[test]
        fn encoding_never_panics(
            intid in any::<u32>(),
            priority in any::<u8>(),
            state in state(),
            link in proptest::option::of(any::<u32>()),
            notify_eoi in any::<bool>(),
        ) {
            let irq = VirtualIrq { intid, priority, state, hw_intid: link, notify_eoi };
            if let Ok(value) = encode_lr(&irq, A72) {
                prop_assert_eq!(decode_lr(value).intid, intid);
            }
        }
    }
}
