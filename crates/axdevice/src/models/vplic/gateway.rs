//! The sources: their priorities and the gateways that turn device lines into pending
//! bits.
//!
//! The gateway rule (PLIC specification, "Interrupt Gateways"): a source is pending
//! while its line is asserted or an edge latched, unless it is claimed. A claim consumes
//! the edge latch and holds the source until its completion, so it is never signalled
//! twice at once; a line still asserted at the completion makes it pending again, and
//! edges that came meanwhile collapse into one.

use alloc::{vec, vec::Vec};

use super::regs::{PRIORITY_MAX, WORD_BITS};

/// The word and bit of source `id` in a bit array.
pub(super) fn locate(id: u32) -> (usize, u32) {
    let id = usize::try_from(id).unwrap_or(usize::MAX);
    (id / WORD_BITS, u32::try_from(id % WORD_BITS).unwrap_or(0))
}

/// Bit `bit` of a word.
pub(super) fn bit_mask(bit: u32) -> u32 {
    1u32.checked_shl(bit).unwrap_or(0)
}

/// Every source's state, in bit arrays of one bit per source (bit 0 of word 0 is
/// source 0, which never has a bit set).
#[derive(Debug, Clone)]
pub(super) struct Sources {
    /// The highest source number.
    count: u32,
    /// Priority of source `id` at index `id`.
    priority: Vec<u8>,
    /// Lines asserted.
    level: Vec<u32>,
    /// Edges latched, not yet claimed.
    edge: Vec<u32>,
    /// Claimed and not yet completed.
    claimed: Vec<u32>,
    /// The bits of sources 1 to `count`.
    valid: Vec<u32>,
}

impl Sources {
    /// Sources 1 to `count`, all at priority 0 (never interrupt), lines low.
    pub(super) fn new(count: u32) -> Self {
        let ids = usize::try_from(count).unwrap_or(0).saturating_add(1);
        let words = ids.div_ceil(WORD_BITS);
        let mut valid = vec![0u32; words];
        for id in 1..=count {
            let (word, bit) = locate(id);
            if let Some(word) = valid.get_mut(word) {
                *word |= bit_mask(bit);
            }
        }
        Self {
            count,
            priority: vec![0; ids],
            level: vec![0; words],
            edge: vec![0; words],
            claimed: vec![0; words],
            valid,
        }
    }

    /// The highest source number.
    pub(super) const fn count(&self) -> u32 {
        self.count
    }

    /// The number of words of the bit arrays.
    pub(super) fn words(&self) -> usize {
        self.valid.len()
    }

    /// Whether source `id` exists.
    pub(super) fn exists(&self, id: u32) -> bool {
        (1..=self.count).contains(&id)
    }

    /// The bits of existing sources in word `word` (0 past the last).
    pub(super) fn valid(&self, word: usize) -> u32 {
        self.valid.get(word).copied().unwrap_or(0)
    }

    /// The priority of source `id` (0 for one that does not exist).
    pub(super) fn priority(&self, id: u32) -> u8 {
        usize::try_from(id)
            .ok()
            .and_then(|index| self.priority.get(index))
            .copied()
            .unwrap_or(0)
    }

    /// Sets the priority of source `id`, keeping the implemented bits (WARL); returns
    /// whether it changed. Sources that do not exist keep 0.
    pub(super) fn set_priority(&mut self, id: u32, value: u32) -> bool {
        if !self.exists(id) {
            return false;
        }
        let value = u8::try_from(value & PRIORITY_MAX).unwrap_or(0);
        let Some(slot) = usize::try_from(id)
            .ok()
            .and_then(|index| self.priority.get_mut(index))
        else {
            return false;
        };
        let changed = *slot != value;
        *slot = value;
        changed
    }

    /// The pending bits of word `word`: line asserted or edge latched, not claimed.
    pub(super) fn pending(&self, word: usize) -> u32 {
        let get = |bits: &[u32]| bits.get(word).copied().unwrap_or(0);
        (get(&self.level) | get(&self.edge)) & !get(&self.claimed)
    }

    /// Whether source `id` is claimed and not completed.
    pub(super) fn is_claimed(&self, id: u32) -> bool {
        test(&self.claimed, id)
    }

    /// Whether source `id`'s line is asserted.
    #[cfg(test)]
    pub(super) fn is_asserted(&self, id: u32) -> bool {
        test(&self.level, id)
    }

    /// Drives the line of source `id`; returns whether the pending bit changed.
    pub(super) fn set_level(&mut self, id: u32, asserted: bool) -> bool {
        self.change(id, |sources, word, mask| {
            let level = sources.level.get_mut(word)?;
            if asserted {
                *level |= mask;
            } else {
                *level &= !mask;
            }
            Some(())
        })
    }

    /// Latches an edge on source `id`; returns whether the pending bit changed.
    pub(super) fn latch_edge(&mut self, id: u32) -> bool {
        self.change(id, |sources, word, mask| {
            *sources.edge.get_mut(word)? |= mask;
            Some(())
        })
    }

