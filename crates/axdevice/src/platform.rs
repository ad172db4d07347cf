//! The platform a VM emulates, which decides the models and address kinds of its devices.

use axvm_types::EmulatedDeviceConfig;

use crate::{
    addr::{DeviceAddr, MmioRange, PortRange},
    error::DeviceError,
};

/// The platform a VM emulates.
///
/// Defaults to the build target's ([`Platform::native`]); a host tool (a config checker,
/// the tests) may pick any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    /// An x86 PC: a 16-bit I/O port space beside MMIO.
    X86_64,
    /// An aarch64 machine (QEMU `virt` and the like).
    Aarch64,
    /// A riscv64 machine (QEMU `virt` and the like).
    Riscv64,
}

/// Where a configured device window lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// In the x86 I/O port space.
    Port(PortRange),
    /// In guest physical memory.
    Mmio(MmioRange),
}

impl Platform {
    /// Every platform.
    pub const ALL: [Self; 3] = [Self::X86_64, Self::Aarch64, Self::Riscv64];

    /// The platform of the build target.
    #[must_use]
    pub const fn native() -> Self {
        crate::arch::NATIVE
    }

    /// The platform's name: "x86_64", "aarch64" or "riscv64".
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Aarch64 => "aarch64",
            Self::Riscv64 => "riscv64",
        }
    }

    /// Whether the platform has an I/O port space (only x86).
    #[must_use]
    pub const fn has_port_space(self) -> bool {
        matches!(self, Self::X86_64)
    }

    /// Where the window of `config` lives: a window that fits the 16-bit port space is a
    /// port window on a platform that has one (x86 COM1: base 0x3f8, length 8); every
    /// other window is MMIO.
    ///
    /// # Errors
    ///
    /// [`DeviceError::EmptyWindow`] for a zero length, [`DeviceError::WindowOutOfSpace`] for
    /// a window past the end of guest physical memory.
    pub fn window(self, config: &EmulatedDeviceConfig) -> Result<Window, DeviceError> {
        let fits_ports = config
            .base_gpa
            .checked_add(config.length)
            .is_some_and(|end| end <= <axvm_types::Port as DeviceAddr>::LIMIT);
        if self.has_port_space() && fits_ports {
            PortRange::for_config(config).map(Window::Port)
        } else {
            MmioRange::for_config(config).map(Window::Mmio)
        }
    }
}

impl Default for Platform {
    fn default() -> Self {
        Self::native()
    }
}

impl core::fmt::Display for Platform {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::{String, ToString};

    use super::*;

    fn config(base_gpa: usize, length: usize) -> EmulatedDeviceConfig {
        EmulatedDeviceConfig {
            name: String::from("dev"),
            base_gpa,
            length,
            ..EmulatedDeviceConfig::default()
        }
    }

    #[test]
    fn port_windows_exist_only_on_x86() {
        let com1 = config(0x3f8, 8);
        assert_eq!(
            Platform::X86_64.window(&com1),
            Ok(Window::Port(PortRange::from_raw(0x3f8, 8).unwrap()))
        );
        for platform in [Platform::Aarch64, Platform::Riscv64] {
            assert_eq!(
                platform.window(&com1),
                Ok(Window::Mmio(MmioRange::from_raw(0x3f8, 8).unwrap()))
            );
        }
        let top = config(0xfff8, 8);
        assert!(matches!(Platform::X86_64.window(&top), Ok(Window::Port(_))));
        let ioapic = config(0xfec0_0000, 0x1000);
        assert!(matches!(
            Platform::X86_64.window(&ioapic),
            Ok(Window::Mmio(_))
        ));
        let straddling = config(0xfff8, 9);
        assert!(matches!(
            Platform::X86_64.window(&straddling),
            Ok(Window::Mmio(_))
        ));
    }

    #[test]
    fn bad_windows_are_errors() {
        assert!(matches!(
            Platform::X86_64.window(&config(0x3f8, 0)),
            Err(DeviceError::EmptyWindow { kind: "port", .. })
        ));
        assert!(matches!(
            Platform::Aarch64.window(&config(usize::MAX, 2)),
            Err(DeviceError::WindowOutOfSpace { kind: "MMIO", .. })
        ));
    }

    #[test]
    fn native_is_one_of_all() {
        assert!(Platform::ALL.contains(&Platform::native()));
        assert_eq!(Platform::default(), Platform::native());
        assert_eq!(Platform::Riscv64.to_string(), "riscv64");
    }
}
