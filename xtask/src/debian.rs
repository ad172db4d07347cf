//! Fetching a Linux guest's kernel and busybox from the Debian archive through a
//! private apt configuration under `target/debian/<arch>/` (its own sources,
//! lists, cache and an empty dpkg status), so the machine's apt setup is never
//! touched and no root is needed. The mirror is the machine's own Debian source.
//!
//! The kernel package's name carries its ABI, which changes with every Debian
//! security update (and superseded ABIs leave the archive), so the concrete
//! package is resolved from the metapackage's `Depends:` at fetch time, and the
//! image is checked by its header magic rather than a pinned hash.

use std::{
    fs,
    io::Read,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use crate::{arch::Arch, images, install};

/// Which part of the archive a suite is in.
#[derive(Clone, Copy)]
enum Archive {
    /// The main mirror (`.../debian`).
    Main,
    /// The security mirror (`.../debian-security`).
    Security,
}

/// Where an architecture's Linux guest comes from.
pub struct Source {
    /// Debian's name of the architecture.
    deb_arch: &'static str,
    /// The suites to read the package indexes of.
    suites: &'static [(&'static str, Archive)],
    /// The kernel metapackage, whose `Depends:` names the concrete kernel package.
    kernel_meta: &'static str,
    /// Where busybox-static puts the binary (inside the package, no leading `/`).
    busybox: &'static str,
    /// The kernel image's header magic: its offset and bytes.
    magic: (usize, &'static [u8]),
}

/// The Debian packages of a Linux guest, per architecture (`None`: none yet).
pub const fn source(arch: Arch) -> Option<&'static Source> {
    match arch {
        // bookworm's cloud flavour: the drivers a QEMU virt guest needs and no more.
        Arch::Aarch64 => Some(&Source {
            deb_arch: "arm64",
            suites: &[
                ("bookworm", Archive::Main),
                ("bookworm-updates", Archive::Main),
                ("bookworm-security", Archive::Security),
            ],
            kernel_meta: "linux-image-cloud-arm64",
            busybox: "bin/busybox",
            // Documentation/arch/arm64/booting.rst: "ARM\x64" at offset 0x38.
            magic: (0x38, b"ARM\x64"),
        }),
        // riscv64 is a Debian release architecture from trixie on.
        Arch::Riscv64 => Some(&Source {
            deb_arch: "riscv64",
            suites: &[
                ("trixie", Archive::Main),
                ("trixie-updates", Archive::Main),
                ("trixie-security", Archive::Security),
            ],
            kernel_meta: "linux-image-riscv64",
            busybox: "usr/bin/busybox",
            // Documentation/arch/riscv/boot-image-header.rst: "RSC\x05" at 0x38.
            magic: (0x38, b"RSC\x05"),
        }),
        Arch::X86_64 => None,
    }
}

/// What a fetch left in the guest directory.
pub struct Fetched {
    /// The kernel image.
    pub kernel: PathBuf,
    /// The busybox binary.
    pub busybox: PathBuf,
}

/// The directory a Linux guest's images of `arch` are kept in:
/// `target/guests/linux/<arch>/`.
pub fn guest_dir(arch: Arch) -> PathBuf {
    images::root()
        .join("target")
        .join("guests")
        .join("linux")
        .join(arch.name())
}

/// Where the kernel of `arch` is kept.
pub fn kernel_path(arch: Arch) -> PathBuf {
    guest_dir(arch).join("Image")
}

