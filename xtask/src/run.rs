//! `cargo xtask run`: boots one VM under minivisor and streams its console.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use crate::{arch::Arch, emulator, images, toolchain};

/// A user's guest may run for a while; the run ends when it powers off.
const RUN_LIMIT: Duration = Duration::from_secs(600);

/// Boots `vm` (default: the architecture's hello VM) on `arch`.
pub fn run(arch: Arch, vm: Option<PathBuf>) -> ExitCode {
    match try_run(arch, vm) {
        Ok(code) => code,
        Err(why) => {
            eprintln!("xtask run: {why}");
            ExitCode::FAILURE
        }
    }
}

fn try_run(arch: Arch, vm: Option<PathBuf>) -> Result<ExitCode, String> {
    let config = match vm {
        Some(path) => {
            std::fs::canonicalize(&path).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => images::root()
            .join("configs")
            .join("vms")
            .join(format!("{arch}-hello.toml")),
    };
    if system_tests_missing(arch) {
        return Err(format!("minivisor does not run on {arch} yet"));
    }
    // A fresh machine has the toolchain but not its bare-metal targets yet.
    toolchain::ensure(&[crate::arch::target(arch)])?;
    emulator::ensure(arch)?;
    images::build_guests(arch)?;
    let kernel = images::build_minivisor(arch, &[("off", config)])?;
    let work = images::scratch_dir(arch, "run");
    let mut command = emulator::command(arch, &kernel, false, &work)?;
    let result = emulator::run_with_limit(&mut command, RUN_LIMIT, true)?;
    Ok(match result.status {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => {
            eprintln!("xtask run: the emulator exited with status {code}");
            ExitCode::FAILURE
        }
        None => {
            eprintln!("xtask run: stopped after {}s", RUN_LIMIT.as_secs());
            ExitCode::FAILURE
        }
    })
}

/// Whether minivisor has no port to `arch` yet.
pub fn system_tests_missing(arch: Arch) -> bool {
    crate::scenarios::scenarios(arch).is_empty()
}
