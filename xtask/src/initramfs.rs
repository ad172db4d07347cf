//! The initramfs of the Linux guests: busybox, `/bin/sh`, a `/dev/console` node and
//! an `/init` that mounts the kernel's file systems, prints [`MARKER`] and starts an
//! interactive shell on the console, as a gzip'd newc cpio archive.

use std::{fs, io::Write, path::Path};

use flate2::{Compression, write::GzEncoder};

use crate::cpio::{self, Entry};

/// The line `/init` prints once user space runs (followed by ` uptime=<seconds>`).
pub const MARKER: &str = "INITRAMFS-INIT-OK";

/// The first user-space program. Debian's kernels do not mount devtmpfs by
/// themselves (DEVTMPFS_MOUNT is off); `cttyhack` gives the shell the console as
/// its controlling terminal, so Ctrl-C and job control work.
fn init_script() -> String {
    format!(
        "#!/bin/busybox sh\n\
         /bin/busybox mkdir -p /proc /sys /dev /tmp /sbin /usr/bin /usr/sbin\n\
         /bin/busybox mount -t proc proc /proc\n\
         /bin/busybox mount -t sysfs sysfs /sys\n\
         /bin/busybox mount -t devtmpfs devtmpfs /dev\n\
         /bin/busybox --install -s\n\
         echo \"{MARKER} uptime=$(cut -d' ' -f1 /proc/uptime)\"\n\
         exec setsid cttyhack sh\n"
    )
}

/// The archive's members around `busybox` (the binary's contents).
fn entries(busybox: Vec<u8>) -> Vec<Entry> {
    let dir = |path: &str| Entry::Dir {
        path: path.into(),
        perm: 0o755,
    };
    vec![
        dir("bin"),
        dir("dev"),
        Entry::File {
            path: "bin/busybox".into(),
            perm: 0o755,
            data: busybox,
        },
        Entry::Symlink {
            path: "bin/sh".into(),
            target: "busybox".into(),
        },
        // The kernel opens it for init's stdin/stdout before devtmpfs is mounted.
        Entry::CharDev {
            path: "dev/console".into(),
            perm: 0o600,
            major: 5,
            minor: 1,
        },
        Entry::File {
            path: "init".into(),
            perm: 0o755,
            data: init_script().into_bytes(),
        },
    ]
}

/// The gzip'd archive for `busybox`; the same input always gives the same bytes
/// (the cpio times and the gzip header's mtime are 0).
pub fn image(busybox: Vec<u8>) -> Result<Vec<u8>, String> {
    let archive = cpio::archive(&entries(busybox))?;
    let mut gzip = GzEncoder::new(Vec::new(), Compression::best());
    gzip.write_all(&archive)
        .and_then(|()| gzip.finish())
        .map_err(|e| format!("compressing the initramfs: {e}"))
}

/// Writes the initramfs for the busybox at `busybox` to `out`, unless `out` already
/// holds exactly those bytes (so that builds embedding it are not redone); whether
/// it was written.
pub fn build(busybox: &Path, out: &Path) -> Result<bool, String> {
    let binary = fs::read(busybox).map_err(|e| format!("{}: {e}", busybox.display()))?;
    let bytes = image(binary)?;
    if fs::read(out).is_ok_and(|old| old == bytes) {
        return Ok(false);
    }
    fs::write(out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn unzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn the_image_is_the_gzip_of_the_archive_and_stable() {
        let image = image(b"busybox bytes".to_vec()).unwrap();
        assert_eq!(&image[..2], [0x1f, 0x8b], "gzip magic");
        let archive = unzip(&image);
        assert_eq!(
            archive,
            cpio::archive(&entries(b"busybox bytes".to_vec())).unwrap()
        );
        let text = String::from_utf8_lossy(&archive);
        for name in [
            "bin/busybox",
            "bin/sh",
            "dev/console",
            "init",
            cpio::TRAILER,
        ] {
            assert!(text.contains(name), "{name} is in the archive");
        }
        assert_eq!(image, super::image(b"busybox bytes".to_vec()).unwrap());
    }

    #[test]
    fn init_mounts_prints_the_marker_and_starts_a_shell() {
        let init = init_script();
        assert!(init.starts_with("#!/bin/busybox sh\n"));
        assert!(init.contains("mount -t devtmpfs devtmpfs /dev"));
        assert!(init.contains(MARKER));
        assert!(init.ends_with("exec setsid cttyhack sh\n"));
    }

    #[test]
    fn an_unchanged_image_is_not_written_again() {
        let dir = std::env::temp_dir().join(format!("xtask-initramfs-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let busybox = dir.join("busybox");
        let out = dir.join("initramfs.cpio.gz");
        fs::write(&busybox, b"one").unwrap();
        assert!(build(&busybox, &out).unwrap());
        assert!(!build(&busybox, &out).unwrap());
        fs::write(&busybox, b"two").unwrap();
        assert!(build(&busybox, &out).unwrap());
        let archive = unzip(&fs::read(&out).unwrap());
        assert!(archive.windows(3).any(|w| w == b"two"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
