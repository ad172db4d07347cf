//! Links every guest program with its architecture's script, `src/arch/<arch>.ld`,
//! or with its own, `src/arch/<arch>-<program>.ld`, when it has one (a program
//! loaded elsewhere, with its own entry code).

use std::{env, fs, path::PathBuf};

fn main() {
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let scripts = manifest.join("src").join("arch");
    let common = scripts.join(format!("{arch}.ld"));
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", scripts.display());
    println!(
        "cargo:rerun-if-changed={}",
        manifest.join("src").join("bin").display()
    );
    let Ok(bins) = fs::read_dir(manifest.join("src").join("bin")) else {
        return;
    };
    for bin in bins.flatten() {
        let path = bin.path();
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let own = scripts.join(format!("{arch}-{name}.ld"));
        let script = if own.exists() { own } else { common.clone() };
        if script.exists() {
            println!("cargo:rustc-link-arg-bin={name}=-T{}", script.display());
        }
    }
}
