//! Parse + validate of a config with 2,000 overlapping RAM regions, one per line:
//! one warning per region, each located from one index of the file's lines.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

const REGIONS: usize = 2_000;

fn overlapping_regions(c: &mut Criterion) {
    let regions = vec!["    [0x4000_0000, 0x1000_0000, 0x7, 0],"; REGIONS].join("\n");
    let source = format!(
        "[base]\nid = 0\nname = \"many\"\ncpu_num = 1\n\n[kernel]\nentry_point = 0x4000_0000\n\
         kernel_path = \"k.bin\"\nkernel_load_addr = 0x4000_0000\nmemory_regions = [\n{regions}\n]\n"
    );
    let report = axvmconfig::check(&source);
    assert!(report.errors.is_empty());
    assert_eq!(report.warnings.len(), REGIONS - 1);
    c.bench_function("2,000 overlapping regions: parse+validate", |b| {
        b.iter(|| axvmconfig::check(black_box(&source)))
    });
}

criterion_group!(benches, overlapping_regions);
criterion_main!(benches);
