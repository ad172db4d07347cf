//! A device that reads as zero and ignores writes: a placeholder window that keeps a guest's
//! probe of an absent device from faulting.

use alloc::string::String;

use axvm_types::{AccessWidth, AxVmResult, EmulatedDeviceType};

use crate::{
    addr::{DeviceAddr, DeviceRange},
    traits::BaseDeviceOps,
};

/// A read-as-zero, write-ignored window in address kind `A`.
#[derive(Debug)]
pub struct DummyDevice<A> {
    name: String,
    range: DeviceRange<A>,
}

impl<A: DeviceAddr> DummyDevice<A> {
    /// A dummy device at `range`.
    #[must_use]
    pub fn new(name: &str, range: DeviceRange<A>) -> Self {
        Self {
            name: name.into(),
            range,
        }
    }
}

impl<A: DeviceAddr> BaseDeviceOps<A> for DummyDevice<A> {
    fn emu_type(&self) -> EmulatedDeviceType {
        EmulatedDeviceType::Dummy
    }

    fn address_range(&self) -> DeviceRange<A> {
        self.range
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn handle_read(&self, addr: A, width: AccessWidth) -> AxVmResult<usize> {
        log::debug!("{}: {width:?} read at {addr} reads 0", self.name);
        Ok(0)
    }

    fn handle_write(&self, addr: A, width: AccessWidth, val: usize) -> AxVmResult {
        log::debug!("{}: {width:?} write {val:#x} at {addr} ignored", self.name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use axvm_types::Port;

    use super::*;
    use crate::addr::PortRange;

    #[test]
    fn reads_zero_and_ignores_writes() {
        let dummy = DummyDevice::new("probe", PortRange::new(Port(0x80), 1).unwrap());
        dummy
            .handle_write(Port(0x80), AccessWidth::Byte, 0xff)
            .unwrap();
        assert_eq!(dummy.handle_read(Port(0x80), AccessWidth::Byte), Ok(0));
        assert_eq!(dummy.name(), "probe");
        assert_eq!(dummy.emu_type(), EmulatedDeviceType::Dummy);
    }
}
