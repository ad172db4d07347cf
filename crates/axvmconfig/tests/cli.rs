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
