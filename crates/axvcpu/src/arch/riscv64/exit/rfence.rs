//! SBI remote fences (the RFENCE extension's `remote_fence_i`,
//! `remote_sfence_vma`, `remote_sfence_vma_asid`, and the legacy calls 0x05–0x07).
//!
//! The harts a guest names are its vCPUs, which may be bound to any physical
//! harts, and a vCPU that is bound but not running keeps its translations in its
//! hart's TLB. The backend cannot see where the other vCPUs are, so unless the
//! guest names only itself it forwards the fence to the SBI firmware for *every*
//! physical hart: `remote_fence_i`, or `remote_hfence_vvma(_asid)`, which the
//! remote harts execute for the VMID in the calling hart's `hgatp` (the SBI
//! specification; OpenSBI reads it from `hgatp` at the call) — the guest's, since
//! the call is made while its vCPU is bound. Fencing more harts than named, and a
//! whole address space instead of a range, is always correct.

use axvm_types::MAX_VCPU_NUM;

use super::sbi;

/// What the guest asked the named harts to fence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FenceKind {
    /// `fence.i`: instruction fetches.
    Instruction,
    /// `sfence.vma` of a range of the guest's virtual addresses (`size` 0 or
    /// `u64::MAX`: all of them).
    Vma {
        /// First guest virtual address.
        start: u64,
        /// Length in bytes.
        size: u64,
    },
    /// `sfence.vma` of a range, for one guest ASID.
    VmaAsid {
        /// First guest virtual address.
        start: u64,
        /// Length in bytes.
        size: u64,
        /// The guest's address-space id.
        asid: u64,
    },
}

/// The harts a guest named (`hart_mask`, `hart_mask_base`), checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HartSet {
    /// Every hart (`hart_mask_base` = -1, or a legacy call: its mask is a pointer
    /// into guest memory, which the backend does not read).
    All,
    /// Hart `base + i` for every set bit `i` of `mask`; all of them below
    /// [`MAX_VCPU_NUM`].
    Mask {
        /// The first hart id of the mask.
        base: u64,
        /// One bit per hart.
        mask: u64,
    },
}

impl HartSet {
    /// Decodes the guest's `hart_mask` and `hart_mask_base`.
    ///
    /// # Errors
    ///
    /// `SBI_ERR_INVALID_PARAM` when a named hart id does not fit (overflows, or is
    /// not below [`MAX_VCPU_NUM`]), as the SBI specification requires for harts
    /// that do not exist.
    pub const fn decode(hart_mask: u64, hart_mask_base: u64) -> Result<Self, u64> {
        if hart_mask_base == u64::MAX {
            return Ok(Self::All);
        }
        if hart_mask != 0 {
            let highest = 63u64.saturating_sub(hart_mask.leading_zeros() as u64);
            match hart_mask_base.checked_add(highest) {
                Some(last) if last < MAX_VCPU_NUM as u64 => {}
                _ => return Err(sbi::ERR_INVALID_PARAM),
            }
        }
        Ok(Self::Mask {
            base: hart_mask_base,
            mask: hart_mask,
        })
    }

    /// No hart named: nothing to fence.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        matches!(self, Self::Mask { mask: 0, .. })
    }

    /// Whether `hart` is the only hart named.
    #[must_use]
    pub const fn is_only(self, hart: u64) -> bool {
        match self {
            Self::All => false,
            Self::Mask { base, mask } => match hart.checked_sub(base) {
                Some(bit) if bit < 64 => mask == 1 << bit,
                _ => false,
            },
        }
    }
}

/// A remote fence the guest asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteFence {
    /// What to fence.
    pub kind: FenceKind,
    /// Where (never empty: an empty set is answered without a fence).
    pub harts: HartSet,
}

/// An SBI call the backend makes to the firmware: `a7` = `eid`, `a6` = `fid`,
/// `a0`–`a4` = `args`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirmwareCall {
    /// Extension id.
    pub eid: u64,
    /// Function id.
    pub fid: u64,
    /// `a0`–`a4`.
    pub args: [u64; 5],
}

/// RFENCE function ids the backend calls in the firmware.
mod fid {
    pub const REMOTE_FENCE_I: u64 = 0;
    pub const REMOTE_HFENCE_VVMA_ASID: u64 = 5;
    pub const REMOTE_HFENCE_VVMA: u64 = 6;
}

impl RemoteFence {
    /// Whether the fence concerns only the calling vCPU, whose hart id is `own`
    /// (its vCPU id): the local fence is then enough (its stale entries on harts it
    /// ran on before are fenced when it is bound there again).
    #[must_use]
    pub const fn is_local(&self, own: u64) -> bool {
        self.harts.is_only(own)
    }

    /// The firmware call that performs the fence on every physical hart
    /// (`hart_mask` 0, `hart_mask_base` -1). A guest's `sfence.vma` is an
    /// `hfence.vvma` of its VMID seen from HS-mode.
    #[must_use]
    pub const fn firmware_call(&self) -> FirmwareCall {
        let (fid, start, size, asid) = match self.kind {
            FenceKind::Instruction => (fid::REMOTE_FENCE_I, 0, 0, 0),
            FenceKind::Vma { start, size } => (fid::REMOTE_HFENCE_VVMA, start, size, 0),
            FenceKind::VmaAsid { start, size, asid } => {
                (fid::REMOTE_HFENCE_VVMA_ASID, start, size, asid)
            }
        };
        FirmwareCall {
            eid: sbi::RFENCE,
            fid,
            args: [0, u64::MAX, start, size, asid],
        }
    }
}

