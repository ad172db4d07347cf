//! The `axvmconfig` command line: `check`, `show`, `template`.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::{
    fs,
    path::PathBuf,
    process::{Command, Output},
};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_axvmconfig"))
        .args(args)
        .output()
        .expect("the axvmconfig binary runs")
}

/// A file in a fresh temporary directory of this test binary.
fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("axvmconfig-cli-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    fs::write(&path, contents).unwrap();
    path
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_prints_located_errors_with_a_caret_and_fails() {
    let source = axvmconfig::template(axvmconfig::Arch::Riscv64)
        .replace("cpu_num = 1", "cpu_num = 0")
        .replace("interrupt_mode = \"no_irq\"", "interupt_mode = \"no_irq\"");
    let file = temp_file("broken.toml", &source);
    let name = file.display().to_string();
    let output = run(&["check", &name]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    let cpu_line = source.lines().position(|l| l == "cpu_num = 0").unwrap() + 1;
    let expected = format!(
        "{name}:{cpu_line}:11: error: base.cpu_num: 0 is out of range; expected 1..=64\n \
         {cpu_line} | cpu_num = 0\n    |           ^\n"
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(
        stderr.contains("error: devices.interupt_mode: unknown key `interupt_mode`; did you mean `interrupt_mode`?"),
        "{stderr}"
    );
}

#[test]
fn check_accepts_valid_files_with_warnings_and_succeeds() {
    let source = axvmconfig::template(axvmconfig::Arch::X86_64).replace(
        "enable_bios = false",
        "enable_bios = false\nbios_load_addr = 0x8000",
    );
    let good = temp_file("good.toml", axvmconfig::template(axvmconfig::Arch::Aarch64));
    let warned = temp_file("warned.toml", &source);
    let output = run(&["check", good.to_str().unwrap(), warned.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(": warning: kernel.bios_load_addr: ignored"),
        "{stderr}"
    );
    assert!(
        stderr.contains("good.toml: ok (0 errors, 0 warnings)"),
        "{stderr}"
    );
}

#[test]
fn check_fails_when_any_file_fails() {
    let good = temp_file(
        "good2.toml",
        axvmconfig::template(axvmconfig::Arch::Aarch64),
    );
    let bad = temp_file("bad.toml", "[base\n");
    let missing = "/nonexistent/vm.toml";
    let output = run(&[
        "check",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
        missing,
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("bad.toml:1:6: error: invalid TOML"),
        "{stderr}"
    );
    assert!(
        stderr.contains("/nonexistent/vm.toml: error: cannot read the file"),
        "{stderr}"
    );
}

#[test]
fn show_prints_the_normalised_config() {
    let file = temp_file("show.toml", axvmconfig::template(axvmconfig::Arch::Riscv64));
    let output = run(&["show", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("entry_point = 0x8020_0000\n"), "{stdout}");
    assert!(
        stdout.contains("[0x8000_0000, 0x800_0000, 0x7, 0], # alloc"),
        "{stdout}"
    );
    let reparsed = axvmconfig::AxVMCrateConfig::from_toml(&stdout).unwrap();
    let original =
        axvmconfig::AxVMCrateConfig::from_toml(axvmconfig::template(axvmconfig::Arch::Riscv64))
            .unwrap();
    assert_eq!(reparsed, original);
}

#[test]
fn template_output_passes_check() {
    for arch in ["x86_64", "aarch64", "riscv64"] {
        let output = run(&["template", "--arch", arch]);
        assert_eq!(output.status.code(), Some(0));
        let file = temp_file(&format!("template-{arch}.toml"), &text(&output.stdout));
        let checked = run(&["check", file.to_str().unwrap()]);
        assert_eq!(checked.status.code(), Some(0), "{}", text(&checked.stderr));
    }
    let output = run(&["template", "--arch", "mips"]);
    assert_ne!(output.status.code(), Some(0));
}

#[test]
fn every_kind_of_broken_config_fails_check_with_a_located_error() {
    let aarch64 = axvmconfig::template(axvmconfig::Arch::Aarch64);
    let x86 = axvmconfig::template(axvmconfig::Arch::X86_64);
    let cases: &[(&str, &str, &str, &str)] = &[
        ("syntax", aarch64, "cpu_num = 1", "cpu_num = = 1"),
        ("wrong type", aarch64, "cpu_num = 1", "cpu_num = \"one\""),
        (
            "unknown key",
            aarch64,
            "cpu_num = 1",
            "cpu_num = 1\ncpus = 1",
        ),
        ("out of range", aarch64, "cpu_num = 1", "cpu_num = 100"),
        (
            "phys_cpu_ids length",
            aarch64,
            "phys_cpu_ids = [0]",
            "phys_cpu_ids = [0, 1]",
        ),
        (
            "phys_cpu_sets length",
            x86,
            "phys_cpu_sets = [0x1]",
            "phys_cpu_sets = []",
        ),
        ("zero size", aarch64, "0x800_0000, 0x7, 0]", "0x0, 0x7, 0]"),
        (
            "unaligned size",
            aarch64,
            "0x800_0000, 0x7, 0]",
            "0x800_0001, 0x7, 0]",
        ),
        (
            "unknown map_type",
            aarch64,
            "0x800_0000, 0x7, 0]",
            "0x800_0000, 0x7, 9]",
        ),
        ("unknown emu_type", aarch64, "33, 0x2, []", "33, 0x77, []"),
        ("unknown vm_type", aarch64, "vm_type = 1", "vm_type = 5"),
        (
            "unknown mode",
            aarch64,
            "interrupt_mode = \"no_irq\"",
            "interrupt_mode = \"msi\"",
        ),
        (
            "entry outside RAM",
            aarch64,
            "entry_point = 0x4020_0000",
            "entry_point = 0x10",
        ),
        (
            "load outside RAM",
            aarch64,
            "kernel_load_addr = 0x4020_0000",
            "kernel_load_addr = 0x10",
        ),
        (
            "MMIO overlaps RAM",
            aarch64,
            "0x0900_0000, 0x1000",
            "0x4000_0000, 0x1000",
        ),
        (
            "MMIO overlaps MMIO",
            aarch64,
            "passthrough_addresses = []",
            "passthrough_addresses = [[0x0900_0000, 0x1000]]",
        ),
        (
            "port overlaps port",
            x86,
            "passthrough_ports = []",
            "passthrough_ports = [[0x3f8, 8]]",
        ),
    ];
    for (i, (kind, base, from, to)) in cases.iter().enumerate() {
        assert!(base.contains(from), "{kind}: `{from}` not in the template");
        let file = temp_file(&format!("kind-{i}.toml"), &base.replacen(from, to, 1));
        let name = file.display().to_string();
        let output = run(&["check", &name]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{kind}: {stderr}");
        let first = stderr.lines().next().unwrap_or_default();
        let location = first
            .strip_prefix(&format!("{name}:"))
            .and_then(|rest| rest.split_once(": error: "))
            .map(|(location, _)| location.to_owned())
            .unwrap_or_default();
        let parts: Vec<&str> = location.split(':').collect();
        assert!(
            parts.len() == 2 && parts.iter().all(|p| p.parse::<usize>().is_ok()),
            "{kind}: no FILE:LINE:COL in `{first}`"
        );
        assert!(
            stderr.lines().nth(2).is_some_and(|l| l.contains('^')),
            "{kind}: no caret\n{stderr}"
        );
    }
}
