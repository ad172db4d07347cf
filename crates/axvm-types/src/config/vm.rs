//! Whole-VM settings: its type, boot protocol, interrupt mode and image location.

use crate::named::named_enum;

named_enum! {
    /// The kind of guest a VM runs (`[base] vm_type`, a number in configs).
    pub enum VMType {
        /// The host VM (a guest that owns the machine's devices).
        VMTHostVM = 0 => ["host"],
        /// A real-time OS or bare-metal guest. The default.
        #[default]
        VMTRTOS = 1 => ["rtos"],
        /// A Linux guest.
        VMTLinux = 2 => ["linux"],
    }
}

named_enum! {
    /// How the hypervisor hands control to the guest kernel (`[kernel] boot_protocol`).
    pub enum VMBootProtocol {
        /// Jump to the entry point with the architecture's boot registers. The default.
        #[default]
        Direct = 0 => ["direct"],
        /// x86 Multiboot: the guest expects the Multiboot magic and information block.
        Multiboot = 1 => ["multiboot"],
        /// Boot through UEFI firmware loaded as the VM's BIOS.
        Uefi = 2 => ["uefi"],
    }
}

named_enum! {
    /// How the VM's interrupts are delivered (`[devices] interrupt_mode`).
    pub enum VMInterruptMode {
        /// The VM receives no interrupts. The default.
        #[default]
        NoIrq = 0 => ["no_irq", "no", "none"],
        /// Interrupts come from emulated interrupt controllers.
        Emulated = 1 => ["emu", "emulated"],
        /// Physical interrupts are passed through to the guest.
        Passthrough = 2 => ["passthrough", "pt"],
    }
}

named_enum! {
    /// Where the hypervisor finds the guest images (`[kernel] image_location`).
    pub enum VmImageLocation {
        /// Read from the hypervisor's file system at run time. The default.
        #[default]
        Fs = 0 => ["fs"],
        /// Linked into the hypervisor image at build time.
        Memory = 1 => ["memory"],
    }
}

#[cfg(test)]
mod tests {
    extern crate alloc;
    use alloc::string::ToString;

    use super::*;

    #[test]
    fn vm_type_codes_round_trip() {
        for &ty in VMType::ALL {
            assert_eq!(VMType::from_usize(ty.code()), Some(ty));
            assert_eq!(VMType::from_name(ty.name()), Some(ty));
        }
        assert_eq!(VMType::default(), VMType::VMTRTOS);
        assert_eq!(VMType::from_usize(3), None);
        assert_eq!(VMType::VMTLinux.to_string(), "linux");
    }

    #[test]
    fn interrupt_mode_accepts_every_alias() {
        for (name, mode) in [
            ("no_irq", VMInterruptMode::NoIrq),
            ("no", VMInterruptMode::NoIrq),
            ("none", VMInterruptMode::NoIrq),
            ("emu", VMInterruptMode::Emulated),
            ("emulated", VMInterruptMode::Emulated),
            ("passthrough", VMInterruptMode::Passthrough),
            ("pt", VMInterruptMode::Passthrough),
        ] {
            assert_eq!(name.parse(), Ok(mode), "{name}");
        }
        assert_eq!(
            "Passthrough".parse::<VMInterruptMode>(),
            Err(crate::UnknownName)
        );
        assert_eq!(VMInterruptMode::Emulated.to_string(), "emu");
        assert_eq!(VMInterruptMode::default(), VMInterruptMode::NoIrq);
    }

    #[test]
    fn boot_protocol_and_image_location_names() {
        assert_eq!(VMBootProtocol::default(), VMBootProtocol::Direct);
        assert_eq!(
            VMBootProtocol::from_name("uefi"),
            Some(VMBootProtocol::Uefi)
        );
        assert_eq!(VMBootProtocol::from_name("bios"), None);
        assert_eq!(
            VmImageLocation::from_name("memory"),
            Some(VmImageLocation::Memory)
        );
        assert_eq!(VmImageLocation::Fs.to_string(), "fs");
    }
}
