//! Installing missing host tools with apt (Debian), idempotently, or stopping with
//! a message that names what is missing. QEMU 10 comes from bookworm-backports (the
//! machine's own qemu-utils 10 conflicts with bookworm's QEMU 7.2); Bochs, GRUB and
//! xorriso from the machine's own sources.

use std::{fs, path::Path, process::Command};

/// What a tool needs and where it comes from.
pub struct Requirement<'a> {
    /// What must be present: a program name (looked up on `PATH`) or an absolute path.
    pub present: &'a [&'a str],
    /// The Debian packages that provide them.
    pub packages: &'a [&'a str],
    /// The suite to install from (`-t`), when not the default one.
    pub suite: Option<&'a str>,
}

const BACKPORTS: &str = "bookworm-backports";
const BACKPORTS_FILE: &str = "/etc/apt/sources.list.d/axvm-bookworm-backports.sources";

/// Whether `item` (a program on `PATH`, or an absolute path) exists.
fn present(item: &str) -> bool {
    if item.starts_with('/') {
        return Path::new(item).exists();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(item).is_file()))
}

/// What of `requirement` is missing.
fn missing<'a>(requirement: &Requirement<'a>) -> Vec<&'a str> {
    requirement
        .present
        .iter()
        .copied()
        .filter(|item| !present(item))
        .collect()
}

/// Makes sure everything `requirement` names is present; installs its packages with
/// apt when something is missing and this is a Debian machine where we are root.
pub fn ensure(requirement: &Requirement<'_>) -> Result<(), String> {
    let absent = missing(requirement);
    if absent.is_empty() {
        return Ok(());
    }
    let packages = requirement.packages.join(" ");
    let suite = requirement
        .suite
        .map_or(String::new(), |suite| format!("-t {suite} "));
    let manual = format!(
        "missing: {}; install them with: apt-get install {suite}{packages}",
        absent.join(", ")
    );
    if !Path::new("/usr/bin/apt-get").exists() || !is_root() {
        return Err(manual);
    }
    println!("==> installing {packages} (apt)");
    let install = || -> Result<(), String> {
        if requirement.suite == Some(BACKPORTS) {
            add_backports_source()?;
        }
        apt(&["update", "-qq"])?;
        let mut args = vec!["install", "-y", "-qq"];
        if let Some(suite) = requirement.suite {
            args.extend(["-t", suite]);
        }
        args.extend(requirement.packages);
        apt(&args)
    };
    install().map_err(|why| format!("{manual}\n({why})"))?;
    if missing(requirement).is_empty() {
        Ok(())
    } else {
        Err(manual)
    }
}

fn apt(args: &[&str]) -> Result<(), String> {
    let status = Command::new("apt-get")
        // Wait for another apt run (unattended upgrades, a second xtask) to finish
        // instead of failing at once on its lock.
        .args(["-o", "DPkg::Lock::Timeout=600"])
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|e| format!("apt-get: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("apt-get {} failed ({status})", args.join(" ")))
    }
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
    let sources = apt_sources();
    if sources.iter().any(|text| text.contains(BACKPORTS)) {
        return Ok(());
    }
    let uri = sources.iter().find_map(|text| debian_uri(text));
    let uri = uri.ok_or("no Debian apt source to take the mirror URI from")?;
    let text = format!(
        "Types: deb\nURIs: {uri}\nSuites: {BACKPORTS}\nComponents: main\n\
         Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    );
    fs::write(BACKPORTS_FILE, text).map_err(|e| format!("{BACKPORTS_FILE}: {e}"))
}

/// The text of every apt sources file of this machine (`/etc/apt/sources.list.d/*`,
/// then `/etc/apt/sources.list`); files that cannot be read are left out.
pub fn apt_sources() -> Vec<String> {
    let mut paths = Vec::new();
    if let Ok(entries) = fs::read_dir("/etc/apt/sources.list.d") {
        paths.extend(entries.flatten().map(|e| e.path()));
    }
    paths.sort();
    paths.push("/etc/apt/sources.list".into());
    paths
        .iter()
        .filter_map(|path| fs::read_to_string(path).ok())
        .collect()
}

/// The mirror URI of the first Debian (not security) source in a sources file, in
/// either the deb822 or the one-line format.
pub fn debian_uri(text: &str) -> Option<String> {
    source_uris(text).find(|uri| uri.contains("debian") && !uri.contains("security"))
}

/// The URI of the first Debian security source in a sources file, in either format.
pub fn security_uri(text: &str) -> Option<String> {
    source_uris(text).find(|uri| uri.contains("debian") && uri.contains("security"))
}

/// Every URI a sources file names: deb822 `URIs:` fields (each may list several),
/// then one-line `deb` entries (options in `[...]` skipped).
fn source_uris(text: &str) -> impl Iterator<Item = String> + '_ {
    let deb822 = text
        .lines()
        .filter_map(|line| line.strip_prefix("URIs:"))
        .flat_map(str::split_whitespace);
    let one_line = text
        .lines()
        .filter_map(|line| line.strip_prefix("deb "))
        .filter_map(|rest| {
            let rest = rest.trim_start();
            let rest = match rest.strip_prefix('[') {
                Some(options) => options.split_once(']').map_or("", |(_, rest)| rest),
                None => rest,
            };
            rest.split_whitespace().next()
        });
    deb822.chain(one_line).map(str::to_owned)
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
        assert_eq!(
            security_uri(deb822).as_deref(),
            Some("http://deb.debian.org/debian-security")
        );
        let options = "deb [arch=arm64 signed-by=/k.gpg] http://m.example/debian bookworm main\n";
        assert_eq!(
            debian_uri(options).as_deref(),
            Some("http://m.example/debian")
        );
        assert_eq!(security_uri(options), None);
    }

    #[test]
    fn programs_are_found_on_the_path_and_files_by_their_path() {
        assert!(present("sh"));
        assert!(present("/"));
        assert!(!present("/nonexistent/file"));
        assert!(!present("no-such-program-axvm"));
        let requirement = Requirement {
            present: &["sh", "no-such-program-axvm"],
            packages: &[],
            suite: None,
        };
        assert_eq!(missing(&requirement), ["no-such-program-axvm"]);
    }
}