/// Makes sure the kernel and busybox of `arch` are in [`guest_dir`]: fetched from
/// Debian when missing (or when the kernel kept there is not a valid image), left
/// alone otherwise, without network access.
pub fn ensure(arch: Arch) -> Result<Fetched, String> {
    let source = source(arch).ok_or_else(|| format!("no Debian Linux guest for {arch} yet"))?;
    let dir = guest_dir(arch);
    let fetched = Fetched {
        kernel: kernel_path(arch),
        busybox: dir.join("busybox"),
    };
    let kernel_ok = head(&fetched.kernel, source.magic.0 + source.magic.1.len())
        .is_some_and(|head| has_magic(&head, source.magic));
    if kernel_ok && fetched.busybox.is_file() {
        return Ok(fetched);
    }
    missing_tools()?;
    let start = Instant::now();
    println!("==> fetching the {arch} Linux guest from Debian (private apt under target/debian/)");
    let apt = PrivateApt::create(arch, source)?;
    apt.update()?;
    let kernel_package = apt.kernel_package(source)?;
    let work = apt.root.join("packages");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let qualified = |name: &str| format!("{name}:{}", source.deb_arch);
    apt.download(
        &work,
        &[&qualified(&kernel_package), &qualified("busybox-static")],
    )?;
    let kernel_root = extract(&work, &kernel_package)?;
    let busybox_root = extract(&work, "busybox-static")?;
    let image = kernel_image(&kernel_root)?;
    let bytes = fs::read(&image).map_err(|e| format!("{}: {e}", image.display()))?;
    if !has_magic(&bytes, source.magic) {
        return Err(format!(
            "{}: not a {arch} Linux Image (no header magic at {:#x})",
            image.display(),
            source.magic.0
        ));
    }
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    copy(&image, &fetched.kernel)?;
    copy(&busybox_root.join(source.busybox), &fetched.busybox)?;
    let _ = fs::remove_dir_all(&work);
    let size = |path: &Path| fs::metadata(path).map_or(0, |m| m.len());
    println!(
        "==> {kernel_package} ({} bytes) and busybox ({} bytes) in {} after {:.1}s",
        size(&fetched.kernel),
        size(&fetched.busybox),
        dir.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(fetched)
}

/// The first `len` bytes of the file at `path` (fewer if it is shorter), if it
/// can be read.
fn head(path: &Path, len: usize) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    fs::File::open(path)
        .and_then(|file| file.take(len as u64).read_to_end(&mut bytes))
        .ok()?;
    Some(bytes)
}

/// Whether `image` has `magic` at its offset.
fn has_magic(image: &[u8], (offset, magic): (usize, &[u8])) -> bool {
    image.get(offset..offset + magic.len()) == Some(magic)
}

/// Stops with a message when apt or dpkg is missing.
fn missing_tools() -> Result<(), String> {
    let tools = ["apt-get", "apt-cache", "dpkg-deb"];
    let absent: Vec<&str> = tools
        .into_iter()
        .filter(|tool| {
            Command::new(tool)
                .arg("--version")
                .output()
                .map_or(true, |out| !out.status.success())
        })
        .collect();
    let keyring = Path::new(KEYRING);
    match (absent.is_empty(), keyring.exists()) {
        (true, true) => Ok(()),
        (true, false) => Err(format!(
            "{KEYRING} is missing (package debian-archive-keyring): it is needed to fetch the Linux guests"
        )),
        (false, _) => Err(format!(
            "missing: {} (packages apt and dpkg): they are needed to fetch the Linux guests",
            absent.join(", ")
        )),
    }
}

/// The keyring that signs the Debian archive.
const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// The mirrors: the machine's Debian source and its security source, or
/// deb.debian.org's when the machine names none.
fn mirrors() -> (String, String) {
    let sources = install::apt_sources();
    let main = sources
        .iter()
        .find_map(|text| install::debian_uri(text))
        .unwrap_or_else(|| "http://deb.debian.org/debian".into());
    let security = sources
        .iter()
        .find_map(|text| install::security_uri(text))
        .unwrap_or_else(|| format!("{}-security", main.trim_end_matches('/')));
    (main, security)
}

/// The one-line sources list of `source` on the mirrors `main` and `security`.
fn sources_list(source: &Source, main: &str, security: &str) -> String {
    source
        .suites
        .iter()
        .map(|(suite, archive)| {
            let uri = match archive {
                Archive::Main => main,
                Archive::Security => security,
            };
            format!(
                "deb [arch={} signed-by={KEYRING}] {uri} {suite} main\n",
                source.deb_arch
            )
        })
        .collect()
}

/// An apt configuration of its own: every state, list and cache directory under
/// `root` (the system's apt.conf.d settings still apply).
struct PrivateApt {
    root: PathBuf,
    config: PathBuf,
}

