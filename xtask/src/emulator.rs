//! The emulators the system tests boot minivisor in (QEMU, see [`qemu`]; Bochs for
//! x86_64, see [`bochs`]): installing them when missing and running them with a
//! time limit.

use std::{
    io::{IsTerminal, Read, Write},
    os::unix::process::CommandExt,
    path::Path,
    process::{Child, Command, Stdio},
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

/// A started emulator: its process (the leader of a process group of its own) and
/// everything it prints on stdout and stderr, in chunks as they come.
pub struct Running {
    /// The emulator process.
    pub child: Child,
    /// Its output.
    pub output: mpsc::Receiver<Vec<u8>>,
    readers: Vec<thread::JoinHandle<()>>,
}

impl Running {
    /// Kills the emulator's whole process group and reaps it.
    pub fn kill(&mut self) {
        let group = format!("-{}", self.child.id());
        let killed = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !killed {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// Waits for the output pumps to see the end of the output and returns what
    /// they still held.
    pub fn drain(self) -> Vec<u8> {
        for reader in self.readers {
            let _ = reader.join();
        }
        self.output.try_iter().flatten().collect()
    }
}

/// Starts `command` in a process group of its own, with `stdin` and its output
/// piped to [`Running::output`]. In its own group, a signal meant for the xtask
/// (Ctrl-C) or for the emulator's group never reaches the other.
pub fn start(command: &mut Command, stdin: Stdio) -> Result<Running, String> {
    let mut child = command
        .process_group(0)
        .stdin(stdin)
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
        readers.push(pump(stderr, sender));
    }
    Ok(Running {
        child,
        output: receiver,
        readers,
    })
}

/// Writes `chunk` to our stdout when `echo`.
pub fn echo(chunk: &[u8], echo: bool) {
    if echo {
        let _ = std::io::stdout().write_all(chunk);
        let _ = std::io::stdout().flush();
    }
}

/// Runs `command`, streaming its output to ours (when `echo`) and keeping it; kills
/// it after `limit`.
pub fn run_with_limit(
    command: &mut Command,
    limit: Duration,
    echo: bool,
) -> Result<RunResult, String> {
    let start_time = Instant::now();
    let mut running = start(command, Stdio::null())?;
    let mut output = Vec::new();
    let status = loop {
        while let Ok(chunk) = running.output.try_recv() {
            self::echo(&chunk, echo);
            output.extend_from_slice(&chunk);
        }
        match running.child.try_wait() {
            Ok(Some(status)) => break status.code(),
            Ok(None) if start_time.elapsed() > limit => {
                running.kill();
                break None;
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for the emulator: {e}")),
        }
    };
    let rest = running.drain();
    self::echo(&rest, echo);
    output.extend_from_slice(&rest);
    Ok(RunResult {
        status,
        output: String::from_utf8_lossy(&output).into_owned(),
        duration: start_time.elapsed(),
    })
}

/// Runs `command` on this terminal: the user's input reaches it (QEMU's
/// `-nographic` puts the first UART on stdio and switches the terminal to raw mode
/// itself; its escape Ctrl-A x quits) and its output goes straight to ours. No time
/// limit. It stays in our process group, the terminal's foreground group, since a
/// background group that reads the terminal is stopped (SIGTTIN). The terminal's
/// settings are saved before and restored after, in case the emulator dies
/// without restoring them. The exit status code, `None` when killed by a signal.
pub fn run_interactive(command: &mut Command) -> Result<Option<i32>, String> {
    let saved = std::io::stdin()
        .is_terminal()
        .then(|| {
            Command::new("stty")
                .arg("-g")
                .stdin(Stdio::inherit())
                .output()
                .ok()
                .filter(|out| out.status.success())
                .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        })
        .flatten();
    let status = command
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| format!("cannot start {:?}: {e}", command.get_program()));
    if let Some(saved) = saved {
        let _ = Command::new("stty")
            .arg(saved)
            .stdin(Stdio::inherit())
            .status();
    }
    Ok(status?.code())
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
