//! Commented starter configs (`axvmconfig template --arch ...`).

use core::{fmt, str::FromStr};

/// A guest architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// x86_64 with Intel VMX.
    X86_64,
    /// aarch64 at EL2.
    Aarch64,
    /// riscv64 with the H extension.
    Riscv64,
}

impl Arch {
    /// Every architecture.
    pub const ALL: [Self; 3] = [Self::X86_64, Self::Aarch64, Self::Riscv64];

    /// The name used on command lines and in target triples.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Aarch64 => "aarch64",
            Self::Riscv64 => "riscv64",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of [`Arch::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown architecture `{0}`; expected x86_64, aarch64 or riscv64")]
pub struct UnknownArch(pub alloc::string::String);

impl FromStr for Arch {
    type Err = UnknownArch;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|arch| arch.name() == name)
            .ok_or_else(|| UnknownArch(name.into()))
    }
}

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

    #[test]
    fn arch_names_round_trip() {
        for arch in Arch::ALL {
            assert_eq!(arch.name().parse(), Ok(arch));
        }
        assert!("mips".parse::<Arch>().is_err());
    }
}
