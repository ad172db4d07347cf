//! An ARM PL011 UART (PrimeCell r1p5) as an MMIO device.
//!
//! Implemented: DR, RSR/ECR, FR, ILPR, IBRD, FBRD, LCR_H, CR, IFLS, IMSC, RIS, MIS, ICR and
//! the PeriphID/PCellID registers; 32-entry receive FIFO with trigger levels; loopback
//! (CR.LBE) including the modem-status loop; the receive, receive-timeout, transmit,
//! overrun and modem-status interrupts. The combined output UARTINTR (RIS & IMSC) can
//! drive an interrupt line ([`Pl011::with_irq`]): a level, changed only when it changes.
//!
//! Not implemented, reading as their reset value 0 with writes ignored (logged at debug
//! level): DMACR (no DMA), the test registers at 0x080-0x08c and every reserved offset.
//!
//! Simplifications, each because the model has no time base or wire:
//! - transmission is instantaneous: FR.TXFE is always set, TXFF and BUSY never, and each
//!   character written raises TXRIS (the FIFO drained through its trigger level);
//! - the receive timeout is taken to have elapsed as soon as data waits below the receive
//!   trigger level;
//! - UARTEN, TXE and RXE are stored but do not gate data, so guests that expect firmware
//!   to have enabled the UART print;
//! - baud rate, line format and IrDA settings are stored and read back only;
//! - received characters never carry framing, parity or break errors.

mod regs;
mod state;
#[cfg(test)]
mod tests;

use alloc::{string::String, sync::Arc};

use axvm_types::{AccessWidth, AxVmErrorKind, AxVmResult, EmulatedDeviceType, GuestPhysAddr};
use spin::Mutex;

use self::state::Pl011State;
use crate::{
    addr::MmioRange, backend::SerialBackend, irq::IrqSink, models::irq_output::IrqOutput,
    traits::BaseDeviceOps,
};

/// An emulated PL011 UART.
pub struct Pl011 {
    name: String,
    range: MmioRange,
    backend: Arc<dyn SerialBackend>,
    state: Mutex<Locked>,
}

/// The register state and where UARTINTR goes.
#[derive(Debug)]
struct Locked {
    regs: Pl011State,
    irq: IrqOutput,
}

impl core::fmt::Debug for Pl011 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pl011")
            .field("name", &self.name)
            .field("range", &self.range)
            .field("state", &*self.state.lock())
            .finish_non_exhaustive()
    }
}

impl Pl011 {
    /// The size of the PL011's register frame; a window may be larger (the rest is
    /// reserved) or smaller (the registers past its end are unreachable).
    pub const FRAME_SIZE: usize = 0x1000;

    /// A PL011 at `range`, talking to `backend`, in its reset state.
    #[must_use]
    pub fn new(name: &str, range: MmioRange, backend: Arc<dyn SerialBackend>) -> Self {
        Self {
            name: name.into(),
            range,
            backend,
            state: Mutex::new(Locked {
                regs: Pl011State::new(),
                irq: IrqOutput::unwired(),
            }),
        }
    }

    /// The same UART with its interrupt output (UARTINTR) wired to `line` of `sink`
    /// (for a GIC, the SPI's INTID, e.g. 33). The line follows the output whenever it
    /// can change: register writes, reads that pop received data, and [`poll`](Self::poll).
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
        Self::drive(&mut state)
    }

    /// Whether the interrupt output (UARTINTR: RIS & IMSC non-zero) is asserted.
    #[must_use]
    pub fn irq_asserted(&self) -> bool {
        self.state.lock().regs.irq_asserted()
    }

    /// Drives the line to the output's level (see [`IrqOutput`]) and returns the level.
    fn drive(state: &mut Locked) -> bool {
        let level = state.regs.irq_asserted();
        state.irq.drive(level);
        level
    }

    /// The offset of the 32-bit register an access touches and the access's byte lane in it.
    fn locate(&self, addr: GuestPhysAddr, width: AccessWidth) -> AxVmResult<(usize, usize)> {
        if width == AccessWidth::Qword {
            return Err(AxVmErrorKind::InvalidInput.into());
        }
        let offset = self
            .range
            .offset_of(addr)
            .ok_or(AxVmErrorKind::BadAddress)?;
        Ok((offset & !3, offset & 3))
    }
}

impl BaseDeviceOps<GuestPhysAddr> for Pl011 {
    fn emu_type(&self) -> EmulatedDeviceType {
        EmulatedDeviceType::Console
    }

    fn address_range(&self) -> MmioRange {
        self.range
    }

    fn name(&self) -> &str {
        &self.name
    }

    /// Any width up to 32 bits; a narrow read returns its byte lane of the register.
    fn handle_read(&self, addr: GuestPhysAddr, width: AccessWidth) -> AxVmResult<usize> {
        let (register, lane) = self.locate(addr, width)?;
        let value = {
            let mut state = self.state.lock();
            let value = state.regs.read(register, self.backend.as_ref());
            Self::drive(&mut state);
            value
        };
        let shifted = value
            .checked_shr(lane.saturating_mul(8) as u32)
            .unwrap_or(0);
        Ok(usize::try_from(u64::from(shifted) & width.mask()).unwrap_or(0))
    }

    /// Any width up to 32 bits at a register's first byte; writes to its other byte lanes
    /// are ignored (logged), as the APB interface has no byte strobes.
    fn handle_write(&self, addr: GuestPhysAddr, width: AccessWidth, val: usize) -> AxVmResult {
        let (register, lane) = self.locate(addr, width)?;
        if lane != 0 {
            log::debug!(
                "{}: write to byte lane {lane} of {register:#x} ignored",
                self.name
            );
            return Ok(());
        }
        let val = u32::try_from(val).map_err(|_| AxVmErrorKind::InvalidInput)?;
        let mut state = self.state.lock();
        state.regs.write(register, val, self.backend.as_ref());
        Self::drive(&mut state);
        Ok(())
    }

    /// Pulls host input into the receive FIFO and raises the interrupt it enables.
    fn poll_input(&self) {
        self.poll();
    }
}
