//! A writer of "newc" cpio archives (the format of Linux initramfs images,
//! `Documentation/driver-api/early-userspace/buffer-format.rst`): each entry is a
//! 110-byte ASCII header (`070701` and thirteen 8-digit hex fields), its
//! NUL-terminated name padded to a 4-byte boundary, then its data padded likewise;
//! the archive ends with the entry `TRAILER!!!`.

/// The magic of a newc header (no checksums).
const MAGIC: &str = "070701";
/// The name of the entry that ends an archive.
pub const TRAILER: &str = "TRAILER!!!";

/// File type bits of `mode` (as in `st_mode`).
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFCHR: u32 = 0o020_000;

/// One archive member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A directory with its permission bits.
    Dir { path: String, perm: u32 },
    /// A regular file with its permission bits and contents.
    File {
        path: String,
        perm: u32,
        data: Vec<u8>,
    },
    /// A symbolic link to `target`.
    Symlink { path: String, target: String },
    /// A character device node `major:minor`.
    CharDev {
        path: String,
        perm: u32,
        major: u32,
        minor: u32,
    },
}

impl Entry {
    /// The path inside the archive (no leading `/`).
    fn path(&self) -> &str {
        match self {
            Self::Dir { path, .. }
            | Self::File { path, .. }
            | Self::Symlink { path, .. }
            | Self::CharDev { path, .. } => path,
        }
    }

    /// `st_mode`: the type bits and the permissions.
    fn mode(&self) -> u32 {
        match self {
            Self::Dir { perm, .. } => S_IFDIR | (perm & 0o7777),
            Self::File { perm, .. } => S_IFREG | (perm & 0o7777),
            Self::Symlink { .. } => S_IFLNK | 0o777,
            Self::CharDev { perm, .. } => S_IFCHR | (perm & 0o7777),
        }
    }

    /// The data that follows the name: file contents, or a link's target.
    fn data(&self) -> &[u8] {
        match self {
            Self::File { data, .. } => data,
            Self::Symlink { target, .. } => target.as_bytes(),
            Self::Dir { .. } | Self::CharDev { .. } => &[],
        }
    }

    /// `(rdevmajor, rdevminor)`: the device a node names.
    fn rdev(&self) -> (u32, u32) {
        match self {
            Self::CharDev { major, minor, .. } => (*major, *minor),
            _ => (0, 0),
        }
    }
}

/// The archive of `entries`, in order, with inode numbers from 1 and every
/// timestamp and owner 0 (so the same entries always give the same bytes).
/// Fails on a path or data too long for the format's 32-bit fields.
pub fn archive(entries: &[Entry]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let (major, minor) = entry.rdev();
        let nlink = if matches!(entry, Entry::Dir { .. }) {
            2
        } else {
            1
        };
        append(
            &mut out,
            entry.path(),
            index as u32 + 1,
            entry.mode(),
            nlink,
            (major, minor),
            entry.data(),
        )?;
    }
    append(&mut out, TRAILER, 0, 0, 1, (0, 0), &[])?;
    Ok(out)
}

