//! The PLIC register map (RISC-V PLIC specification 1.0.0) and the decoding of an
//! offset in it.

/// Source priorities: one 32-bit register per source from 0x0 (source 0's is reserved).
pub(super) const PRIORITY: usize = 0x0;
/// Pending bits: 32 sources per word, read-only.
pub(super) const PENDING: usize = 0x1000;
/// Enable bits: 32 sources per word, 0x80 bytes per context.
pub(super) const ENABLE: usize = 0x2000;
pub(super) const ENABLE_STRIDE: usize = 0x80;
/// Per-context page: threshold at +0, claim/complete at +4.
pub(super) const CONTEXT_BASE: usize = 0x20_0000;
pub(super) const CONTEXT_STRIDE: usize = 0x1000;
const CLAIM: usize = 4;
/// The whole register map.
pub(super) const MAX_WINDOW: usize = 0x400_0000;

/// Sources 1-1023; with source 0 they fill 32 words.
pub(super) const MAX_SOURCES: u32 = 1023;
pub(super) const WORD_BITS: usize = 32;
/// Priorities and thresholds keep 3 bits (WARL): levels 1-7, 0 = never interrupts.
pub(super) const PRIORITY_MAX: u32 = 7;

/// A decoded 32-bit access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PlicReg {
    /// The priority of a source (any number below 1024; the state ignores those it lacks).
    Priority(u32),
    /// Pending word `n` (sources 32n to 32n + 31).
    Pending(usize),
    /// Enable word `word` of context `context`.
    Enable { context: usize, word: usize },
    /// The priority threshold of a context.
    Threshold(usize),
    /// The claim (read) / complete (write) register of a context.
    Claim(usize),
    /// No register: reads 0, writes are ignored.
    Reserved,
}

/// The words of the pending and enable bit arrays.
const BIT_WORDS: usize = 32;

/// Decodes the 32-bit-aligned `offset` of a PLIC with `contexts` contexts.
pub(super) fn decode(offset: usize, contexts: usize) -> PlicReg {
    let word = |base: usize| offset.saturating_sub(base) / 4;
    if offset < PENDING {
        return u32::try_from(word(PRIORITY)).map_or(PlicReg::Reserved, PlicReg::Priority);
    }
    if offset < ENABLE {
        let index = word(PENDING);
        return if index < BIT_WORDS {
            PlicReg::Pending(index)
        } else {
            PlicReg::Reserved
        };
    }
    if offset < CONTEXT_BASE {
        let rel = offset.saturating_sub(ENABLE);
        let (context, word) = (rel / ENABLE_STRIDE, (rel % ENABLE_STRIDE) / 4);
        return if context < contexts && word < BIT_WORDS {
            PlicReg::Enable { context, word }
        } else {
            PlicReg::Reserved
        };
    }
    let rel = offset.saturating_sub(CONTEXT_BASE);
    let context = rel / CONTEXT_STRIDE;
    if context >= contexts {
        return PlicReg::Reserved;
    }
    match rel % CONTEXT_STRIDE {
        0 => PlicReg::Threshold(context),
        CLAIM => PlicReg::Claim(context),
        _ => PlicReg::Reserved,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_area_decodes() {
        assert_eq!(decode(0x0, 2), PlicReg::Priority(0));
        assert_eq!(decode(0x28, 2), PlicReg::Priority(10));
        assert_eq!(decode(0xffc, 2), PlicReg::Priority(1023));
        assert_eq!(decode(0x1000, 2), PlicReg::Pending(0));
        assert_eq!(decode(0x107c, 2), PlicReg::Pending(31));
        assert_eq!(decode(0x1080, 2), PlicReg::Reserved);
        assert_eq!(decode(0x1ffc, 2), PlicReg::Reserved);
        assert_eq!(
            decode(0x2000, 2),
            PlicReg::Enable {
                context: 0,
                word: 0
            }
        );
        assert_eq!(
            decode(0x20fc, 2),
            PlicReg::Enable {
                context: 1,
                word: 31
            }
        );
        assert_eq!(decode(0x2100, 2), PlicReg::Reserved, "no context 2");
        assert_eq!(decode(0x1f_fffc, 2), PlicReg::Reserved);
        assert_eq!(decode(0x20_0000, 2), PlicReg::Threshold(0));
        assert_eq!(decode(0x20_0004, 2), PlicReg::Claim(0));
        assert_eq!(decode(0x20_0008, 2), PlicReg::Reserved);
        assert_eq!(decode(0x20_1000, 2), PlicReg::Threshold(1));
        assert_eq!(decode(0x20_1004, 2), PlicReg::Claim(1));
        assert_eq!(decode(0x20_2000, 2), PlicReg::Reserved, "no context 2");
        assert_eq!(decode(0x3ff_fffc, 2), PlicReg::Reserved);
        assert_eq!(decode(usize::MAX & !3, 2), PlicReg::Reserved);
    }
}
