//! Bochs for x86_64: the only emulator here with VMX (EPT, VPID, unrestricted guest;
//! QEMU's TCG has none and KVM offers no nested VMX on these machines). Minivisor,
//! a Multiboot ELF, boots from a GRUB ISO; its debug port 0xE9 appears on Bochs'
//! stdout (`port_e9_hack`). Bochs' debugger is built into Debian's package, so it
//! runs the `-rc` file's commands: `c` to start, then `quit` when minivisor hits the
//! magic breakpoint (`xchg bx, bx`, success: status 0). A shutdown-port write or a
//! triple fault is a panic, and `panic: action=fatal` makes that status 1.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use crate::{
    arch::{self, Arch},
    install::{self, Requirement},
};

/// MiB of RAM the machine gets; minivisor's x86_64 `RAM_END` matches.
pub const MEGS: u32 = 512;
/// Instructions per emulated second; with `clock: sync=none` the TSC advances one
/// tick per instruction whatever this is.
const IPS: u32 = 100_000_000;
/// Instructions each CPU runs before Bochs switches to the next: its largest value.
/// With 2 CPUs the BIOS and GRUB run about three times slower than with one (the
/// second CPU spins in the BIOS until minivisor starts it); the default, 16,
/// switches twice as often.
const QUANTUM: u32 = 32;
/// Where minivisor goes on the ISO.
const KERNEL_ON_ISO: &str = "boot/minivisor.elf";
/// The debugger commands: run, and quit at the magic breakpoint.
const DEBUGGER_COMMANDS: &str = "c\nquit\n";

/// Makes sure Bochs, its BIOS images and terminal display, and the ISO tools are
/// installed (installs them when missing, see [`install::ensure`]).
pub fn ensure() -> Result<(), String> {
    install::ensure(&Requirement {
        present: &[
            "bochs",
            "/usr/share/bochs/BIOS-bochs-latest",
            "/usr/share/vgabios/vgabios.bin",
            "/usr/lib/x86_64-linux-gnu/bochs/plugins/libbx_term_gui.so",
            "grub-mkrescue",
            "/usr/lib/grub/i386-pc",
            "xorriso",
            "mformat",
        ],
        packages: &[
            "bochs",
            "bochsbios",
            "vgabios",
            "bochs-term",
            "grub-pc-bin",
            "grub-common",
            "xorriso",
            "mtools",
        ],
        suite: None,
    })
}

/// GRUB's configuration: boot minivisor at once with the Multiboot v1 loader.
fn grub_cfg() -> String {
    format!(
        "set timeout=0\nset default=0\nmenuentry \"minivisor\" {{\n  multiboot /{KERNEL_ON_ISO}\n  boot\n}}\n"
    )
}

/// The Bochs configuration that boots `iso` and logs to `log`.
fn bochsrc(iso: &Path, log: &Path) -> String {
    format!(
        "megs: {MEGS}\n\
         romimage: file=/usr/share/bochs/BIOS-bochs-latest\n\
         vgaromimage: file=/usr/share/vgabios/vgabios.bin\n\
         ata0-master: type=cdrom, path=\"{iso}\", status=inserted\n\
         boot: cdrom\n\
         display_library: term\n\
         log: \"{log}\"\n\
         panic: action=fatal\n\
         error: action=report\n\
         info: action=report\n\
         debug: action=ignore\n\
         port_e9_hack: enabled=1\n\
         magic_break: enabled=1\n\
         cpu: model=corei7_skylake_x, count={cpus}, quantum={QUANTUM}, ips={IPS}, reset_on_triple_fault=0\n\
         clock: sync=none\n\
         mouse: enabled=0\n\
         speaker: enabled=0\n\
         sound: driver=dummy\n",
        iso = iso.display(),
        log = log.display(),
        cpus = arch::cpus(Arch::X86_64),
    )
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Prepares `work` (emptied first) to boot `kernel`: the GRUB ISO, the bochsrc and
/// the debugger commands; returns the Bochs command line. Bochs' log goes to
/// `work/bochs.log`.
pub fn command(kernel: &Path, work: &Path) -> Result<Command, String> {
    let _ = fs::remove_dir_all(work);
    let tree = work.join("iso");
    let on_iso: PathBuf = tree.join(KERNEL_ON_ISO);
    let grub = tree.join("boot").join("grub");
    fs::create_dir_all(&grub).map_err(|e| format!("{}: {e}", grub.display()))?;
    fs::copy(kernel, &on_iso).map_err(|e| format!("{}: {e}", kernel.display()))?;
    write(&grub.join("grub.cfg"), &grub_cfg())?;
    let iso = work.join("minivisor.iso");
    let output = Command::new("grub-mkrescue")
        .arg("-o")
        .arg(&iso)
        .arg(&tree)
        .output()
        .map_err(|e| format!("grub-mkrescue: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "grub-mkrescue failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let config = work.join("bochsrc");
    write(&config, &bochsrc(&iso, &work.join("bochs.log")))?;
    let commands = work.join("debugger.rc");
    write(&commands, DEBUGGER_COMMANDS)?;
    let mut bochs = Command::new("bochs");
    bochs
        .arg("-q")
        .arg("-f")
        .arg(&config)
        .arg("-rc")
        .arg(&commands)
        .current_dir(work);
    Ok(bochs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bochsrc_boots_the_iso_with_vmx_and_the_exit_paths() {
        let text = bochsrc(Path::new("/w/minivisor.iso"), Path::new("/w/bochs.log"));
        for line in [
            "megs: 512\n",
            "ata0-master: type=cdrom, path=\"/w/minivisor.iso\", status=inserted\n",
            "boot: cdrom\n",
            "display_library: term\n",
            "log: \"/w/bochs.log\"\n",
            "panic: action=fatal\n",
            "port_e9_hack: enabled=1\n",
            "magic_break: enabled=1\n",
            "cpu: model=corei7_skylake_x, count=2, quantum=32, ips=100000000, reset_on_triple_fault=0\n",
            "clock: sync=none\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
    }

    #[test]
    fn grub_boots_minivisor_at_once_with_multiboot() {
        let cfg = grub_cfg();
        assert!(cfg.starts_with("set timeout=0\n"), "{cfg}");
        assert!(cfg.contains("  multiboot /boot/minivisor.elf\n"), "{cfg}");
        assert_eq!(DEBUGGER_COMMANDS, "c\nquit\n");
    }
}
