//! [`GuestMemorySlice`]: a host-contiguous piece of guest memory that the
//! hypervisor reaches without forming references to it.

use core::marker::PhantomData;

use axvm_types::{AxVmError, AxVmResult, HostPhysAddr};

use super::copy::{from_guest, to_guest};

/// A host-contiguous piece of mapped guest RAM, as
/// [`AddrSpace::translated_byte_buffer`](crate::AddrSpace::translated_byte_buffer)
/// returns it.
///
/// Running vCPUs may write the memory at any time, so the slice hands out no
/// `&[u8]` or `&mut [u8]`: [`read`](Self::read) and [`write`](Self::write) copy
/// with atomic elements (each aligned 8-byte word whole). It borrows the address
/// space, so the memory stays mapped while the slice lives.
#[derive(Debug)]
pub struct GuestMemorySlice<'a> {
    hpa: HostPhysAddr,
    host: *mut u8,
    len: usize,
    _space: PhantomData<&'a ()>,
}

impl GuestMemorySlice<'_> {
    /// # Safety
    ///
    /// `[host, host + len)` is mapped guest RAM, valid for reads and writes while
    /// the borrow `'a` lasts, and accessed by others only atomically or by guests.
    pub(crate) unsafe fn new(hpa: HostPhysAddr, host: *mut u8, len: usize) -> Self {
        Self {
            hpa,
            host,
            len,
            _space: PhantomData,
        }
    }

    /// Bytes in the slice.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether the slice is empty.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The host physical address of the first byte (e.g. for DMA).
    #[must_use]
    pub const fn host_phys_addr(&self) -> HostPhysAddr {
        self.hpa
    }

    /// The host virtual address of the first byte, for code that accesses it
    /// itself; guests may write the memory at any time, so form no references.
    #[must_use]
    pub const fn as_ptr(&self) -> *mut u8 {
        self.host
    }

    /// Copies the bytes at `offset` into `buf`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when `[offset, offset + buf.len())` is not inside the slice.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> AxVmResult {
        let at = self.at(offset, buf.len())?;
        // SAFETY: `at` starts `buf.len()` bytes inside the slice (checked), which is
        // valid guest RAM shared only atomically (constructor's contract).
        unsafe { from_guest(at, buf) };
        Ok(())
    }

    /// Copies `buf` into the slice at `offset`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when `[offset, offset + buf.len())` is not inside the slice.
    pub fn write(&self, offset: usize, buf: &[u8]) -> AxVmResult {
        let at = self.at(offset, buf.len())?;
        // SAFETY: as in `read`.
        unsafe { to_guest(buf, at) };
        Ok(())
    }

    /// The host address of `[offset, offset + len)`, if inside the slice.
    fn at(&self, offset: usize, len: usize) -> AxVmResult<*mut u8> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(self.host.wrapping_add(offset)),
            _ => Err(AxVmError::InvalidInput),
        }
    }
}
