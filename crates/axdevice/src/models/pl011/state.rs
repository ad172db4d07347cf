//! The PL011 register file and its interrupt logic, independent of the bus.

use super::regs::*;
use crate::{backend::SerialBackend, models::fifo::RxFifo};

/// Every register of one PL011, at its reset value after [`Pl011State::new`].
#[derive(Debug)]
pub(super) struct Pl011State {
    rx: RxFifo,
    rsr: u8,
    ilpr: u8,
    ibrd: u16,
    fbrd: u8,
    lcr_h: u8,
    cr: u16,
    ifls: u8,
    imsc: u16,
    ris: u16,
}

impl Pl011State {
    pub(super) fn new() -> Self {
        Self {
            // FEN is clear at reset: a one-character holding register.
            rx: RxFifo::new(FIFO_DEPTH, 1),
            rsr: 0,
            ilpr: 0,
            ibrd: 0,
            fbrd: 0,
            lcr_h: 0,
            cr: CR_RESET,
            ifls: IFLS_RESET,
            imsc: 0,
            ris: 0,
        }
    }

    /// Whether UARTINTR, the combined interrupt output, is asserted.
    pub(super) fn irq_asserted(&self) -> bool {
        self.ris & self.imsc != 0
    }

    fn fifo_enabled(&self) -> bool {
        self.lcr_h & LCR_H_FEN != 0
    }

    fn rx_trigger(&self) -> usize {
        if self.fifo_enabled() {
            trigger_level(self.ifls >> 3)
        } else {
            1
        }
    }

    /// Raises the receive interrupts for the current fill level. The receive timeout
    /// needs a time base the model does not have; it is taken to have elapsed whenever
    /// data waits below the trigger level, so a guest always learns of it.
    fn raise_rx_interrupts(&mut self) {
        let level = self.rx.len();
        if level >= self.rx_trigger() {
            self.ris |= INT_RX;
        } else if level > 0 {
            self.ris |= INT_RT;
        }
    }

    /// Pulls host input into the receive FIFO.
    pub(super) fn poll(&mut self, backend: &dyn SerialBackend) {
        if self.rx.fill_from(backend) > 0 {
            self.raise_rx_interrupts();
        }
    }

    /// The modem status inputs as FR bits. The host side has no modem lines, so they are
    /// inactive, except in loopback where the outputs drive them (RTS->CTS, DTR->DSR,
    /// Out1->DCD, Out2->RI).
    fn modem_inputs(&self) -> u32 {
        if self.cr & CR_LBE == 0 {
            return 0;
        }
        [
            (CR_RTS, FR_CTS),
            (CR_DTR, FR_DSR),
            (CR_OUT1, FR_DCD),
            (CR_OUT2, FR_RI),
        ]
        .into_iter()
        .filter(|&(out, _)| self.cr & out != 0)
        .fold(0, |bits, (_, input)| bits | input)
    }

    fn flags(&self) -> u32 {
        let mut fr = FR_TXFE | self.modem_inputs();
        if self.rx.is_empty() {
            fr |= FR_RXFE;
        }
        if self.rx.is_full() {
            fr |= FR_RXFF;
        }
        fr
    }

    fn read_data(&mut self) -> u32 {
        let Some(entry) = self.rx.pop() else {
            return 0;
        };
        // RSR reflects the error flags of the character just read (OE is sticky until ECR).
        let [_, errors] = entry.to_le_bytes();
        self.rsr = (self.rsr & RSR_OE) | (errors & 0xf);
        if self.rx.len() < self.rx_trigger() {
            self.ris &= !INT_RX;
        }
        if self.rx.is_empty() {
            self.ris &= !INT_RT;
        }
        // Data left below the trigger level times out at once (see `raise_rx_interrupts`).
        self.raise_rx_interrupts();
        u32::from(entry)
    }

    fn transmit(&mut self, byte: u8, backend: &dyn SerialBackend) {
        if self.cr & CR_LBE != 0 {
            if self.rx.push(u16::from(byte)) {
                self.raise_rx_interrupts();
            } else {
                // The FIFO keeps its contents; the character is lost.
                self.rsr |= RSR_OE;
                self.ris |= INT_OE;
            }
        } else {
            backend.transmit(byte);
        }
        // The FIFO drains at once, so its level passes the transmit trigger level.
        self.ris |= INT_TX;
    }

    /// Reads the 32-bit register at `offset` (a multiple of 4).
    pub(super) fn read(&mut self, offset: usize, backend: &dyn SerialBackend) -> u32 {
        self.poll(backend);
        match offset {
            DR => self.read_data(),
            RSR_ECR => u32::from(self.rsr & 0xf),
            FR => self.flags(),
            ILPR => u32::from(self.ilpr),
            IBRD => u32::from(self.ibrd),
            FBRD => u32::from(self.fbrd),
            LCR_H => u32::from(self.lcr_h),
            CR => u32::from(self.cr),
            IFLS => u32::from(self.ifls),
            IMSC => u32::from(self.imsc),
            RIS => u32::from(self.ris),
            MIS => u32::from(self.ris & self.imsc),
            ICR => 0,
            DMACR => {
                log::debug!("pl011: DMACR read; DMA is not implemented");
                0
            }
            _ => match offset.checked_sub(ID_BASE).map(|i| ID_VALUES.get(i / 4)) {
                Some(Some(&id)) => u32::from(id),
                _ => {
                    log::debug!("pl011: read of unimplemented register {offset:#x}");
                    0
                }
            },
        }
    }

    /// Writes the 32-bit register at `offset` (a multiple of 4).
    pub(super) fn write(&mut self, offset: usize, val: u32, backend: &dyn SerialBackend) {
        // Registers are at most 16 bits wide; the upper bits of every write are ignored.
        let half = val as u16;
        let byte = val as u8;
        match offset {
            DR => self.transmit(byte, backend),
            RSR_ECR => self.rsr = 0,
            ILPR => self.ilpr = byte,
            IBRD => self.ibrd = half,
            FBRD => self.fbrd = byte & FBRD_WRITABLE,
            LCR_H => {
                self.lcr_h = byte;
                self.rx
                    .set_depth(if self.fifo_enabled() { FIFO_DEPTH } else { 1 });
            }
            CR => {
                let before = self.modem_inputs();
                self.cr = half & CR_WRITABLE;
                self.raise_modem_interrupts(before ^ self.modem_inputs());
            }
            IFLS => self.ifls = byte & IFLS_WRITABLE,
            IMSC => self.imsc = half & INT_ALL,
            ICR => self.ris &= !(half & INT_ALL),
            DMACR => log::debug!("pl011: DMACR write {val:#x} ignored; DMA is not implemented"),
            _ => log::debug!(
                "pl011: write {val:#x} to unimplemented or read-only register {offset:#x} ignored"
            ),
        }
        self.poll(backend);
    }

    fn raise_modem_interrupts(&mut self, changed: u32) {
        for (input, interrupt) in [
            (FR_RI, INT_RIM),
            (FR_CTS, INT_CTSM),
            (FR_DCD, INT_DCDM),
            (FR_DSR, INT_DSRM),
        ] {
            if changed & input != 0 {
                self.ris |= interrupt;
            }
        }
    }
}
