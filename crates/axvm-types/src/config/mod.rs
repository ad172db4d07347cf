//! Value types of a VM configuration, shared by `axvmconfig` (which parses them)
//! and `axvm` (which builds VMs from them).

mod device;
mod memory;
mod vm;

pub use device::{
    EmulatedDeviceConfig, EmulatedDeviceType, PassThroughAddressConfig, PassThroughDeviceConfig,
    PassThroughPortConfig,
};
pub use memory::{VmMemConfig, VmMemMappingType};
pub use vm::{VMBootProtocol, VMInterruptMode, VMType, VmImageLocation};
