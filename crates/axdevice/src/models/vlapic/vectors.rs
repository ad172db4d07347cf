//! A 256-bit vector set, as the local APIC's IRR, ISR and TMR are: eight 32-bit
//! registers, vector `v` at bit `v % 32` of register `v / 32`.

/// 256 bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Vectors(pub(super) [u32; 8]);

impl Vectors {
    pub(super) fn set(&mut self, vector: u8, on: bool) {
        if let Some(word) = self.0.get_mut(usize::from(vector / 32)) {
            let bit = 1u32 << (vector % 32);
            if on {
                *word |= bit;
            } else {
                *word &= !bit;
            }
        }
    }

    pub(super) fn contains(&self, vector: u8) -> bool {
        self.0
            .get(usize::from(vector / 32))
            .is_some_and(|word| word & (1 << (vector % 32)) != 0)
    }

    /// The highest vector in the set.
    pub(super) fn highest(&self) -> Option<u8> {
        (0u8..8).rev().find_map(|index| {
            let word = *self.0.get(usize::from(index))?;
            let top = 31u32.checked_sub(word.leading_zeros())?;
            // index <= 7 and top <= 31: at most 255.
            u8::try_from(u32::from(index).wrapping_mul(32).wrapping_add(top)).ok()
        })
    }

    /// Register `index` (0-7).
    pub(super) fn word(&self, index: usize) -> u32 {
        self.0.get(index).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_vector_wins() {
        let mut set = Vectors::default();
        assert_eq!(set.highest(), None);
        set.set(0x31, true);
        set.set(0xec, true);
        set.set(0x20, true);
        assert_eq!(set.highest(), Some(0xec));
        assert!(set.contains(0x31) && !set.contains(0x32));
        assert_eq!(set.word(1), 1 << 17 | 1);
        set.set(0xec, false);
        assert_eq!(set.highest(), Some(0x31));
        set.set(0xff, true);
        assert_eq!(set.highest(), Some(0xff));
        assert_eq!(set.word(9), 0);
    }
}
