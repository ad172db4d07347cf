//! Makes sure the pinned toolchain has what the steps need. `rustup` reads the
//! channel from rust-toolchain.toml; targets and components are added when missing,
//! so a fresh machine needs nothing but rustup itself.

use std::process::Command;

/// Components every run needs.
const COMPONENTS: &[&str] = &["rustfmt", "clippy", "llvm-tools"];

/// Adds the missing `targets` and components; idempotent.
pub fn ensure(targets: &[&str]) -> Result<(), String> {
    let installed_targets = rustup(&["target", "list", "--installed"])?;
    let missing: Vec<&str> = targets
        .iter()
        .copied()
        .filter(|target| !installed_targets.lines().any(|line| line.trim() == *target))
        .collect();
    if !missing.is_empty() {
        println!("==> installing rustup targets: {}", missing.join(" "));
        let mut args = vec!["target", "add"];
        args.extend(&missing);
        rustup(&args)?;
    }
    let installed_components = rustup(&["component", "list", "--installed"])?;
    let missing: Vec<&str> = COMPONENTS
        .iter()
        .copied()
        .filter(|component| {
            !installed_components.lines().any(|line| {
                line.strip_prefix(component)
                    .is_some_and(|rest| rest.starts_with('-'))
            })
        })
        .collect();
    if !missing.is_empty() {
        println!("==> installing rustup components: {}", missing.join(" "));
        let mut args = vec!["component", "add"];
        args.extend(&missing);
        rustup(&args)?;
    }
    Ok(())
}

fn rustup(args: &[&str]) -> Result<String, String> {
    let output = Command::new("rustup")
        .args(args)
        .output()
        .map_err(|error| {
            format!(
                "cannot run rustup ({error}); install rustup, or add the targets and components \
             listed in rust-toolchain.toml by hand"
            )
        })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "rustup {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}
