//! Emulated devices for the AxVM hypervisor crates.
//!
//! - [`BaseDeviceOps`]: the trait of a device in MMIO, port or system-register space, with
//!   one half-open window type ([`DeviceRange`]) for all three.
//! - [`DeviceBus`]: the devices of one address kind, ordered by window, found by
//!   predecessor search (O(1) typical, O(log n) worst); overlapping registrations are refused, and an access
//!   that hits nothing is an error value for the caller to turn into a guest fault.
//! - [`AxVmDevices`]: a VM's three buses and its IVC channel pool, built from an
//!   [`AxVmDeviceConfig`] by a [`DeviceRegistry`] of factories keyed by
//!   [`EmulatedDeviceType`](axvm_types::EmulatedDeviceType).
//! - Models: [`Pl011`] and [`Ns16550`] (port or MMIO), whose interrupt outputs can drive
//!   a line, [`DummyDevice`], the [`IvcChannelAllocator`], [`VGic`], an emulated GICv3
//!   (no ITS/LPIs): distributor ([`GicDistributor`]), one redistributor per vCPU
//!   ([`GicRedistributors`]), the SGI system registers ([`GicSgiRegister`]), and the
//!   per-vCPU interrupt lists the run loop loads into the list registers
//!   ([`VirtualInterruptController`]), and [`VPlic`], an emulated RISC-V PLIC with one
//!   S-mode context per vCPU, whose best deliverable source becomes `hvip.VSEIP`.
//! - Interrupt plumbing: devices raise lines through an [`IrqSink`]; the VM's controller
//!   ([`AxVmDevices::interrupt_controller`]) tells the host through a [`VcpuNotifier`]
//!   which vCPU to kick; [`CurrentVcpu`] says which vCPU made an access. The host sets
//!   both on [`AxVmDevices`] after building, models get forwarding handles at build time.
//!
//! Nothing reachable from a guest access panics: every failure is a [`DeviceError`].
//!
//! # Example
//!
//! ```
//! use std::sync::{Arc, Mutex};
//!
//! use axdevice::{AxVmDeviceConfig, DeviceError, DeviceRegistry, Platform, SerialBackend};
//! use axvm_types::{AccessWidth, EmulatedDeviceConfig, EmulatedDeviceType, GuestPhysAddr, Port};
//!
//! /// Collects what the guest prints.
//! #[derive(Default)]
//! struct Capture(Mutex<Vec<u8>>);
//!
//! impl SerialBackend for Capture {
//!     fn transmit(&self, byte: u8) {
//!         self.0.lock().unwrap().push(byte);
//!     }
//!     fn receive(&self) -> Option<u8> {
//!         None
//!     }
//! }
//!
//! let output = Arc::new(Capture::default());
//! let console = output.clone();
//! let registry = DeviceRegistry::with_builtin_models(Platform::X86_64, move |_| console.clone());
//!
//! let config = AxVmDeviceConfig::new(vec![
//!     EmulatedDeviceConfig {
//!         name: "com1".into(),
//!         base_gpa: 0x3f8,
//!         length: 8,
//!         emu_type: EmulatedDeviceType::Console,
//!         ..Default::default()
//!     },
//!     EmulatedDeviceConfig {
//!         name: "ivc".into(),
//!         base_gpa: 0x8000_0000,
//!         length: 0x10000,
//!         emu_type: EmulatedDeviceType::IVCChannel,
//!         ..Default::default()
//!     },
//! ]);
//! let devices = registry.build(&config)?;
//!
//! // COM1 is a port device on x86: `out 0x3f8, 'A'` reaches the host.
//! devices.handle_port_write(Port(0x3f8), AccessWidth::Byte, usize::from(b'A'))?;
//! assert_eq!(*output.0.lock().unwrap(), b"A");
//! // LSR: transmitter empty.
//! assert_eq!(devices.handle_port_read(Port(0x3fd), AccessWidth::Byte)?, 0x60);
//!
//! // Nothing at 0x9000_0000: an error for the caller to turn into a guest fault.
//! let miss = devices.handle_mmio_read(GuestPhysAddr::from(0x9000_0000), AccessWidth::Dword);
//! assert!(matches!(miss, Err(DeviceError::Unmapped { .. })));
//!
//! let channel = devices.alloc_ivc_channel(0x1000)?;
//! devices.release_ivc_channel(channel, 0x1000)?;
//! assert!(devices.release_ivc_channel(channel, 0x1000).is_err());
//! # Ok::<(), DeviceError>(())
//! ```

#![no_std]
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

extern crate alloc;

mod addr;
mod arch;
mod backend;
mod bus;
mod clock;
mod devices;
mod error;
mod irq;
mod ivc;
mod links;
mod models;
mod platform;
mod registry;
#[cfg(test)]
mod testing;
mod traits;

pub use addr::{DeviceAddr, DeviceRange, MmioRange, PortRange, RangeError, SysRegRange};
pub use backend::{LogBackend, SerialBackend};
pub use bus::DeviceBus;
pub use clock::{DeviceClock, ManualClock};
pub use devices::{AxVmDeviceConfig, AxVmDevices};
pub use error::DeviceError;
pub use irq::{IrqSink, VcpuNotifier, VirtualInterruptController};
pub use ivc::{IVC_ALIGN, IvcChannelAllocator};
pub use links::CurrentVcpu;
pub use models::{
    ApicAddress, ApicBus, ApicWrite, DeliveryMode, DummyDevice, EoiListener, GicDistributor,
    GicRedistributors, GicSgiRegister, Icr, LocalApic, Ns16550, PIT_HZ, Pit, Pl011, PlicContexts,
    SgiRegister, SgiTargets, Shorthand, VGic, VGicConfig, VPlic, VPlicConfig, aarch64_sysreg_addr,
    apic_targets, spis_for_lines,
};
pub use platform::{Platform, Window};
pub use registry::{ConsoleProvider, DeviceFactory, DeviceRegistry};
pub use traits::{BaseDeviceOps, MmioDevice, PortDevice, SharedDevice, SysRegDevice};

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
