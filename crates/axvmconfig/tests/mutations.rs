//! Property: no mutation of a valid config makes the checker panic, and whatever it
//! accepts survives the normalised round trip and re-validates.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::expect_used
)]

use axvmconfig::{Arch, AxVMCrateConfig, check, template};
use proptest::prelude::*;

/// Valid starting points: the three templates.
fn seeds() -> Vec<&'static str> {
    Arch::ALL.into_iter().map(template).collect()
}

/// Fragments that make mutations likely to stay near-valid TOML.
const TOKENS: &[&str] = &[
    "0",
    "1",
    "-1",
    "0x1000",
    "0xffff_ffff",
    "9223372036854775807",
    "\"\"",
    "\"x\"",
    "[",
    "]",
    ",",
    "=",
    "\n",
    "[]",
    "[[0, 0x1000, 7, 0]]",
    "true",
    "1.5",
    "{}",
    "#",
    "é",
    "\"\\u0000\"",
    "[base]",
    "[kernel]",
    "[devices]",
    "cpu_num = 64",
    "emu_type",
    "0x3f8",
    "0x10000",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, token: usize },
    Replace { at: usize, len: usize, token: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..12).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), any::<usize>()).prop_map(|(at, token)| Mutation::Insert { at, token }),
        (any::<usize>(), 1usize..6, any::<usize>())
            .prop_map(|(at, len, token)| Mutation::Replace { at, len, token }),
    ]
}

/// The nearest character boundary at or before `at`.
fn boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &mut String, mutation: &Mutation) {
    match *mutation {
        Mutation::Delete { at, len } => {
            let start = boundary(text, at);
            let end = boundary(text, start.saturating_add(len).min(text.len()));
            text.replace_range(start..end, "");
        }
        Mutation::Insert { at, token } => {
            let at = boundary(text, at);
            text.insert_str(at, TOKENS[token % TOKENS.len()]);
        }
        Mutation::Replace { at, len, token } => {
            let start = boundary(text, at);
            let end = boundary(text, start.saturating_add(len).min(text.len()));
            text.replace_range(start..end, TOKENS[token % TOKENS.len()]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_configs_never_panic(
        seed in 0usize..3,
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut text = seeds()[seed].to_owned();
        for m in &mutations {
            apply(&mut text, m);
        }
        let report = check(&text);
        for error in &report.errors {
            // Every error of a parsed file is located.
            prop_assert!(error.location.is_some(), "{error}");
            let _ = axvmconfig::render_diagnostic("f", &text, axvmconfig::Severity::Error, error);
        }
        if let Some(config) = report.config {
            prop_assert!(report.errors.is_empty());
            let normalised = config.to_toml();
            let again = AxVMCrateConfig::from_toml(&normalised);
            prop_assert_eq!(again.as_ref(), Ok(&config), "{}", normalised);
            prop_assert!(config.validate().is_ok());
        }
    }

    #[test]
    fn any_numbers_in_a_valid_config_never_panic(values in prop::collection::vec(any::<i64>(), 32)) {
        // Replace every integer literal of a template, one by one, with a random value.
        let source = template(Arch::X86_64);
        let mut out = String::new();
        let mut values = values.into_iter().cycle();
        for line in source.lines() {
            match line.split_once(" = ") {
                Some((key, value)) if value.starts_with("0x") || value.parse::<i64>().is_ok() => {
                    out.push_str(&format!("{key} = {}\n", values.next().unwrap()));
                }
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        let report = check(&out);
        prop_assert!(report.config.is_some() || !report.errors.is_empty());
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        let _ = check(&text);
    }
}
