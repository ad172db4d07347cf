//! Links every guest program with its architecture's script,
//! `src/arch/<arch>.ld`.

use std::{env, path::PathBuf};

fn main() {
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let script = manifest.join("src").join("arch").join(format!("{arch}.ld"));
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", script.display());
    if script.exists() {
        println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    }
}
