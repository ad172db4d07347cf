//! The emulators the system tests boot minivisor in: installing them when missing
//! (Debian: QEMU 10 from bookworm-backports, as the machine's own qemu-utils 10
//! conflicts with bookworm's QEMU 7.2) and running them with a time limit.

use std::{
    fs,
    io::{Read, Write},
    path::Path,
    process::{Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use crate::arch::Arch;

/// The emulator binary of each architecture.
pub const fn qemu_binary(arch: Arch) -> &'static str {
    match arch {
        Arch::Aarch64 => "qemu-system-aarch64",
        Arch::Riscv64 => "qemu-system-riscv64",
        Arch::X86_64 => "qemu-system-x86_64",
    }
}

/// The Debian package that provides it.
const fn qemu_package(arch: Arch) -> &'static str {
    match arch {
        Arch::Aarch64 => "qemu-system-arm",
        Arch::Riscv64 => "qemu-system-misc",
        Arch::X86_64 => "qemu-system-x86",
    }
}

const BACKPORTS_FILE: &str = "/etc/apt/sources.list.d/axvm-bookworm-backports.sources";

fn on_path(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Makes sure the emulator for `arch` is installed; installs it with apt if it is
/// missing and this is a Debian machine where we are root. Idempotent.
pub fn ensure_qemu(arch: Arch) -> Result<(), String> {
    let binary = qemu_binary(arch);
    if on_path(binary) {
        return Ok(());
    }
    let package = qemu_package(arch);
    let manual = format!(
        "{binary} is missing: install QEMU 10 ({package}; on Debian bookworm from \
         bookworm-backports: apt-get install -t bookworm-backports {package})"
    );
    if !Path::new("/usr/bin/apt-get").exists() || !is_root() {
        return Err(manual);
    }
    println!("==> installing {package} from bookworm-backports (apt)");
    add_backports_source().map_err(|why| format!("{manual}\n({why})"))?;
    let apt = |args: &[&str]| -> Result<(), String> {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map_err(|e| format!("apt-get: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("apt-get {} failed ({status})", args.join(" ")))
        }
    };
    apt(&["update", "-qq"]).map_err(|why| format!("{manual}\n({why})"))?;
    apt(&["install", "-y", "-qq", "-t", "bookworm-backports", package])
        .map_err(|why| format!("{manual}\n({why})"))?;
    if on_path(binary) { Ok(()) } else { Err(manual) }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Adds a bookworm-backports apt source reusing the URI of the machine's Debian
/// source, unless one is configured already.
fn add_backports_source() -> Result<(), String> {
    let mut uri = None;
    let mut sources = Vec::new();
    for dir in ["/etc/apt/sources.list.d"] {
        if let Ok(entries) = fs::read_dir(dir) {
            sources.extend(entries.flatten().map(|e| e.path()));
        }
    }
    sources.push("/etc/apt/sources.list".into());
    for path in &sources {
        let Ok(text) = fs::read_to_string(path) else {
            continue;
        };
        if text.contains("bookworm-backports") {
            return Ok(());
        }
        if uri.is_none() {
            uri = debian_uri(&text);
        }
    }
    let uri = uri.ok_or("no Debian apt source to take the mirror URI from")?;
    let text = format!(
        "Types: deb\nURIs: {uri}\nSuites: bookworm-backports\nComponents: main\n\
         Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    );
    fs::write(BACKPORTS_FILE, text).map_err(|e| format!("{BACKPORTS_FILE}: {e}"))
}

/// The mirror URI of the first Debian (not security) source in a sources file, in
/// either the deb822 or the one-line format.
fn debian_uri(text: &str) -> Option<String> {
    let deb822 = text
        .lines()
        .filter_map(|line| line.strip_prefix("URIs:"))
        .map(str::trim)
        .find(|uri| uri.contains("debian") && !uri.contains("security"));
    let one_line = text
        .lines()
        .filter(|line| line.starts_with("deb "))
        .filter_map(|line| line.split_whitespace().nth(1))
        .find(|uri| uri.contains("debian") && !uri.contains("security"));
    deb822.or(one_line).map(str::to_owned)
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
    let mut child = command
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
    fn the_mirror_uri_comes_from_either_source_format() {
        let deb822 = "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n\n\
                      Types: deb\nURIs: http://deb.debian.org/debian-security\n";
        assert_eq!(
            debian_uri(deb822).as_deref(),
            Some("http://deb.debian.org/debian")
        );
        let one_line = "deb http://security.debian.org/debian-security bookworm-security main\n\
                        deb http://mirror.example/debian bookworm main\n";
        assert_eq!(
            debian_uri(one_line).as_deref(),
            Some("http://mirror.example/debian")
        );
        assert_eq!(debian_uri("# nothing\n"), None);
    }

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
