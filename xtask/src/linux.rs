//! The Linux guests' images in `target/guests/linux/<arch>/`: the kernel and busybox
//! from Debian (see [`debian`]) and the initramfs built around busybox (see
//! [`initramfs`]); and which VM configs need them.

use std::{
    fs,
    path::{Component, Path, PathBuf},
};

use crate::{arch::Arch, debian, initramfs};

/// Where the initramfs of `arch` is kept.
pub fn initramfs_path(arch: Arch) -> PathBuf {
    debian::guest_dir(arch).join("initramfs.cpio.gz")
}

/// Makes sure the kernel and the initramfs of `arch` are in place: fetched and
/// built when missing, the initramfs rebuilt when busybox or its contents changed.
pub fn ensure(arch: Arch) -> Result<(), String> {
    let fetched = debian::ensure(arch)?;
    let out = initramfs_path(arch);
    if initramfs::build(&fetched.busybox, &out)? {
        println!("==> built {}", out.display());
    }
    Ok(())
}

/// Makes sure the images every config in `configs` refers to under
/// `target/guests/linux/` exist.
pub fn ensure_for(configs: &[PathBuf]) -> Result<(), String> {
    let mut archs = Vec::new();
    for config in configs {
        match referenced_by(config)? {
            Some(arch) if !archs.contains(&arch) => archs.push(arch),
            _ => {}
        }
    }
    archs.into_iter().try_for_each(ensure)
}

/// The architecture whose Linux images the VM config at `config` loads (its
/// kernel or ramdisk lies in `target/guests/linux/<arch>/`), if any.
pub fn referenced_by(config: &Path) -> Result<Option<Arch>, String> {
    let text = fs::read_to_string(config).map_err(|e| format!("{}: {e}", config.display()))?;
    let parsed = axvmconfig::AxVMCrateConfig::from_toml(&text)
        .map_err(|e| format!("{}: {e}", config.display()))?;
    let dir = config
        .parent()
        .and_then(|dir| fs::canonicalize(dir).ok())
        .unwrap_or_default();
    let images = [
        Some(&parsed.kernel.kernel_path),
        parsed.kernel.ramdisk_path.as_ref(),
    ];
    let root = linux_root();
    Ok(images.into_iter().flatten().find_map(|image| {
        let path = normalize(&dir.join(image));
        Arch::ALL
            .iter()
            .copied()
            .filter(|arch| debian::source(*arch).is_some())
            .find(|arch| path.starts_with(root.join(arch.name())))
    }))
}

/// `target/guests/linux/`, with the workspace root's symbolic links resolved (as a
/// config's directory is).
fn linux_root() -> PathBuf {
    let dir = debian::guest_dir(Arch::Aarch64);
    let linux = dir.parent().map(Path::to_path_buf).unwrap_or(dir);
    let target = linux.parent().and_then(Path::parent);
    match target.and_then(|target| fs::canonicalize(target).ok()) {
        Some(target) => target.join("guests").join("linux"),
        None => linux,
    }
}

/// `path` with `.` and `..` resolved by their names (the file need not exist yet).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A Linux `/proc/interrupts` table: per interrupt, its counts per CPU and the
/// rest of its row (controller, hardware number, trigger, handler names).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Interrupts {
    /// The number of CPU columns.
    pub cpus: usize,
    /// `(counts, description)` per row.
    pub rows: Vec<(Vec<u64>, String)>,
}

impl Interrupts {
    /// Reads the table out of console text: the header line of `CPU<n>` columns,
    /// then each row `<irq>: <count per CPU> <description>`. Anything before a
    /// row's first `<word>:` (a console prefix) is skipped, and lines that do not
    /// fit are left out.
    pub fn parse(text: &str) -> Self {
        let mut table = Self::default();
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let cpu_columns = words.iter().filter(|word| is_cpu_column(word)).count();
            if cpu_columns > 0
                && words
                    .iter()
                    .rev()
                    .take(cpu_columns)
                    .all(|w| is_cpu_column(w))
            {
                table.cpus = cpu_columns;
                continue;
            }
            if table.cpus == 0 {
                continue;
            }
            let Some(label) = words.iter().position(|word| word.ends_with(':')) else {
                continue;
            };
            let counts: Vec<u64> = words
                .iter()
                .skip(label + 1)
                .take(table.cpus)
                .map_while(|word| word.parse().ok())
                .collect();
            if counts.len() == table.cpus {
                let description = words
                    .get(label + 1 + table.cpus..)
                    .unwrap_or_default()
                    .join(" ");
                table.rows.push((counts, description));
            }
        }
        table
    }

    /// The first row whose description contains any of `names`.
    pub fn row(&self, names: &[&str]) -> Option<&[u64]> {
        self.rows
            .iter()
            .find(|(_, description)| names.iter().any(|name| description.contains(name)))
            .map(|(counts, _)| counts.as_slice())
    }
}

