//! A device write the hypervisor emulates and ignores, for timing exits: a store to
//! the dummy MMIO device the exit-cost configs map at 0x0a00_0000 (aarch64,
//! riscv64), or an `out` to the COM1 scratch register (x86_64).

#[cfg(target_arch = "x86_64")]
pub use crate::arch::{DEVICE_WRITE as KIND, device_write as write};

/// What [`write`] is, for reports.
#[cfg(not(target_arch = "x86_64"))]
pub const KIND: &str = "MMIO write";

/// Where the exit-cost configs map their dummy device.
#[cfg(not(target_arch = "x86_64"))]
const SINK: u64 = 0x0a00_0000;

/// One emulated, ignored device write.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub fn write(value: u32) {
    // SAFETY: the exit-cost configs map a dummy device at SINK; the write is emulated.
    unsafe { core::ptr::write_volatile(SINK as *mut u32, value) };
}
