//! An NS16550A UART with byte-wide registers, as a port device (x86 COM1 at 0x3f8) or an
//! MMIO device (riscv `virt` at 0x1000_0000), one model generic over the address kind.
//!
//! Implemented: RBR/THR, IER, IIR/FCR, LCR, MCR, LSR, MSR, SCR and DLL/DLM behind
//! LCR.DLAB; the 16-byte receive FIFO with its four trigger levels; loopback (MCR.LOOP)
//! including the modem-status loop; the line-status, received-data, character-timeout,
//! THR-empty and modem-status interrupts with the IIR priorities. The interrupt output
//! (INTR: IIR has a cause) can drive a line ([`Ns16550::with_irq`]), as a level.
//!
//! The THR-empty interrupt behaves as Linux's 8250 driver expects: it is raised by each
//! character written to THR and by IER.ETBEI going from 0 to 1 (THR is always empty),
//! and cleared by a THR write or by a read of IIR that reports it.
//!
//! INTR is not gated by MCR.OUT2, as in QEMU's `serial` (PC boards route INTR through
//! OUT2; Linux's 8250 sets OUT2 whenever the port has an interrupt, so it works either
//! way).
//!
//! Not implemented: writes to the read-only LSR and MSR (factory test) are ignored; offsets
//! past 7 in a larger window are reserved and read 0; all logged at debug level.
//!
//! Simplifications, each because the model has no time base or wire:
//! - transmission is instantaneous: LSR.THRE and LSR.TEMT are always set and each
//!   character written re-arms the THR-empty interrupt;
//! - the character timeout is taken to have elapsed as soon as data waits below the
//!   trigger level;
//! - outside loopback the modem inputs read as a connected line (CTS, DSR, DCD);
//! - divisor, line format and FCR's DMA mode bit are stored and read back only;
//! - received characters never carry parity, framing or break errors.
//!
//! An access wider than a byte is split into consecutive byte accesses, low byte first,
//! as an 8-bit device on a wider bus sees it (`in ax, dx` on port 0x3f8 reads 0x3f8 and
//! 0x3f9).

mod regs;
mod state;
#[cfg(test)]
mod tests;

use alloc::{string::String, sync::Arc};

use axvm_types::{AccessWidth, AxVmErrorKind, AxVmResult, EmulatedDeviceType};
use spin::Mutex;

use self::state::Ns16550State;
use crate::{
    addr::{DeviceAddr, DeviceRange},
    backend::SerialBackend,
    irq::IrqSink,
    models::irq_output::IrqOutput,
    traits::BaseDeviceOps,
};

/// An emulated NS16550A UART in address kind `A` ([`axvm_types::Port`] or
/// [`axvm_types::GuestPhysAddr`]).
pub struct Ns16550<A> {
    name: String,
    range: DeviceRange<A>,
    backend: Arc<dyn SerialBackend>,
    state: Mutex<Locked>,
}

/// The register state and where INTR goes.
#[derive(Debug)]
struct Locked {
    regs: Ns16550State,
    irq: IrqOutput,
}

impl Locked {
    /// Drives the line to the output's level (see [`IrqOutput`]) and returns the level.
    fn drive(&mut self) -> bool {
        let level = self.regs.irq_asserted();
        self.irq.drive(level);
        level
    }
}

impl<A: DeviceAddr> core::fmt::Debug for Ns16550<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ns16550")
            .field("name", &self.name)
            .field("range", &self.range)
            .field("state", &*self.state.lock())
            .finish_non_exhaustive()
    }
}

impl<A: DeviceAddr> Ns16550<A> {
    /// The number of registers.
    pub const REGISTERS: usize = 8;

    /// A 16550A at `range`, talking to `backend`, in its reset state.
    #[must_use]
    pub fn new(name: &str, range: DeviceRange<A>, backend: Arc<dyn SerialBackend>) -> Self {
        Self {
            name: name.into(),
            range,
            backend,
            state: Mutex::new(Locked {
                regs: Ns16550State::new(),
                irq: IrqOutput::unwired(),
            }),
        }
    }

    /// The same UART with its interrupt output (INTR) wired to `line` of `sink` (for a
    /// PLIC, the source number, e.g. 10 on riscv `virt`). The line follows the output
    /// whenever it can change: register writes, register reads (popping received data,
    /// reading IIR), and [`poll`](Self::poll).
    #[must_use]
    pub fn with_irq(mut self, sink: Arc<dyn IrqSink>, line: u32) -> Self {
        self.state.get_mut().irq.wire(sink, line);
        self
    }

    /// The interrupt line the output is wired to, if any.
    #[must_use]
    pub fn irq_line(&self) -> Option<u32> {
        self.state.lock().irq.line()
    }

    /// Pulls pending host input into the receive FIFO, drives the interrupt line, and
    /// returns whether the interrupt output is asserted. The host calls this when input
    /// arrives; the model also polls on every guest access.
    pub fn poll(&self) -> bool {
        let mut state = self.state.lock();
        state.regs.poll(self.backend.as_ref());
        state.drive()
    }

    /// Whether the interrupt output is asserted (IIR has a pending source).
    #[must_use]
    pub fn irq_asserted(&self) -> bool {
        self.state.lock().regs.irq_asserted()
    }

    /// The register offsets of the bytes an access touches, low byte first.
    fn offsets(
        &self,
        addr: A,
        width: AccessWidth,
    ) -> AxVmResult<impl Iterator<Item = usize> + use<A>> {
        if !self.range.contains_access(addr, width.size()) {
            return Err(AxVmErrorKind::BadAddress.into());
        }
        let first = self
            .range
            .offset_of(addr)
            .ok_or(AxVmErrorKind::BadAddress)?;
        Ok(first..first.saturating_add(width.size()))
    }
}

impl<A: DeviceAddr> BaseDeviceOps<A> for Ns16550<A> {
    fn emu_type(&self) -> EmulatedDeviceType {
        EmulatedDeviceType::Console
    }

    fn address_range(&self) -> DeviceRange<A> {
        self.range
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn handle_read(&self, addr: A, width: AccessWidth) -> AxVmResult<usize> {
        let offsets = self.offsets(addr, width)?;
        let mut state = self.state.lock();
        let mut bytes = [0u8; 8];
        for (byte, offset) in bytes.iter_mut().zip(offsets) {
            *byte = state.regs.read(offset, self.backend.as_ref());
        }
        state.drive();
        Ok(usize::try_from(u64::from_le_bytes(bytes)).unwrap_or(0))
    }

    fn handle_write(&self, addr: A, width: AccessWidth, val: usize) -> AxVmResult {
        let offsets = self.offsets(addr, width)?;
        let mut state = self.state.lock();
        let bytes = u64::try_from(val).unwrap_or(u64::MAX).to_le_bytes();
        for (&byte, offset) in bytes.iter().zip(offsets) {
            state.regs.write(offset, byte, self.backend.as_ref());
        }
        state.drive();
        Ok(())
    }

    /// Pulls host input into the receive FIFO and raises the interrupt it enables.
    fn poll_input(&self) {
        self.poll();
    }
}