fn is_cpu_column(word: &str) -> bool {
    word.strip_prefix("CPU")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The check of the `linux` scenario's `/proc/interrupts`: the guest has
/// `cpus` CPUs, its timer interrupt (`arch_timer` on aarch64, `riscv-timer`)
/// counted on each of them, and its UART interrupt counted at all.
pub fn check_interrupts(text: &str, cpus: usize) -> Result<(), String> {
    let table = Interrupts::parse(text);
    if table.cpus != cpus {
        return Err(format!(
            "/proc/interrupts shows {} CPUs, not {cpus}",
            table.cpus
        ));
    }
    let timer = table
        .row(&["arch_timer", "riscv-timer"])
        .ok_or("/proc/interrupts has no timer row")?;
    if let Some(idle) = timer.iter().position(|&count| count == 0) {
        return Err(format!("no timer interrupt on CPU{idle}: {timer:?}"));
    }
    let uart = table
        .row(&["pl011", "ttyAMA", "ttyS"])
        .ok_or("/proc/interrupts has no UART row")?;
    if uart.iter().sum::<u64>() == 0 {
        return Err(format!("no UART interrupt: {uart:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Linux 6.1 printed on QEMU virt with two CPUs, behind a console prefix.
    const TABLE: &str = "\
~ # cat /proc/interrupts; echo IRQS-$((4+5))
[linux]            CPU0       CPU1
[linux]  11:       1969       1412     GICv3  27 Level     arch_timer
[linux]  13:         57          0     GICv3  33 Level     uart-pl011
[linux] IPI0:        25         31       Rescheduling interrupts
[linux] IPI1:         3          7       Function call interrupts
[linux] Err:          0
IRQS-9
";

    #[test]
    fn the_table_is_read_behind_console_prefixes() {
        let table = Interrupts::parse(TABLE);
        assert_eq!(table.cpus, 2);
        assert_eq!(table.row(&["arch_timer"]), Some(&[1969, 1412][..]));
        assert_eq!(table.row(&["pl011"]), Some(&[57, 0][..]));
        assert_eq!(
            table.rows[0].1, "GICv3 27 Level arch_timer",
            "the description follows the counts"
        );
        // `Err:` has one number only, so it is no row of two CPUs.
        assert_eq!(table.rows.len(), 4);
        assert_eq!(check_interrupts(TABLE, 2), Ok(()));
    }

    /// What Linux 6.12 printed on riscv64 under minivisor (2 harts, the vPLIC).
    const RISCV64_TABLE: &str = "\
~ # cat /proc/interrupts; echo IRQS-$((4+5))
           CPU0       CPU1
 10:       1026        885  RISC-V INTC   5 Edge      riscv-timer
 12:         14          0  SiFive PLIC  10 Edge      ttyS0
IPI0:        46         60  Rescheduling interrupts
IPI1:       210        235  Function call interrupts
IRQS-9
";

    #[test]
    fn the_riscv64_table_has_the_timer_and_the_plic_uart() {
        let table = Interrupts::parse(RISCV64_TABLE);
        assert_eq!(table.row(&["riscv-timer"]), Some(&[1026, 885][..]));
        assert_eq!(table.row(&["ttyS"]), Some(&[14, 0][..]));
        assert_eq!(check_interrupts(RISCV64_TABLE, 2), Ok(()));
        assert_eq!(
            check_interrupts(&RISCV64_TABLE.replace(" 885 ", "   0 "), 2),
            Err("no timer interrupt on CPU1: [1026, 0]".into())
        );
    }

    #[test]
    fn a_cpu_without_timer_interrupts_or_a_silent_uart_fails() {
        let idle = TABLE.replace("1412", "0");
        assert_eq!(
            check_interrupts(&idle, 2),
            Err("no timer interrupt on CPU1: [1969, 0]".into())
        );
        let silent = TABLE.replace("  57 ", "   0 ");
        assert_eq!(
            check_interrupts(&silent, 2),
            Err("no UART interrupt: [0, 0]".into())
        );
        assert!(check_interrupts(TABLE, 1).is_err());
        assert!(check_interrupts(&TABLE.replace("arch_timer", "x"), 2).is_err());
        assert!(check_interrupts("no table\n", 2).is_err());
    }

    #[test]
    fn configs_under_target_guests_linux_need_the_images() {
        let configs = crate::images::root().join("configs").join("vms");
        assert_eq!(
            referenced_by(&configs.join("aarch64-linux.toml")),
            Ok(Some(Arch::Aarch64))
        );
        assert_eq!(
            referenced_by(&configs.join("riscv64-linux.toml")),
            Ok(Some(Arch::Riscv64))
        );
        assert_eq!(referenced_by(&configs.join("aarch64-hello.toml")), Ok(None));
        assert_eq!(referenced_by(&configs.join("riscv64-hello.toml")), Ok(None));
        assert!(referenced_by(&configs.join("no-such.toml")).is_err());
        assert_eq!(
            normalize(Path::new("/a/b/../../c/./d")),
            PathBuf::from("/c/d")
        );
    }
}