/// Decodes SBI RFENCE function `fid` (0, 1 or 2) with arguments `a` (`a0`–`a4`).
///
/// # Errors
///
/// The SBI error for the guest (see [`HartSet::decode`]).
pub const fn decode_rfence(fid: u64, a: [u64; 5]) -> Result<Option<RemoteFence>, u64> {
    let harts = match HartSet::decode(a[0], a[1]) {
        Ok(harts) => harts,
        Err(error) => return Err(error),
    };
    if harts.is_empty() {
        return Ok(None);
    }
    let kind = match fid {
        0 => FenceKind::Instruction,
        1 => FenceKind::Vma {
            start: a[2],
            size: a[3],
        },
        _ => FenceKind::VmaAsid {
            start: a[2],
            size: a[3],
            asid: a[4],
        },
    };
    Ok(Some(RemoteFence { kind, harts }))
}

/// Decodes legacy call `eid` (0x05–0x07) with arguments `a` (`a0`–`a4`): every
/// hart, since its hart mask is a guest virtual address.
#[must_use]
pub const fn decode_legacy(eid: u64, a: [u64; 5]) -> RemoteFence {
    let kind = match eid {
        sbi::LEGACY_REMOTE_FENCE_I => FenceKind::Instruction,
        sbi::LEGACY_REMOTE_SFENCE_VMA => FenceKind::Vma {
            start: a[1],
            size: a[2],
        },
        _ => FenceKind::VmaAsid {
            start: a[1],
            size: a[2],
            asid: a[3],
        },
    };
    RemoteFence {
        kind,
        harts: HartSet::All,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hart_masks_decode_and_check_their_harts() {
        assert_eq!(HartSet::decode(0x5, u64::MAX), Ok(HartSet::All));
        assert_eq!(
            HartSet::decode(0b110, 2),
            Ok(HartSet::Mask {
                base: 2,
                mask: 0b110
            })
        );
        // Harts 61..=63 exist (MAX_VCPU_NUM = 64); hart 64 and wrapped ids do not.
        assert!(HartSet::decode(0b111, 61).is_ok());
        assert_eq!(HartSet::decode(0b1000, 61), Err(sbi::ERR_INVALID_PARAM));
        assert_eq!(HartSet::decode(1 << 63, 1), Err(sbi::ERR_INVALID_PARAM));
        assert_eq!(
            HartSet::decode(2, u64::MAX - 1),
            Err(sbi::ERR_INVALID_PARAM)
        );
        // An empty mask names nobody, whatever its base.
        assert!(HartSet::decode(0, u64::MAX - 1).unwrap().is_empty());
        assert!(!HartSet::All.is_empty());
    }

    #[test]
    fn only_a_fence_of_the_caller_alone_is_local() {
        let fence = |mask, base| RemoteFence {
            kind: FenceKind::Instruction,
            harts: HartSet::decode(mask, base).unwrap(),
        };
        assert!(fence(1, 3).is_local(3));
        assert!(fence(0b100, 1).is_local(3));
        assert!(!fence(0b11, 3).is_local(3), "another hart named");
        assert!(!fence(1, 2).is_local(3), "only another hart named");
        assert!(!fence(1, u64::MAX).is_local(3), "all harts");
        assert!(!fence(1, 4).is_local(3));
        assert!(!fence(1 << 63, 0).is_local(u64::MAX));
    }

    #[test]
    fn firmware_calls_fence_every_hart_for_the_callers_vmid() {
        let named = HartSet::Mask {
            base: 0,
            mask: 0b10,
        };
        let call = |kind| RemoteFence { kind, harts: named }.firmware_call();
        assert_eq!(
            call(FenceKind::Instruction),
            FirmwareCall {
                eid: sbi::RFENCE,
                fid: 0,
                args: [0, u64::MAX, 0, 0, 0]
            }
        );
        let vma = call(FenceKind::Vma {
            start: 0x4000,
            size: 0x2000,
        });
        assert_eq!((vma.fid, vma.args), (6, [0, u64::MAX, 0x4000, 0x2000, 0]));
        let asid = call(FenceKind::VmaAsid {
            start: 0,
            size: u64::MAX,
            asid: 7,
        });
        assert_eq!((asid.fid, asid.args), (5, [0, u64::MAX, 0, u64::MAX, 7]));
    }

    #[test]
    fn rfence_and_legacy_calls_decode() {
        assert_eq!(
            decode_rfence(2, [0b1, 1, 0x1000, 0x1000, 9]),
            Ok(Some(RemoteFence {
                kind: FenceKind::VmaAsid {
                    start: 0x1000,
                    size: 0x1000,
                    asid: 9
                },
                harts: HartSet::Mask { base: 1, mask: 1 },
            }))
        );
        assert_eq!(decode_rfence(1, [0, 0, 0, 0, 0]), Ok(None));
        assert_eq!(
            decode_rfence(0, [1, 64, 0, 0, 0]),
            Err(sbi::ERR_INVALID_PARAM)
        );
        assert_eq!(
            decode_legacy(
                sbi::LEGACY_REMOTE_SFENCE_VMA,
                [0x8000, 0x1000, 0x3000, 0, 0]
            ),
            RemoteFence {
                kind: FenceKind::Vma {
                    start: 0x1000,
                    size: 0x3000
                },
                harts: HartSet::All,
            }
        );
        assert_eq!(
            decode_legacy(sbi::LEGACY_REMOTE_FENCE_I, [0; 5]).kind,
            FenceKind::Instruction
        );
    }
}
