//! `cargo xtask run`: boots one VM under minivisor on this terminal: its console
//! output streams here and what is typed goes to it (QEMU; under Bochs the console
//! is output only).

use std::{path::PathBuf, process::ExitCode, time::Duration};

use crate::{arch::Arch, emulator, images, linux, toolchain};

/// How long a run under Bochs may take: its terminal display takes no input, so
/// nobody can stop it from the keyboard; the run ends when the guest powers off.
const BOCHS_LIMIT: Duration = Duration::from_secs(600);

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
    linux::ensure_for(std::slice::from_ref(&config))?;
    let kernel = images::build_minivisor(arch, &[("off", config)])?;
    let work = images::scratch_dir(arch, "run");
    let mut command = emulator::command(arch, &kernel, false, &work)?;
    let status = match arch {
        Arch::Aarch64 | Arch::Riscv64 => {
            println!(
                "xtask run: the console is yours; minivisor: Ctrl-B <digit> or Ctrl-B n \
                 moves the input to another VM; QEMU: Ctrl-A x quits"
            );
            emulator::run_interactive(&mut command)?
        }
        Arch::X86_64 => {
            let result = emulator::run_with_limit(&mut command, BOCHS_LIMIT, true)?;
            if result.status.is_none() {
                eprintln!("xtask run: stopped after {}s", BOCHS_LIMIT.as_secs());
            }
            result.status
        }
    };
    Ok(match status {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => {
            eprintln!("xtask run: the emulator exited with status {code}");
            ExitCode::FAILURE
        }
        None => ExitCode::FAILURE,
    })
}

/// Whether minivisor has no port to `arch` yet.
pub fn system_tests_missing(arch: Arch) -> bool {
    crate::scenarios::scenarios(arch).is_empty()
}