impl PrivateApt {
    /// Writes the configuration for `arch` under `target/debian/<arch>/`.
    fn create(arch: Arch, source: &Source) -> Result<Self, String> {
        let root = images::root()
            .join("target")
            .join("debian")
            .join(arch.name());
        let apt = root.join("apt");
        for dir in [
            "lists/partial",
            "cache/archives/partial",
            "etc/sources.list.d",
            "etc/preferences.d",
            "status",
        ] {
            let dir = apt.join(dir);
            fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let write = |path: PathBuf, text: &str| {
            fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
        };
        let status = apt.join("status").join("status");
        if !status.exists() {
            write(status.clone(), "")?;
        }
        let (main, security) = mirrors();
        write(
            apt.join("etc").join("sources.list"),
            &sources_list(source, &main, &security),
        )?;
        let dir = |name: &str| apt.join(name).display().to_string();
        let config = format!(
            "Dir::Etc::SourceList \"{}\";\n\
             Dir::Etc::SourceParts \"{}\";\n\
             Dir::Etc::Preferences \"{}\";\n\
             Dir::Etc::PreferencesParts \"{}\";\n\
             Dir::State::Lists \"{}\";\n\
             Dir::State::status \"{}\";\n\
             Dir::Cache \"{}\";\n\
             APT::Architecture \"{arch}\";\n\
             APT::Architectures {{ \"{arch}\"; }};\n\
             APT::Sandbox::User \"{user}\";\n",
            dir("etc/sources.list"),
            dir("etc/sources.list.d"),
            dir("etc/preferences"),
            dir("etc/preferences.d"),
            dir("lists"),
            dir("status/status"),
            dir("cache"),
            arch = source.deb_arch,
            // apt drops to `_apt` for downloads when run as root, and `_apt` may
            // not write here; as any other user there is nothing to drop.
            user = current_user(),
        );
        let config_path = apt.join("apt.conf");
        write(config_path.clone(), &config)?;
        Ok(Self {
            root,
            config: config_path,
        })
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("APT_CONFIG", &self.config);
        command
    }

    /// Downloads the package indexes: only the `Packages` files. The machine's
    /// apt.conf.d may add translations and AppStream (DEP-11) metadata, and it is
    /// read after `APT_CONFIG`, so those are turned off on the command line.
    fn update(&self) -> Result<(), String> {
        let mut command = self.command("apt-get");
        command.args(["update", "-q", "-o", "Acquire::Languages=none"]);
        for target in [
            "DEP-11",
            "DEP-11-icons-small",
            "DEP-11-icons",
            "DEP-11-icons-hidpi",
        ] {
            command.arg("-o").arg(format!(
                "Acquire::IndexTargets::deb::{target}::DefaultEnabled=false"
            ));
        }
        run(&mut command, "apt-get update")
    }

    /// The concrete kernel package the metapackage's candidate depends on.
    fn kernel_package(&self, source: &Source) -> Result<String, String> {
        let package = format!("{}:{}", source.kernel_meta, source.deb_arch);
        let output = self
            .command("apt-cache")
            .args(["show", "--no-all-versions", &package])
            .output()
            .map_err(|e| format!("apt-cache show {package}: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "apt-cache show {package} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        kernel_dependency(&String::from_utf8_lossy(&output.stdout), source.kernel_meta)
            .ok_or_else(|| format!("{package} depends on no linux-image package"))
    }

    /// Downloads `packages` (`name:arch`) into `dir`.
    fn download(&self, dir: &Path, packages: &[&str]) -> Result<(), String> {
        run(
            self.command("apt-get")
                .arg("download")
                .args(packages)
                .current_dir(dir),
            "apt-get download",
        )
    }
}

/// The user apt runs as.
fn current_user() -> String {
    Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "root".into())
}

/// The `linux-image-*` package other than `meta` that the `Depends:` field of an
/// `apt-cache show` record names.
fn kernel_dependency(record: &str, meta: &str) -> Option<String> {
    record
        .lines()
        .filter_map(|line| line.strip_prefix("Depends:"))
        .flat_map(|depends| depends.split([',', '|']))
        .filter_map(|item| item.split_whitespace().next())
        .map(|name| name.split(':').next().unwrap_or(name))
        .find(|name| name.starts_with("linux-image-") && *name != meta)
        .map(str::to_owned)
}

/// Unpacks the one `.deb` of `package` in `dir` (as `dpkg-deb -x`, no install)
/// into `dir/<package>/`.
fn extract(dir: &Path, package: &str) -> Result<PathBuf, String> {
    let prefix = format!("{package}_");
    let deb = fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(&prefix) && name.ends_with(".deb"))
        })
        .ok_or_else(|| format!("apt-get download left no {prefix}*.deb"))?;
    let out = dir.join(package);
    run(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&out),
        &format!("dpkg-deb -x {}", deb.display()),
    )?;
    Ok(out)
}

