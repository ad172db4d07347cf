//! `cargo xtask`: the workspace's own build and test driver.
//!
//! ```text
//! cargo xtask test [--arch <x86_64|aarch64|riscv64>]
//! cargo xtask run [--arch <arch>] [--vm configs/vms/FILE.toml]
//! cargo xtask linux-images [--arch <aarch64|riscv64>]
//! ```

// A host tool: its arithmetic and indexing see only its own bounded data, never
// guest or config input.
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod arch;
mod bochs;
mod cpio;
mod debian;
mod emulator;
mod escapes;
mod images;
mod initramfs;
mod install;
mod linux;
mod qemu;
mod run;
mod scenarios;
mod script;
mod steps;
mod system;
mod test;
mod toolchain;
mod workspace;

use std::process::ExitCode;

use arch::Arch;

const USAGE: &str = "usage: cargo xtask test [--arch <x86_64|aarch64|riscv64>]
       cargo xtask run [--arch <arch>] [--vm FILE.toml]
       cargo xtask linux-images [--arch <aarch64|riscv64>]

commands:
  test    format check, clippy (host and bare-metal targets), host tests, docs,
          packaging, and the system tests (minivisor + guests under an emulator)
          of the chosen architectures, with a table of the results
  run     boot one VM under minivisor and stream its console (default: the
          aarch64 hello VM; --vm boots any config, its kernel_path names the image;
          what you type goes to the VM's console: Ctrl-B <digit> or Ctrl-B n picks
          another VM, Ctrl-A x quits QEMU)
  linux-images
          fetch a Debian kernel and busybox (default: aarch64) into
          target/guests/linux/<arch>/ and build the initramfs there; `run` and
          `test` do this by themselves for configs that load those images";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args) {
        Ok(Command::Test { archs }) => test::run(&archs),
        Ok(Command::Run { arch, vm }) => run::run(arch, vm),
        Ok(Command::LinuxImages { arch }) => match linux::ensure(arch) {
            Ok(()) => ExitCode::SUCCESS,
            Err(why) => {
                eprintln!("xtask linux-images: {why}");
                ExitCode::FAILURE
            }
        },
        Ok(Command::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("xtask: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

enum Command {
    Test {
        archs: Vec<Arch>,
    },
    Run {
        arch: Arch,
        vm: Option<std::path::PathBuf>,
    },
    LinuxImages {
        arch: Arch,
    },
    Help,
}

fn parse(args: &[String]) -> Result<Command, String> {
    let Some((command, rest)) = args.split_first() else {
        return Ok(Command::Help);
    };
    match command.as_str() {
        "test" => {
            let archs = match rest {
                [] => Arch::ALL.to_vec(),
                [flag, name] if flag == "--arch" => vec![parse_arch(name)?],
                [flag] if flag.starts_with("--arch=") => {
                    vec![parse_arch(flag.trim_start_matches("--arch="))?]
                }
                _ => return Err(format!("unexpected arguments: {}", rest.join(" "))),
            };
            Ok(Command::Test { archs })
        }
        "run" => {
            let mut arch = Arch::Aarch64;
            let mut vm = None;
            let mut rest = rest.iter();
            while let Some(flag) = rest.next() {
                let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
                match flag.as_str() {
                    "--arch" => arch = parse_arch(value)?,
                    "--vm" => vm = Some(value.into()),
                    other => return Err(format!("unexpected argument `{other}`")),
                }
            }
            Ok(Command::Run { arch, vm })
        }
        "linux-images" => match rest {
            [] => Ok(Command::LinuxImages {
                arch: Arch::Aarch64,
            }),
            [flag, name] if flag == "--arch" => Ok(Command::LinuxImages {
                arch: parse_arch(name)?,
            }),
            _ => Err(format!("unexpected arguments: {}", rest.join(" "))),
        },
        "help" | "--help" | "-h" => Ok(Command::Help),
        other => Err(format!("unknown command `{other}`")),
    }
}

fn parse_arch(name: &str) -> Result<Arch, String> {
    name.parse()
        .map_err(|error: axvmconfig::UnknownArch| error.to_string())
}
