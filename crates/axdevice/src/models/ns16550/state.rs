//! The NS16550A register file and its interrupt logic, independent of the bus.

use super::regs::*;
use crate::{backend::SerialBackend, models::fifo::RxFifo};

/// Every register of one 16550A, at its reset value after [`Ns16550State::new`].
#[derive(Debug)]
pub(super) struct Ns16550State {
    rx: RxFifo,
    ier: u8,
    fcr: u8,
    lcr: u8,
    mcr: u8,
    /// LSR bits 1-4, sticky until LSR is read.
    lsr_errors: u8,
    /// MSR delta bits, sticky until MSR is read.
    msr_deltas: u8,
    scr: u8,
    dll: u8,
    dlm: u8,
    /// A THR-empty interrupt is pending (cleared by reading IIR or writing THR).
    thre_pending: bool,
}

impl Ns16550State {
    pub(super) fn new() -> Self {
        Self {
            // FIFOs are disabled at reset: a one-character holding register.
            rx: RxFifo::new(FIFO_DEPTH, 1),
            ier: 0,
            fcr: 0,
            lcr: 0,
            mcr: 0,
            lsr_errors: 0,
            msr_deltas: 0,
            scr: 0,
            dll: 0,
            dlm: 0,
            thre_pending: false,
        }
    }

    fn fifo_enabled(&self) -> bool {
        self.fcr & FCR_ENABLE != 0
    }

    fn dlab(&self) -> bool {
        self.lcr & LCR_DLAB != 0
    }

    /// Pulls host input into the receive FIFO.
    pub(super) fn poll(&mut self, backend: &dyn SerialBackend) {
        self.rx.fill_from(backend);
    }

    /// The highest-priority pending interrupt, as IIR bits 3:0.
    ///
    /// The character timeout needs a time base the model does not have; it is taken to
    /// have elapsed whenever data waits below the trigger level.
    fn pending(&self) -> u8 {
        let level = self.rx.len();
        if self.ier & IER_ELSI != 0 && self.lsr_errors != 0 {
            IIR_LINE_STATUS
        } else if self.ier & IER_ERBFI != 0 && level > 0 {
            if !self.fifo_enabled() || level >= trigger_level(self.fcr) {
                IIR_RX_DATA
            } else {
                IIR_RX_TIMEOUT
            }
        } else if self.ier & IER_ETBEI != 0 && self.thre_pending {
            IIR_THR_EMPTY
        } else if self.ier & IER_EDSSI != 0 && self.msr_deltas != 0 {
            IIR_MODEM_STATUS
        } else {
            IIR_NONE
        }
    }

    /// Whether the INTR output is asserted: some enabled cause is pending. MCR.OUT2 does
    /// not gate it (as in QEMU; see the module documentation).
    pub(super) fn irq_asserted(&self) -> bool {
        self.pending() != IIR_NONE
    }

    /// The modem status inputs. Outside loopback the line reads as connected; in loopback
    /// the outputs drive them (RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD).
    fn modem_inputs(&self) -> u8 {
        if self.mcr & MCR_LOOP == 0 {
            return MSR_CONNECTED;
        }
        [
            (MCR_RTS, MSR_CTS),
            (MCR_DTR, MSR_DSR),
            (MCR_OUT1, MSR_RI),
            (MCR_OUT2, MSR_DCD),
        ]
        .into_iter()
        .filter(|&(out, _)| self.mcr & out != 0)
        .fold(0, |bits, (_, input)| bits | input)
    }

    fn line_status(&mut self) -> u8 {
        let mut lsr = LSR_THRE | LSR_TEMT | self.lsr_errors;
        if !self.rx.is_empty() {
            lsr |= LSR_DR;
        }
        self.lsr_errors = 0;
        lsr
    }

    fn transmit(&mut self, byte: u8, backend: &dyn SerialBackend) {
        if self.mcr & MCR_LOOP != 0 {
            if !self.rx.push(u16::from(byte)) {
                self.lsr_errors |= LSR_OE;
            }
        } else {
            backend.transmit(byte);
        }
        // The character leaves at once, so THR is empty again.
        self.thre_pending = true;
    }

    /// Reads the byte register at `offset`. Host input is taken before and after, so a
    /// character waiting behind the one read is in the FIFO at once.
    pub(super) fn read(&mut self, offset: usize, backend: &dyn SerialBackend) -> u8 {
        self.poll(backend);
        let value = self.read_register(offset);
        self.poll(backend);
        value
    }

    fn read_register(&mut self, offset: usize) -> u8 {
        match offset {
            RBR_THR if self.dlab() => self.dll,
            RBR_THR => self.rx.pop().map_or(0, |entry| (entry & 0xff) as u8),
            IER if self.dlab() => self.dlm,
            IER => self.ier,
            IIR_FCR => {
                let id = self.pending();
                if id == IIR_THR_EMPTY {
                    self.thre_pending = false;
                }
                let fifo = if self.fifo_enabled() {
                    IIR_FIFO_ENABLED
                } else {
                    0
                };
                id | fifo
            }
            LCR => self.lcr,
            MCR => self.mcr,
            LSR => self.line_status(),
            MSR => {
                let msr = self.modem_inputs() | self.msr_deltas;
                self.msr_deltas = 0;
                msr
            }
            SCR => self.scr,
            _ => {
                log::debug!("ns16550: read of reserved offset {offset:#x}");
                0
            }
        }
    }

    /// Writes the byte register at `offset`.
    pub(super) fn write(&mut self, offset: usize, val: u8, backend: &dyn SerialBackend) {
        match offset {
            RBR_THR if self.dlab() => self.dll = val,
            RBR_THR => self.transmit(val, backend),
            IER if self.dlab() => self.dlm = val,
            IER => {
                let enabling_thre = val & IER_ETBEI != 0 && self.ier & IER_ETBEI == 0;
                self.ier = val & IER_WRITABLE;
                // Enabling the THR-empty interrupt while THR is empty raises it at once.
                if enabling_thre {
                    self.thre_pending = true;
                }
            }
            IIR_FCR => self.write_fcr(val),
            LCR => self.lcr = val,
            MCR => {
                let before = self.modem_inputs();
                self.mcr = val & MCR_WRITABLE;
                self.record_modem_changes(before, self.modem_inputs());
            }
            LSR | MSR => {
                log::debug!("ns16550: write {val:#x} to read-only offset {offset:#x} ignored")
            }
            SCR => self.scr = val,
            _ => log::debug!("ns16550: write {val:#x} to reserved offset {offset:#x} ignored"),
        }
        self.poll(backend);
    }

    fn write_fcr(&mut self, val: u8) {
        // Changing the FIFO enable bit empties the FIFOs.
        if (val ^ self.fcr) & FCR_ENABLE != 0 || val & FCR_RX_RESET != 0 {
            self.rx.clear();
        }
        self.fcr = val & FCR_STORED;
        self.rx
            .set_depth(if self.fifo_enabled() { FIFO_DEPTH } else { 1 });
    }

    fn record_modem_changes(&mut self, before: u8, after: u8) {
        let changed = before ^ after;
        for (input, delta) in [
            (MSR_CTS, MSR_DCTS),
            (MSR_DSR, MSR_DDSR),
            (MSR_DCD, MSR_DDCD),
        ] {
            if changed & input != 0 {
                self.msr_deltas |= delta;
            }
        }
        // TERI marks only the trailing edge of RI.
        if before & MSR_RI != 0 && after & MSR_RI == 0 {
            self.msr_deltas |= MSR_TERI;
        }
    }
}
