//! Building the guest programs and minivisor for an architecture.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use crate::arch::{self, Arch};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `cargo` of the running toolchain.
pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// The directory the raw guest images of `arch` are written to; VM configs name
/// them as `../../target/guests/<arch>/<program>.bin`.
pub fn guest_dir(arch: Arch) -> PathBuf {
    root().join("target").join("guests").join(arch.name())
}

/// A scratch directory for one emulator run of `arch` named `name` (under
/// `target/emulator/`).
pub fn scratch_dir(arch: Arch, name: &str) -> PathBuf {
    let slug: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    root()
        .join("target")
        .join("emulator")
        .join(format!("{}-{slug}", arch.name()))
}

/// Builds every guest program for `arch` and writes each as a raw image to
/// [`guest_dir`].
pub fn build_guests(arch: Arch) -> Result<(), String> {
    let crate_dir = root().join("crates").join("minivisor").join("guests");
    let triple = arch::target(arch);
    run(
        cargo()
            .current_dir(&crate_dir)
            .args(["build", "--release", "--quiet", "--target", triple]),
        "building the guests",
    )?;
    let out = guest_dir(arch);
    fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let objcopy = llvm_objcopy()?;
    let bins = fs::read_dir(crate_dir.join("src").join("bin"))
        .map_err(|e| format!("guest programs: {e}"))?;
    for bin in bins.flatten() {
        let path = bin.path();
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let elf = crate_dir
            .join("target")
            .join(triple)
            .join("release")
            .join(name);
        let image = out.join(format!("{name}.bin"));
        run(
            Command::new(&objcopy)
                .arg("-O")
                .arg("binary")
                .arg(&elf)
                .arg(&image),
            &format!("llvm-objcopy of guest `{name}`"),
        )?;
    }
    Ok(())
}

/// Builds minivisor for `arch` with the VMs `vms` (`(expect, config)` pairs, expect
/// being `off` or `fault`) embedded; returns the ELF to boot.
pub fn build_minivisor(arch: Arch, vms: &[(&str, PathBuf)]) -> Result<PathBuf, String> {
    let crate_dir = root().join("crates").join("minivisor");
    let triple = arch::target(arch);
    let spec: Vec<String> = vms
        .iter()
        .map(|(expect, config)| format!("{expect}:{}", config.display()))
        .collect();
    run(
        cargo()
            .current_dir(&crate_dir)
            .env("MINIVISOR_VMS", spec.join(";"))
            .args(["build", "--release", "--quiet", "--target", triple]),
        "building minivisor",
    )?;
    Ok(crate_dir
        .join("target")
        .join(triple)
        .join("release")
        .join("minivisor"))
}

/// `llvm-objcopy` of the toolchain's `llvm-tools` component.
fn llvm_objcopy() -> Result<PathBuf, String> {
    let output = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("rustc --print sysroot: {e}"))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let host = Command::new("rustc")
        .args(["-vV"])
        .output()
        .map_err(|e| format!("rustc -vV: {e}"))?;
    let host = String::from_utf8_lossy(&host.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: ").map(str::to_owned))
        .ok_or("rustc -vV names no host")?;
    let path = sysroot
        .join("lib")
        .join("rustlib")
        .join(host)
        .join("bin")
        .join("llvm-objcopy");
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing: add the llvm-tools component (rustup component add llvm-tools)",
            path.display()
        ))
    }
}
