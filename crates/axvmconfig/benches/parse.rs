//! Parse + validate of a typical VM config (about 400 bytes).

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

/// A typical config: every table, a RAM region, a console and a pass-through device.
const TYPICAL: &str = r#"[base]
id = 1
name = "linux-qemu"
vm_type = 1
cpu_num = 1
phys_cpu_ids = [0]

[kernel]
entry_point = 0x8020_0000
image_location = "memory"
kernel_path = "linux.bin"
kernel_load_addr = 0x8020_0000
dtb_load_addr = 0x8000_0000
memory_regions = [
  [0x8000_0000, 0x1000_0000, 0x7, 1],
]

[devices]
interrupt_mode = "passthrough"
emu_devices = [["uart0", 0x0900_0000, 0x1000, 33, 0x2, []]]
passthrough_devices = [["/"]]
"#;

fn parse_and_validate(c: &mut Criterion) {
    assert!((380..=440).contains(&TYPICAL.len()), "{}", TYPICAL.len());
    assert!(axvmconfig::check(TYPICAL).errors.is_empty());
    let mut group = c.benchmark_group("typical config");
    group.bench_function("parse+validate (axvmconfig)", |b| {
        b.iter(|| axvmconfig::AxVMCrateConfig::from_toml(black_box(TYPICAL)).unwrap())
    });
    // Baseline in the same run: toml's own parse into its span-preserving tree,
    // which axvmconfig builds on; the difference is the cost of reading and checking.
    group.bench_function("toml DeTable parse only (baseline)", |b| {
        b.iter(|| toml::de::DeTable::parse(black_box(TYPICAL)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, parse_and_validate);
criterion_main!(benches);
