//! "Did you mean" suggestions for misspelt keys.

use crate::KeyHint;

/// Every table of a config with its keys, for suggestions across tables.
pub(crate) const TABLES: &[(&str, &[&str])] = &[
    ("base", crate::parse::BASE_KEYS),
    ("kernel", crate::parse::KERNEL_KEYS),
    ("devices", crate::parse::DEVICES_KEYS),
];

/// The hint for `key`, unknown in `table` whose keys are `valid`.
pub(crate) fn key_hint(key: &str, table: &str, valid: &'static [&'static str]) -> KeyHint {
    if let Some(close) = closest(key, valid) {
        return KeyHint::DidYouMean(close);
    }
    let home = TABLES
        .iter()
        .find(|(name, keys)| *name != table && keys.contains(&key));
    match home {
        Some((name, _)) => KeyHint::OtherTable { table: name },
        None => KeyHint::ValidKeys(valid),
    }
}

/// The candidate closest to `word`, if it is close enough to be a likely typo: at most
/// one edit for short words, up to a third of the word's length for longer ones.
fn closest(word: &str, candidates: &'static [&'static str]) -> Option<&'static str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|candidate| (edit_distance(word, candidate), *candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance with adjacent transpositions counted as one edit (optimal
/// string alignment), over characters. Keys are short, so the O(n·m) table is tiny.
fn edit_distance(a: &str, b: &str) -> usize {
    use alloc::vec::Vec;

    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Rows i-2, i-1 and i of the dynamic-programming table.
    let mut two_back: Vec<usize> = Vec::new();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = Vec::with_capacity(prev.len());
    for (i, ca) in a.iter().enumerate() {
        cur.clear();
        cur.push(i.saturating_add(1));
        for (j, cb) in b.iter().enumerate() {
            let replace = prev
                .get(j)
                .map_or(usize::MAX, |d| d.saturating_add(usize::from(ca != cb)));
            let delete = prev
                .get(j.saturating_add(1))
                .map_or(usize::MAX, |d| d.saturating_add(1));
            let insert = cur.get(j).map_or(usize::MAX, |d| d.saturating_add(1));
            let mut best = replace.min(delete).min(insert);
            let transposed = i > 0
                && j > 0
                && a.get(i.wrapping_sub(1)) == Some(cb)
                && b.get(j.wrapping_sub(1)) == Some(ca);
            if let (true, Some(d)) = (transposed, two_back.get(j.wrapping_sub(1))) {
                best = best.min(d.saturating_add(1));
            }
            cur.push(best);
        }
        two_back = core::mem::replace(&mut prev, core::mem::take(&mut cur));
    }
    prev.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_typos() {
        assert_eq!(edit_distance("cpu_num", "cpu_num"), 0);
        assert_eq!(edit_distance("cpu_nmu", "cpu_num"), 1);
        assert_eq!(edit_distance("cpunum", "cpu_num"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn hints_prefer_a_close_key_then_another_table() {
        let base = crate::parse::BASE_KEYS;
        assert_eq!(
            key_hint("cpu_nmu", "base", base),
            KeyHint::DidYouMean("cpu_num")
        );
        assert_eq!(
            key_hint("entry_point", "base", base),
            KeyHint::OtherTable { table: "kernel" }
        );
        assert_eq!(key_hint("zzzzzz", "base", base), KeyHint::ValidKeys(base));
    }
}