/// The kernel in an unpacked kernel package: `boot/vmlinuz-*` or `boot/vmlinux-*`.
fn kernel_image(root: &Path) -> Result<PathBuf, String> {
    let boot = root.join("boot");
    fs::read_dir(&boot)
        .map_err(|e| format!("{}: {e}", boot.display()))?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("vmlinu"))
        })
        .ok_or_else(|| format!("no vmlinuz/vmlinux in {}", boot.display()))
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_package_comes_from_the_metapackage_depends() {
        let record = "Package: linux-image-cloud-arm64\n\
                      Source: linux-signed-arm64 (6.1.192+3)\n\
                      Version: 6.1.192-3\n\
                      Depends: linux-image-6.1.0-57-cloud-arm64 (= 6.1.192-3)\n\
                      Description: Linux for arm64 cloud platforms (meta-package)\n";
        assert_eq!(
            kernel_dependency(record, "linux-image-cloud-arm64").as_deref(),
            Some("linux-image-6.1.0-57-cloud-arm64")
        );
        let alternatives = "Depends: initramfs-tools | linux-initramfs-tool, \
                            linux-image-6.12.117+deb13-riscv64:riscv64 (= 6.12.117-1)\n";
        assert_eq!(
            kernel_dependency(alternatives, "linux-image-riscv64").as_deref(),
            Some("linux-image-6.12.117+deb13-riscv64")
        );
        assert_eq!(
            kernel_dependency(
                "Depends: linux-image-cloud-arm64\n",
                "linux-image-cloud-arm64"
            ),
            None
        );
        assert_eq!(kernel_dependency("Package: x\n", "m"), None);
    }

    #[test]
    fn the_sources_list_names_each_suite_on_its_mirror() {
        let arm64 = source(Arch::Aarch64).unwrap();
        let list = sources_list(arm64, "http://m/debian", "http://m/debian-security");
        assert_eq!(
            list,
            format!(
                "deb [arch=arm64 signed-by={KEYRING}] http://m/debian bookworm main\n\
                 deb [arch=arm64 signed-by={KEYRING}] http://m/debian bookworm-updates main\n\
                 deb [arch=arm64 signed-by={KEYRING}] http://m/debian-security bookworm-security main\n"
            )
        );
        assert!(source(Arch::Riscv64).is_some());
        assert!(source(Arch::X86_64).is_none());
    }

    #[test]
    fn the_header_magic_is_checked_at_its_offset() {
        let mut image = vec![0u8; 0x40];
        image[0x38..0x3c].copy_from_slice(b"ARM\x64");
        let arm64 = source(Arch::Aarch64).unwrap().magic;
        assert!(has_magic(&image, arm64));
        assert!(!has_magic(&image, source(Arch::Riscv64).unwrap().magic));
        assert!(!has_magic(&image[..0x3b], arm64));
        assert!(!has_magic(&[], arm64));
        let file = std::env::temp_dir().join(format!("xtask-head-{}", std::process::id()));
        fs::write(&file, &image).unwrap();
        assert_eq!(head(&file, 0x3c).unwrap(), image[..0x3c]);
        assert_eq!(head(&file, 0x100).unwrap(), image);
        fs::remove_file(&file).unwrap();
        assert_eq!(head(&file, 4), None);
    }

    #[test]
    fn the_kernel_is_found_in_the_unpacked_package() {
        let root = std::env::temp_dir().join(format!("xtask-debian-{}", std::process::id()));
        let boot = root.join("boot");
        fs::create_dir_all(&boot).unwrap();
        fs::write(boot.join("config-6.1.0-57-cloud-arm64"), "").unwrap();
        fs::write(boot.join("vmlinuz-6.1.0-57-cloud-arm64"), "").unwrap();
        assert_eq!(
            kernel_image(&root).unwrap(),
            boot.join("vmlinuz-6.1.0-57-cloud-arm64")
        );
        fs::remove_dir_all(&root).unwrap();
        assert!(kernel_image(&root).is_err());
    }
}
