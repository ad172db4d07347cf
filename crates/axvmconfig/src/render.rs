//! The normalised TOML form of a config (`axvmconfig show`).

use alloc::{format, string::String};
use core::fmt::{self, Display, Formatter, Write};

use crate::AxVMCrateConfig;

pub(crate) fn to_toml(config: &AxVMCrateConfig) -> String {
    format!("{}", Toml(config))
}

struct Toml<'a>(&'a AxVMCrateConfig);

impl Display for Toml<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let AxVMCrateConfig {
            base,
            kernel,
            devices,
        } = self.0;
        writeln!(f, "[base]")?;
        writeln!(f, "id = {}", base.id)?;
        writeln!(f, "name = {}", Str(&base.name))?;
        writeln!(f, "vm_type = {} # {}", base.vm_type.code(), base.vm_type)?;
        writeln!(f, "cpu_num = {}", base.cpu_num)?;
        if let Some(ids) = &base.phys_cpu_ids {
            writeln!(f, "phys_cpu_ids = {}", List(ids, |v, f| write!(f, "{v}")))?;
        }
        if let Some(sets) = &base.phys_cpu_sets {
            writeln!(
                f,
                "phys_cpu_sets = {}",
                List(sets, |v, f| write!(f, "{}", Hex(*v)))
            )?;
        }

        writeln!(f, "\n[kernel]")?;
        writeln!(f, "entry_point = {}", Hex(kernel.entry_point))?;
        writeln!(f, "kernel_path = {}", Str(&kernel.kernel_path))?;
        writeln!(f, "kernel_load_addr = {}", Hex(kernel.kernel_load_addr))?;
        writeln!(f, "enable_bios = {}", kernel.enable_bios)?;
        writeln!(f, "boot_protocol = {}", Str(kernel.boot_protocol.name()))?;
        let paths = [
            ("bios_path", &kernel.bios_path),
            ("dtb_path", &kernel.dtb_path),
            ("ramdisk_path", &kernel.ramdisk_path),
            ("cmdline", &kernel.cmdline),
            ("disk_path", &kernel.disk_path),
        ];
        for (key, value) in paths {
            if let Some(value) = value {
                writeln!(f, "{key} = {}", Str(value))?;
            }
        }
        let addresses = [
            ("bios_load_addr", kernel.bios_load_addr),
            ("dtb_load_addr", kernel.dtb_load_addr),
            ("ramdisk_load_addr", kernel.ramdisk_load_addr),
        ];
        for (key, value) in addresses {
            if let Some(value) = value {
                writeln!(f, "{key} = {}", Hex(value))?;
            }
        }
        if let Some(location) = kernel.image_location {
            writeln!(f, "image_location = {}", Str(location.name()))?;
        }
        writeln!(f, "# [gpa, size, flags, map_type]")?;
        writeln!(f, "memory_regions = [")?;
        for region in &kernel.memory_regions {
            writeln!(
                f,
                "    [{}, {}, {}, {}], # {}",
                Hex(region.gpa),
                Hex(region.size),
                Hex(region.flags),
                region.map_type.code(),
                region.map_type
            )?;
        }
        writeln!(f, "]")?;

        writeln!(f, "\n[devices]")?;
        writeln!(f, "interrupt_mode = {}", Str(devices.interrupt_mode.name()))?;
        writeln!(f, "# [name, base_gpa, length, irq_id, emu_type, [cfg...]]")?;
        writeln!(f, "emu_devices = [")?;
        for dev in &devices.emu_devices {
            writeln!(
                f,
                "    [{}, {}, {}, {}, {}, {}], # {}",
                Str(&dev.name),
                Hex(dev.base_gpa),
                Hex(dev.length),
                dev.irq_id,
                Hex(dev.emu_type.code()),
                List(&dev.cfg_list, |v, f| write!(f, "{}", Hex(*v))),
                dev.emu_type
            )?;
        }
        writeln!(f, "]")?;
        writeln!(f, "# [name, base_gpa, base_hpa, length, irq_id]")?;
        writeln!(f, "passthrough_devices = [")?;
        for dev in &devices.passthrough_devices {
            writeln!(
                f,
                "    [{}, {}, {}, {}, {}],",
                Str(&dev.name),
                Hex(dev.base_gpa),
                Hex(dev.base_hpa),
                Hex(dev.length),
                dev.irq_id
            )?;
        }
        writeln!(f, "]")?;
        writeln!(f, "# [base_gpa, length]")?;
        writeln!(f, "passthrough_addresses = [")?;
        for range in &devices.passthrough_addresses {
            writeln!(f, "    [{}, {}],", Hex(range.base_gpa), Hex(range.length))?;
        }
        writeln!(f, "]")?;
        writeln!(f, "# [port, length]")?;
        writeln!(f, "passthrough_ports = [")?;
        for range in &devices.passthrough_ports {
            let (port, length) = (usize::from(range.base_port), usize::from(range.length));
            writeln!(f, "    [{}, {}],", Hex(port), Hex(length))?;
        }
        writeln!(f, "]")?;
        writeln!(f, "excluded_devices = [")?;
        for path in &devices.excluded_devices {
            writeln!(f, "    {},", List(path, |v, f| write!(f, "{}", Str(v))))?;
        }
        writeln!(f, "]")
    }
}

/// A number in hexadecimal with `_` between groups of four digits: `0x8020_0000`.
struct Hex(usize);

impl Display for Hex {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let digits = format!("{:x}", self.0);
        f.write_str("0x")?;
        let mut remaining = digits.len();
        for c in digits.chars() {
            f.write_char(c)?;
            remaining = remaining.saturating_sub(1);
            if remaining > 0 && remaining % 4 == 0 {
                f.write_char('_')?;
            }
        }
        Ok(())
    }
}

/// A TOML basic string, quoted and escaped.
struct Str<'a>(&'a str);

impl Display for Str<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if c.is_control() => write!(f, "\\u{:04X}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

/// An inline array, each element written by the given function.
struct List<'a, T>(&'a [T], fn(&T, &mut Formatter<'_>) -> fmt::Result);

impl<T> Display for List<'_, T> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('[')?;
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            (self.1)(item, f)?;
        }
        f.write_char(']')
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use super::*;

    #[test]
    fn hex_groups_digits_by_four() {
        assert_eq!(Hex(0).to_string(), "0x0");
        assert_eq!(Hex(0x7).to_string(), "0x7");
        assert_eq!(Hex(0x1000).to_string(), "0x1000");
        assert_eq!(Hex(0x8020_0000).to_string(), "0x8020_0000");
        assert_eq!(Hex(0x10_0000).to_string(), "0x10_0000");
        assert_eq!(Hex(usize::MAX).to_string(), "0xffff_ffff_ffff_ffff");
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(
            Str("a\"b\\c\n\u{1}").to_string(),
            "\"a\\\"b\\\\c\\n\\u0001\""
        );
    }
}