    /// Claims pending source `id`: it stops being pending and its edge latch is
    /// consumed. Returns whether it was pending (and is now claimed).
    pub(super) fn claim(&mut self, id: u32) -> bool {
        let (word, bit) = locate(id);
        let mask = bit_mask(bit);
        if !self.exists(id) || self.pending(word) & mask == 0 {
            return false;
        }
        if let (Some(claimed), Some(edge)) = (self.claimed.get_mut(word), self.edge.get_mut(word)) {
            *claimed |= mask;
            *edge &= !mask;
        }
        true
    }

    /// Completes claimed source `id`; returns whether it was claimed. It is pending
    /// again at once if its line is still asserted or an edge came while it was claimed.
    pub(super) fn complete(&mut self, id: u32) -> bool {
        if !self.is_claimed(id) {
            return false;
        }
        let (word, bit) = locate(id);
        if let Some(claimed) = self.claimed.get_mut(word) {
            *claimed &= !bit_mask(bit);
        }
        true
    }

    /// Applies `change` to source `id`'s word and bit mask; returns whether its pending
    /// bit changed. Sources that do not exist are left alone.
    fn change(
        &mut self,
        id: u32,
        change: impl FnOnce(&mut Self, usize, u32) -> Option<()>,
    ) -> bool {
        if !self.exists(id) {
            return false;
        }
        let (word, bit) = locate(id);
        let mask = bit_mask(bit);
        let before = self.pending(word) & mask;
        if change(self, word, mask).is_none() {
            return false;
        }
        self.pending(word) & mask != before
    }
}

fn test(bits: &[u32], id: u32) -> bool {
    let (word, bit) = locate(id);
    bits.get(word).is_some_and(|bits| bits & bit_mask(bit) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(sources: &Sources, id: u32) -> bool {
        let (word, bit) = locate(id);
        sources.pending(word) & bit_mask(bit) != 0
    }

    #[test]
    fn shape_and_priorities() {
        let mut sources = Sources::new(95);
        assert_eq!(sources.words(), 3);
        assert_eq!(sources.valid(0), !1, "source 0 does not exist");
        assert_eq!(sources.valid(2), u32::MAX);
        assert_eq!(sources.valid(3), 0);
        assert!(sources.set_priority(95, 0xffff_fff5));
        assert_eq!(sources.priority(95), 5, "3 bits kept");
        assert!(!sources.set_priority(95, 5), "no change");
        assert!(!sources.set_priority(0, 1));
        assert!(!sources.set_priority(96, 1));
        assert_eq!(sources.priority(0), 0);
        assert_eq!(sources.priority(96), 0);
        let odd = Sources::new(33);
        assert_eq!(odd.valid(1), 0b11, "sources 32 and 33");
    }

    #[test]
    fn a_level_is_pending_while_high_and_not_claimed() {
        let mut sources = Sources::new(31);
        assert!(sources.set_level(3, true));
        assert!(pending(&sources, 3));
        assert!(!sources.set_level(3, true), "already high");
        assert!(sources.claim(3));
        assert!(!pending(&sources, 3) && sources.is_claimed(3));
        assert!(!sources.claim(3), "claimed already");
        assert!(sources.complete(3));
        assert!(pending(&sources, 3), "still high at the completion");
        assert!(sources.claim(3));
        assert!(!sources.set_level(3, false), "claimed: no pending change");
        assert!(sources.complete(3));
        assert!(!pending(&sources, 3) && !sources.is_asserted(3));
        assert!(!sources.complete(3), "not claimed");
        assert!(sources.set_level(3, true) && sources.set_level(3, false));
        assert!(
            !pending(&sources, 3),
            "a level that fell before the claim is gone"
        );
    }

    #[test]
    fn an_edge_latches_once_and_survives_its_line() {
        let mut sources = Sources::new(31);
        assert!(sources.latch_edge(7));
        assert!(!sources.latch_edge(7), "latched once");
        assert!(pending(&sources, 7));
        assert!(sources.claim(7));
        assert!(sources.complete(7));
        assert!(!pending(&sources, 7), "the claim consumed it");
        assert!(!sources.claim(7));
        sources.latch_edge(7);
        sources.claim(7);
        sources.latch_edge(7);
        sources.latch_edge(7);
        assert!(!pending(&sources, 7), "claimed");
        sources.complete(7);
        assert!(
            pending(&sources, 7),
            "edges while claimed collapse into one"
        );
        sources.claim(7);
        sources.complete(7);
        assert!(!pending(&sources, 7));
    }

    #[test]
    fn missing_sources_do_nothing() {
        let mut sources = Sources::new(31);
        for id in [0, 32, u32::MAX] {
            assert!(!sources.set_level(id, true));
            assert!(!sources.latch_edge(id));
            assert!(!sources.claim(id));
            assert!(!sources.complete(id));
        }
        assert_eq!(sources.pending(0), 0);
        assert_eq!(sources.pending(5), 0);
    }
}
