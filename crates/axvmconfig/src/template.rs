//! Commented starter configs (`axvmconfig template --arch ...`).

pub use axvm_types::{Arch, UnknownArch};

/// A commented starter config for `arch` that passes every check.
#[must_use]
pub const fn template(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => include_str!("../templates/x86_64.toml"),
        Arch::Aarch64 => include_str!("../templates/aarch64.toml"),
        Arch::Riscv64 => include_str!("../templates/riscv64.toml"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check;

    #[test]
    fn every_template_passes_check_without_warnings() {
        for arch in Arch::ALL {
            let report = check(template(arch));
            assert!(report.errors.is_empty(), "{arch}: {:?}", report.errors);
            assert!(report.warnings.is_empty(), "{arch}: {:?}", report.warnings);
        }
    }
}
