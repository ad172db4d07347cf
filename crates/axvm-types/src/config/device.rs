//! Emulated and passed-through devices.

use alloc::{string::String, vec::Vec};

use crate::named::named_enum;

named_enum! {
    /// The model of an emulated device (the `emu_type` column of `emu_devices`).
    pub enum EmulatedDeviceType {
        /// A device that does nothing; useful as a placeholder window.
        #[default]
        Dummy = 0x0 => ["dummy"],
        /// An interrupt controller (vGIC distributor, vPLIC, ...).
        InterruptController = 0x1 => ["interrupt-controller"],
        /// A console UART.
        Console = 0x2 => ["console"],
        /// An inter-VM communication channel.
        IVCChannel = 0xA => ["ivc-channel"],
        /// A GIC redistributor partially passed through.
        GPPTRedistributor = 0x20 => ["gppt-redistributor"],
        /// A GIC distributor partially passed through.
        GPPTDistributor = 0x21 => ["gppt-distributor"],
        /// A GIC ITS partially passed through.
        GPPTITS = 0x22 => ["gppt-its"],
        /// An x86 I/O APIC.
        X86IoApic = 0x23 => ["x86-ioapic"],
        /// An x86 programmable interval timer (i8254).
        X86Pit = 0x24 => ["x86-pit"],
        /// A partially passed-through global interrupt controller (riscv PLIC).
        PPPTGlobal = 0x30 => ["pppt-global"],
        /// A virtio-mmio block device.
        VirtioBlk = 0xE1 => ["virtio-blk"],
        /// A virtio-mmio network device.
        VirtioNet = 0xE2 => ["virtio-net"],
        /// A virtio-mmio console.
        VirtioConsole = 0xE3 => ["virtio-console"],
    }
}

impl EmulatedDeviceType {
    /// Whether a device of this type may be removed from a running VM.
    #[must_use]
    pub const fn removable(self) -> bool {
        matches!(
            self,
            Self::InterruptController
                | Self::GPPTRedistributor
                | Self::VirtioBlk
                | Self::VirtioNet
                | Self::VirtioConsole
        )
    }
}

/// An emulated device: `[name, base_gpa, length, irq_id, emu_type, [cfg...]]` in a config.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct EmulatedDeviceConfig {
    /// A name for logs and error messages.
    pub name: String,
    /// Base of the device window: a guest physical address, or an x86 port number
    /// for port devices.
    pub base_gpa: usize,
    /// Length of the window in bytes (or ports).
    pub length: usize,
    /// The interrupt the device raises (0 for none).
    pub irq_id: usize,
    /// The device model.
    pub emu_type: EmulatedDeviceType,
    /// Model-specific parameters.
    pub cfg_list: Vec<usize>,
}

/// A passed-through device: `[name, base_gpa, base_hpa, length, irq_id]` in a config.
///
/// A bare device-tree path (`["/"]`, `["/soc/serial@10000000"]`) names a device
/// whose window comes from the host device tree; its numbers are then zero.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PassThroughDeviceConfig {
    /// The device's name or device-tree path.
    pub name: String,
    /// Guest physical base address.
    pub base_gpa: usize,
    /// Host physical base address.
    pub base_hpa: usize,
    /// Length of the window in bytes.
    pub length: usize,
    /// The interrupt routed to the guest (0 for none).
    pub irq_id: usize,
}

/// A passed-through address range: `[base_gpa, length]` in a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PassThroughAddressConfig {
    /// Guest physical base address (mapped to the same host address).
    pub base_gpa: usize,
    /// Length in bytes.
    pub length: usize,
}

/// A passed-through x86 I/O port range: `[port, length]` in a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PassThroughPortConfig {
    /// First port.
    pub base_port: u16,
    /// Number of ports.
    pub length: u16,
}

#[cfg(test)]
mod tests {
    use alloc::{format, string::ToString};

    use super::*;

    #[test]
    fn emulated_device_codes_round_trip() {
        for &ty in EmulatedDeviceType::ALL {
            assert_eq!(EmulatedDeviceType::from_usize(ty.code()), Some(ty));
            assert_eq!(EmulatedDeviceType::from_name(&ty.to_string()), Some(ty));
        }
        assert_eq!(EmulatedDeviceType::ALL.len(), 13);
    }

    #[test]
    fn emulated_device_codes_match_the_specification() {
        let expected = [
            (0x0, EmulatedDeviceType::Dummy),
            (0x1, EmulatedDeviceType::InterruptController),
            (0x2, EmulatedDeviceType::Console),
            (0xA, EmulatedDeviceType::IVCChannel),
            (0x20, EmulatedDeviceType::GPPTRedistributor),
            (0x21, EmulatedDeviceType::GPPTDistributor),
            (0x22, EmulatedDeviceType::GPPTITS),
            (0x23, EmulatedDeviceType::X86IoApic),
            (0x24, EmulatedDeviceType::X86Pit),
            (0x30, EmulatedDeviceType::PPPTGlobal),
            (0xE1, EmulatedDeviceType::VirtioBlk),
            (0xE2, EmulatedDeviceType::VirtioNet),
            (0xE3, EmulatedDeviceType::VirtioConsole),
        ];
        for (code, ty) in expected {
            assert_eq!(ty.code(), code);
            assert_eq!(EmulatedDeviceType::try_from(code), Ok(ty));
        }
    }

    #[test]
    fn unknown_emulated_device_codes_give_none() {
        for code in [
            0x3,
            0x9,
            0xB,
            0x1F,
            0x25,
            0x31,
            0xE0,
            0xE4,
            0xFF,
            usize::MAX,
        ] {
            assert_eq!(EmulatedDeviceType::from_usize(code), None, "{code:#x}");
        }
    }

    #[test]
    fn emulated_device_display_and_removable() {
        assert_eq!(format!("{}", EmulatedDeviceType::Console), "console");
        assert_eq!(format!("{}", EmulatedDeviceType::X86IoApic), "x86-ioapic");
        assert!(EmulatedDeviceType::VirtioBlk.removable());
        assert!(!EmulatedDeviceType::Console.removable());
        assert_eq!(EmulatedDeviceType::default(), EmulatedDeviceType::Dummy);
    }
}
