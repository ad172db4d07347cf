//! The vCPU's FP/SIMD registers, for checking that the hypervisor keeps each
//! vCPU's own: a pattern to load into them, the registers as they are now, and
//! the first difference between the two. The registers themselves are the
//! architecture's (`arch/fp/<arch>.rs`): aarch64 v0-v31 with FPCR and FPSR,
//! riscv64 f0-f31 with fcsr, x86_64 xmm0-xmm15 with MXCSR.
//!
//! No compiled code of the guests uses these registers (aarch64 and x86_64 are
//! built soft-float; the riscv64 programs compute no floating point), so what
//! [`FpRegs::load`] puts there stays until the vCPU loads something else, unless
//! the hypervisor loses it.

use core::fmt;

#[cfg_attr(target_arch = "aarch64", path = "arch/fp/aarch64.rs")]
#[cfg_attr(target_arch = "riscv64", path = "arch/fp/riscv64.rs")]
#[cfg_attr(target_arch = "x86_64", path = "arch/fp/x86_64.rs")]
mod imp;

pub use imp::enable;

/// The data registers as 64-bit words (lowest first), and the control and status
/// register(s) packed in one word.
#[repr(C, align(16))]
#[derive(Clone, PartialEq, Eq)]
pub struct FpRegs {
    data: [[u64; imp::WORDS]; imp::REGS],
    control: u64,
}

/// One register of [`FpRegs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FpReg {
    /// Data register `n`.
    Data(usize),
    /// The control and status register(s).
    Control,
}

impl fmt::Display for FpReg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Data(n) => write!(f, "{}{n}", imp::DATA_PREFIX),
            Self::Control => f.write_str(imp::CONTROL_NAME),
        }
    }
}

/// SplitMix64's finaliser: spreads every bit of `x` over the result.
const fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl FpRegs {
    /// The pattern of vCPU `vcpu` in a VM whose seed is `seed`: every word differs
    /// from every other vCPU's and VM's (with overwhelming likelihood).
    #[must_use]
    pub fn pattern(seed: u64, vcpu: u64) -> Self {
        let base = mix(seed ^ vcpu.rotate_left(48));
        let mut data = [[0; imp::WORDS]; imp::REGS];
        for (reg, words) in data.iter_mut().enumerate() {
            for (word, value) in words.iter_mut().enumerate() {
                *value = mix(base ^ ((reg * imp::WORDS + word) as u64 + 1));
            }
        }
        Self {
            data,
            control: imp::control_pattern(mix(base)),
        }
    }

    /// Loads these values into the registers (after [`enable`]).
    pub fn load(&self) {
        imp::load(&self.data, self.control);
    }

    /// The registers as they are now (after [`enable`]).
    #[must_use]
    pub fn save() -> Self {
        // Saved in place: the aarch64 stores need FpRegs's 16-byte alignment.
        let mut regs = Self {
            data: [[0; imp::WORDS]; imp::REGS],
            control: 0,
        };
        regs.control = imp::save(&mut regs.data);
        regs
    }

    /// The first register in which `other` differs from `self`.
    #[must_use]
    pub fn first_difference(&self, other: &Self) -> Option<FpReg> {
        self.data
            .iter()
            .zip(&other.data)
            .position(|(a, b)| a != b)
            .map(FpReg::Data)
            .or((self.control != other.control).then_some(FpReg::Control))
    }
}
