//! The emulators the system tests boot minivisor in (QEMU, see [`qemu`]; Bochs for
//! x86_64, see [`bochs`]): installing them when missing and running them with a
//! time limit.

use std::{
    io::{Read, Write},
    os::unix::process::CommandExt,
    path::Path,
    process::{Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use crate::{arch::Arch, bochs, qemu};

/// Makes sure the emulator of `arch` is installed: QEMU for aarch64 and riscv64,
/// Bochs (and the GRUB ISO tools) for x86_64.
pub fn ensure(arch: Arch) -> Result<(), String> {
    match arch {
        Arch::Aarch64 | Arch::Riscv64 => qemu::ensure(arch),
        Arch::X86_64 => bochs::ensure(),
    }
}

/// The emulator command line that boots `kernel` (minivisor's ELF) on `arch`;
/// `icount` asks for one instruction per nanosecond of virtual time (QEMU; Bochs'
/// TSC counts instructions anyway). `work` is a scratch directory of this run (the
/// ISO, configuration and log of Bochs).
pub fn command(arch: Arch, kernel: &Path, icount: bool, work: &Path) -> Result<Command, String> {
    match arch {
        Arch::Aarch64 | Arch::Riscv64 => Ok(qemu::command(arch, kernel, icount)),
        Arch::X86_64 => bochs::command(kernel, work),
    }
}

/// What an emulator run produced.
pub struct RunResult {
    /// Exit status code, or `None` when killed at the time limit.
    pub status: Option<i32>,
    /// Everything it printed on stdout and stderr.
    pub output: String,
    /// How long it ran.
    pub duration: Duration,
}

/// Runs `command`, streaming its output to ours (when `echo`) and keeping it; kills
/// it after `limit`.
pub fn run_with_limit(
    command: &mut Command,
    limit: Duration,
    echo: bool,
) -> Result<RunResult, String> {
    let start = Instant::now();
    // In a process group of its own: a signal meant for the xtask (Ctrl-C) or for
    // the emulator's group never reaches the other.
    let mut child = command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", command.get_program()))?;
    let (sender, receiver) = mpsc::channel::<Vec<u8>>();
    let mut readers = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        readers.push(pump(stdout, sender.clone()));
    }
    if let Some(stderr) = child.stderr.take() {
        readers.push(pump(stderr, sender.clone()));
    }
    drop(sender);
    let mut output = Vec::new();
    let status = loop {
        while let Ok(chunk) = receiver.try_recv() {
            if echo {
                let _ = std::io::stdout().write_all(&chunk);
                let _ = std::io::stdout().flush();
            }
            output.extend_from_slice(&chunk);
        }
        match child.try_wait() {
            Ok(Some(status)) => break status.code(),
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for the emulator: {e}")),
        }
    };
    for reader in readers {
        let _ = reader.join();
    }
    for chunk in receiver.try_iter() {
        if echo {
            let _ = std::io::stdout().write_all(&chunk);
        }
        output.extend_from_slice(&chunk);
    }
    Ok(RunResult {
        status,
        output: String::from_utf8_lossy(&output).into_owned(),
        duration: start.elapsed(),
    })
}

fn pump(mut from: impl Read + Send + 'static, to: mpsc::Sender<Vec<u8>>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_past_its_limit_is_killed() {
        let result = run_with_limit(
            Command::new("sleep").arg("5"),
            Duration::from_millis(200),
            false,
        )
        .unwrap();
        assert_eq!(result.status, None);
        let result = run_with_limit(
            Command::new("sh").args(["-c", "echo hi; exit 3"]),
            Duration::from_secs(5),
            false,
        )
        .unwrap();
        assert_eq!(result.status, Some(3));
        assert_eq!(result.output, "hi\n");
    }
}