/// Appends one header, name and data, each padded to 4 bytes.
fn append(
    out: &mut Vec<u8>,
    name: &str,
    ino: u32,
    mode: u32,
    nlink: u32,
    (rdev_major, rdev_minor): (u32, u32),
    data: &[u8],
) -> Result<(), String> {
    let too_long = |what: &str| format!("cpio: the {what} of `{name}` is too long");
    let namesize = u32::try_from(name.len() + 1).map_err(|_| too_long("name"))?;
    let filesize = u32::try_from(data.len()).map_err(|_| too_long("data"))?;
    let fields = [
        ino, mode, 0, 0, nlink, 0, filesize, 0, 0, rdev_major, rdev_minor, namesize, 0,
    ];
    out.extend_from_slice(MAGIC.as_bytes());
    for field in fields {
        out.extend_from_slice(format!("{field:08X}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
    Ok(())
}

fn pad4(out: &mut Vec<u8>) {
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The length of a header: the magic and thirteen 8-digit fields.
    const HEADER_LEN: usize = 110;

    /// One member as read back: the thirteen header fields, the name, the data.
    #[derive(Debug)]
    struct Parsed {
        fields: [u32; 13],
        name: String,
        data: Vec<u8>,
    }

    const INO: usize = 0;
    const MODE: usize = 1;
    const NLINK: usize = 4;
    const MTIME: usize = 5;
    const FILESIZE: usize = 6;
    const RDEVMAJOR: usize = 9;
    const RDEVMINOR: usize = 10;
    const NAMESIZE: usize = 11;
    const CHECK: usize = 12;

    /// Reads an archive as the kernel's initramfs unpacker does, checking that
    /// every header, name and data starts on a 4-byte boundary and that nothing
    /// follows the trailer.
    fn parse(bytes: &[u8]) -> Vec<Parsed> {
        let mut at = 0;
        let mut members = Vec::new();
        loop {
            assert_eq!(at % 4, 0, "header at {at} is not 4-byte aligned");
            let header = &bytes[at..at + HEADER_LEN];
            assert_eq!(&header[..6], MAGIC.as_bytes());
            let mut fields = [0u32; 13];
            for (i, field) in fields.iter_mut().enumerate() {
                let hex = std::str::from_utf8(&header[6 + 8 * i..14 + 8 * i]).unwrap();
                *field = u32::from_str_radix(hex, 16).unwrap();
            }
            let name_at = at + HEADER_LEN;
            let namesize = fields[NAMESIZE] as usize;
            let name = &bytes[name_at..name_at + namesize];
            assert_eq!(name.last(), Some(&0), "the name is NUL-terminated");
            let name = String::from_utf8(name[..namesize - 1].to_vec()).unwrap();
            let data_at = (name_at + namesize).next_multiple_of(4);
            assert!(bytes[name_at + namesize..data_at].iter().all(|&b| b == 0));
            let size = fields[FILESIZE] as usize;
            let data = bytes[data_at..data_at + size].to_vec();
            at = (data_at + size).next_multiple_of(4);
            assert!(bytes[data_at + size..at].iter().all(|&b| b == 0));
            let done = name == TRAILER;
            members.push(Parsed { fields, name, data });
            if done {
                assert_eq!(at, bytes.len(), "nothing follows the trailer");
                return members;
            }
        }
    }

    fn sample() -> Vec<Entry> {
        vec![
            Entry::Dir {
                path: "bin".into(),
                perm: 0o755,
            },
            Entry::File {
                path: "bin/busybox".into(),
                perm: 0o755,
                data: b"\x7fELF-ish, 17 bytes".to_vec(),
            },
            Entry::Symlink {
                path: "bin/sh".into(),
                target: "busybox".into(),
            },
            Entry::CharDev {
                path: "dev/console".into(),
                perm: 0o600,
                major: 5,
                minor: 1,
            },
            Entry::File {
                path: "init".into(),
                perm: 0o755,
                data: b"#!/bin/sh\n".to_vec(),
            },
        ]
    }

    #[test]
    fn an_archive_reads_back_with_its_fields_alignment_and_trailer() {
        let entries = sample();
        let members = parse(&archive(&entries).unwrap());
        assert_eq!(members.len(), entries.len() + 1);
        for (i, (member, entry)) in members.iter().zip(&entries).enumerate() {
            assert_eq!(member.name, entry.path());
            assert_eq!(member.fields[INO], i as u32 + 1);
            assert_eq!(member.fields[MODE], entry.mode());
            assert_eq!(member.fields[MTIME], 0);
            assert_eq!(member.fields[CHECK], 0);
            assert_eq!(member.data, entry.data());
        }
        assert_eq!(members[0].fields[MODE], 0o040_755);
        assert_eq!(members[0].fields[NLINK], 2);
        assert_eq!(members[1].fields[MODE], 0o100_755);
        assert_eq!(members[2].fields[MODE], 0o120_777);
        assert_eq!(members[2].data, b"busybox");
        assert_eq!(members[3].fields[MODE], 0o020_600);
        assert_eq!(
            (members[3].fields[RDEVMAJOR], members[3].fields[RDEVMINOR]),
            (5, 1)
        );
        let trailer = members.last().unwrap();
        assert_eq!(trailer.name, TRAILER);
        assert_eq!(trailer.fields[FILESIZE], 0);
        assert_eq!(trailer.fields[NAMESIZE], 11);
    }

    #[test]
    fn an_empty_archive_is_just_the_trailer() {
        let bytes = archive(&[]).unwrap();
        // 110 + 11 = 121, padded to 124.
        assert_eq!(bytes.len(), 124);
        assert_eq!(parse(&bytes).len(), 1);
    }

    #[test]
    fn the_same_entries_give_the_same_bytes() {
        assert_eq!(archive(&sample()).unwrap(), archive(&sample()).unwrap());
    }

    proptest::proptest! {
        #[test]
        fn any_names_and_sizes_stay_aligned(
            files in proptest::collection::vec(
                ("[a-z]{1,12}", proptest::collection::vec(proptest::num::u8::ANY, 0..40)),
                0..8,
            )
        ) {
            let entries: Vec<Entry> = files
                .iter()
                .map(|(name, data)| Entry::File { path: name.clone(), perm: 0o644, data: data.clone() })
                .collect();
            let members = parse(&archive(&entries).unwrap());
            proptest::prop_assert_eq!(members.len(), entries.len() + 1);
            for (member, (name, data)) in members.iter().zip(&files) {
                proptest::prop_assert_eq!(&member.name, name);
                proptest::prop_assert_eq!(&member.data, data);
            }
        }
    }
}
