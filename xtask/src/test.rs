//! `cargo xtask test`: every check CI runs, with a summary table at the end.

use std::{
    process::{Command, ExitCode},
    time::{Duration, Instant},
};

use crate::{
    arch::{self, Arch},
    emulator, images, run, scenarios,
    steps::{Outcome, Steps},
    system, toolchain, workspace,
};

/// The bare-metal programs outside the workspace (their own Cargo workspaces,
/// built for one target at a time).
const BARE_METAL_PROGRAMS: [&str; 2] = ["crates/minivisor", "crates/minivisor/guests"];

/// `cargo` with the given arguments, run from the workspace root.
fn cargo(args: &[&str]) -> Command {
    let mut command = images::cargo();
    command.args(args).current_dir(images::root());
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
    for dir in BARE_METAL_PROGRAMS {
        let mut fmt = images::cargo();
        fmt.args(["fmt", "--check"])
            .current_dir(images::root().join(dir));
        steps.command(format!("fmt {dir}"), &mut fmt);
    }
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
    clear_package_caches();
    let mut package = cargo(&[
        "package",
        "--workspace",
        "--exclude",
        "xtask",
        "--allow-dirty",
    ]);
    package.env("CARGO_TARGET_DIR", package_target_dir());
    steps.command("package", &mut package);

    for arch in archs {
        if !run::system_tests_missing(*arch) {
            for dir in BARE_METAL_PROGRAMS {
                let mut clippy = images::cargo();
                clippy
                    .args([
                        "clippy",
                        "--target",
                        arch::target(*arch),
                        "--",
                        "-D",
                        "warnings",
                    ])
                    .current_dir(images::root().join(dir))
                    .env("MINIVISOR_VMS", "");
                steps.command(format!("clippy {dir} {arch}"), &mut clippy);
            }
        }
        system_tests(*arch, &mut steps);
    }

    println!("\n{}", steps.table());
    if steps.all_passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// One row per scenario of `arch`, or one row saying why there are none.
fn system_tests(arch: Arch, steps: &mut Steps) {
    if run::system_tests_missing(arch) {
        let issue = match arch {
            Arch::Riscv64 => 6,
            Arch::X86_64 => 7,
            Arch::Aarch64 => 5,
        };
        let why = format!("minivisor has no {arch} port yet (issue {issue})");
        steps.record(
            format!("system {arch}"),
            Outcome::Skipped(why),
            Duration::ZERO,
        );
        return;
    }
    let start = Instant::now();
    if let Err(why) = emulator::ensure(arch).and_then(|()| images::build_guests(arch)) {
        eprintln!("xtask: {why}");
        steps.record(
            format!("system {arch}: set-up"),
            Outcome::Failed(why),
            start.elapsed(),
        );
        return;
    }
    for scenario in scenarios::scenarios(arch) {
        let (outcome, duration) = system::run_scenario(arch, scenario);
        steps.record(
            format!("system {arch}: {}", scenario.name),
            outcome,
            duration,
        );
    }
}

/// `cargo package --workspace` verifies each crate against its siblings from a
/// temporary local registry; cargo treats registry crates as immutable, so builds
/// and extractions of an unchanged version would be reused although the sibling
/// changed. Verification therefore runs in its own target directory, emptied first,
/// and the extracted copies (under `$CARGO_HOME/registry/src/-<hash>/`) go too.
fn clear_package_caches() {
    let _ = std::fs::remove_dir_all(package_target_dir());
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".cargo"))
        });
    let Some(sources) = cargo_home.map(|home| home.join("registry").join("src")) else {
        return;
    };
    let Ok(registries) = std::fs::read_dir(sources) else {
        return;
    };
    let ours = workspace::package_names().unwrap_or_default();
    for registry in registries.flatten() {
        // Local registries have no host name: their directories start with '-'.
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        let Ok(crates) = std::fs::read_dir(registry.path()) else {
            continue;
        };
        for unpacked in crates.flatten() {
            let name = unpacked.file_name().to_string_lossy().into_owned();
            if ours
                .iter()
                .any(|package| name.starts_with(&format!("{package}-")))
            {
                let _ = std::fs::remove_dir_all(unpacked.path());
            }
        }
    }
}

/// Where `cargo package` builds.
fn package_target_dir() -> std::path::PathBuf {
    images::root().join("target").join("package-check")
}
