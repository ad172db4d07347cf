//! `cargo xtask test`: every check CI runs, with a summary table at the end.

use std::{
    path::{Path, PathBuf},
    process::{Command, ExitCode},
    time::{Duration, Instant},
};

use crate::{
    arch::{self, Arch},
    steps::{Outcome, Steps},
    toolchain, workspace,
};

/// The workspace root (the parent of this crate).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `cargo` with the given arguments, run from the workspace root.
fn cargo(args: &[&str]) -> Command {
    let program = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(program);
    command.args(args).current_dir(root());
    command
}

pub fn run(archs: &[Arch]) -> ExitCode {
    let mut steps = Steps::default();
    let targets: Vec<&str> = archs.iter().map(|arch| arch::target(*arch)).collect();

    let start = Instant::now();
    match toolchain::ensure(&targets) {
        Ok(()) => steps.record("toolchain", Outcome::Passed, start.elapsed()),
        Err(why) => {
            eprintln!("xtask: {why}");
            steps.record("toolchain", Outcome::Failed(why), start.elapsed());
        }
    }

    steps.command("fmt", &mut cargo(&["fmt", "--all", "--check"]));
    steps.command(
        "clippy host",
        &mut cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]),
    );
    match workspace::bare_metal_packages() {
        Ok(packages) => {
            for arch in archs {
                let mut args = vec!["clippy"];
                for package in &packages {
                    args.extend(["-p", package.as_str()]);
                }
                args.extend(["--target", arch::target(*arch), "--", "-D", "warnings"]);
                steps.command(format!("clippy {}", arch::target(*arch)), &mut cargo(&args));
            }
        }
        Err(why) => steps.record("clippy bare-metal", Outcome::Failed(why), Duration::ZERO),
    }
    steps.command(
        "host tests",
        &mut cargo(&["test", "--workspace", "--all-features"]),
    );
    let mut doc = cargo(&["doc", "--workspace", "--no-deps", "--all-features"]);
    doc.env("RUSTDOCFLAGS", "-D warnings");
    steps.command("docs", &mut doc);
    steps.command(
        "package",
        &mut cargo(&[
            "package",
            "--workspace",
            "--exclude",
            "xtask",
            "--allow-dirty",
        ]),
    );

    for arch in archs {
        let issue = match arch {
            Arch::Aarch64 => 5,
            Arch::Riscv64 => 6,
            Arch::X86_64 => 7,
        };
        let why = format!("system tests under emulators are not there yet (issue {issue})");
        steps.record(
            format!("system tests {arch}"),
            Outcome::Skipped(why),
            Duration::ZERO,
        );
    }

    println!("\n{}", steps.table());
    if steps.all_passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
