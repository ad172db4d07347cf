//! Embeds the VMs to run: `MINIVISOR_VMS` lists them as `EXPECT[+OPTION...]:CONFIG`
//! separated by `;`, where EXPECT is `off` (the guest powers off) or `fault` (the
//! hypervisor must stop it for a fault), the options change how minivisor runs the
//! VM (`nosstc`: riscv64 vCPUs without Sstc, on the SBI TIME path) and CONFIG is a
//! VM config file. Each config's `kernel_path`,
//! `dtb_path` and `ramdisk_path` (absolute, or relative to the config file) name the
//! images to embed. The configs are embedded as text and parsed at run time.

use std::{
    env,
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
};

fn main() {
    println!("cargo:rerun-if-env-changed=MINIVISOR_VMS");
    println!("cargo:rerun-if-changed=build.rs");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let script = manifest
        .join("src")
        .join("arch")
        .join(&arch)
        .join("link.ld");
    if script.exists() {
        println!("cargo:rustc-link-arg=-T{}", script.display());
        println!("cargo:rerun-if-changed={}", script.display());
    }
    let spec = env::var("MINIVISOR_VMS").unwrap_or_default();
    let mut out = String::from("&[\n");
    for entry in spec.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        match embed(entry) {
            Ok(text) => out.push_str(&text),
            Err(message) => {
                println!("cargo:warning={message}");
                std::process::exit(1);
            }
        }
    }
    out.push(']');
    let dest = PathBuf::from(env::var("OUT_DIR").unwrap_or_default()).join("vms.rs");
    if let Err(error) = fs::write(&dest, out) {
        println!("cargo:warning=cannot write {}: {error}", dest.display());
        std::process::exit(1);
    }
}

fn embed(entry: &str) -> Result<String, String> {
    let (run, path) = entry
        .split_once(':')
        .ok_or_else(|| format!("`{entry}`: expected EXPECT:CONFIG"))?;
    let mut options = run.split('+');
    let expect = match options.next().unwrap_or_default() {
        "off" => "Expect::PowerOff",
        "fault" => "Expect::Fault",
        other => return Err(format!("`{other}`: expected `off` or `fault`")),
    };
    let mut sstc = true;
    for option in options {
        match option {
            "nosstc" => sstc = false,
            other => return Err(format!("`{other}`: expected the option `nosstc`")),
        }
    }
    let config_path = fs::canonicalize(path).map_err(|e| format!("{path}: {e}"))?;
    println!("cargo:rerun-if-changed={}", config_path.display());
    let text = fs::read_to_string(&config_path).map_err(|e| format!("{path}: {e}"))?;
    let config =
        axvmconfig::AxVMCrateConfig::from_toml(&text).map_err(|e| format!("{path}: {e}"))?;
    let dir = config_path.parent().unwrap_or(Path::new("/"));
    let image = |name: &str| -> Result<String, String> {
        let file = dir.join(name);
        let file = fs::canonicalize(&file)
            .map_err(|e| format!("{path}: image {}: {e}", file.display()))?;
        println!("cargo:rerun-if-changed={}", file.display());
        Ok(format!("include_bytes!({:?})", file.display().to_string()))
    };
    let optional = |name: Option<&str>| -> Result<String, String> {
        name.map_or(Ok("None".into()), |name| {
            Ok(format!("Some({})", image(name)?))
        })
    };
    let kernel = image(&config.kernel.kernel_path)?;
    let dtb = optional(config.kernel.dtb_path.as_deref())?;
    let ramdisk = optional(config.kernel.ramdisk_path.as_deref())?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "    EmbeddedVm {{ source: {path:?}, config: include_str!({:?}), kernel: {kernel}, dtb: {dtb}, ramdisk: {ramdisk}, expect: {expect}, sstc: {sstc} }},",
        config_path.display().to_string()
    );
    Ok(out)
}
