//! `axvmconfig`: check, normalise and start VM config files.

#![allow(missing_docs)]

use std::{fs, path::PathBuf, process::ExitCode};

use axvmconfig::{Arch, Severity, check, render_diagnostic, template};
use clap::{Parser, Subcommand};

/// Check, normalise and start AxVM VM config files.
#[derive(Parser)]
#[command(name = "axvmconfig", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Report every error and warning of each FILE; exit status 1 if any has an error.
    Check {
        /// Config files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print FILE as normalised TOML (fixed key order, hexadecimal addresses).
    Show {
        /// The config file.
        file: PathBuf,
    },
    /// Print a commented starter config for an architecture.
    Template {
        /// x86_64, aarch64 or riscv64.
        #[arg(long)]
        arch: Arch,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Check { files } => {
            let mut failed = false;
            for file in &files {
                failed |= !check_file(file);
            }
            if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::Show { file } => show(&file),
        Command::Template { arch } => {
            print!("{}", template(arch));
            ExitCode::SUCCESS
        }
    }
}

/// Prints the diagnostics of one file; returns whether it has no errors.
fn check_file(file: &PathBuf) -> bool {
    let name = file.display().to_string();
    let source = match fs::read_to_string(file) {
        Ok(source) => source,
        Err(error) => {
            eprintln!("{name}: error: cannot read the file: {error}");
            return false;
        }
    };
    let report = check(&source);
    for error in &report.errors {
        eprint!(
            "{}",
            render_diagnostic(&name, &source, Severity::Error, error)
        );
    }
    for warning in &report.warnings {
        eprint!(
            "{}",
            render_diagnostic(&name, &source, Severity::Warning, warning)
        );
    }
    let verdict = if report.errors.is_empty() {
        "ok"
    } else {
        "FAILED"
    };
    eprintln!(
        "{name}: {verdict} ({}, {})",
        count(report.errors.len(), "error"),
        count(report.warnings.len(), "warning")
    );
    report.errors.is_empty()
}

/// `1 error`, `2 errors`.
fn count(n: usize, noun: &str) -> String {
    let plural = if n == 1 { "" } else { "s" };
    format!("{n} {noun}{plural}")
}

fn show(file: &PathBuf) -> ExitCode {
    let name = file.display().to_string();
    let source = match fs::read_to_string(file) {
        Ok(source) => source,
        Err(error) => {
            eprintln!("{name}: error: cannot read the file: {error}");
            return ExitCode::FAILURE;
        }
    };
    let report = check(&source);
    for error in &report.errors {
        eprint!(
            "{}",
            render_diagnostic(&name, &source, Severity::Error, error)
        );
    }
    match report.config {
        Some(config) => {
            print!("{}", config.to_toml());
            ExitCode::SUCCESS
        }
        None => ExitCode::FAILURE,
    }
}
