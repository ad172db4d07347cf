//! The guest architectures of the workspace.

use core::{fmt, str::FromStr};

/// A guest (and host) architecture.
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownArch(pub alloc::string::String);

impl fmt::Display for UnknownArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown architecture `{}`; expected x86_64, aarch64 or riscv64",
            self.0
        )
    }
}

impl core::error::Error for UnknownArch {}

impl FromStr for Arch {
    type Err = UnknownArch;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|arch| arch.name() == name)
            .ok_or_else(|| UnknownArch(name.into()))
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use super::*;

    #[test]
    fn arch_names_round_trip() {
        for arch in Arch::ALL {
            assert_eq!(arch.name().parse(), Ok(arch));
            assert_eq!(arch.to_string(), arch.name());
        }
        assert_eq!("mips".parse::<Arch>(), Err(UnknownArch("mips".into())));
    }
}
