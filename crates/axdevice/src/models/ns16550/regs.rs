//! NS16550A register offsets, bit fields and reset values (National Semiconductor PC16550D
//! datasheet).

/// RBR (read) / THR (write); DLL when LCR.DLAB is set.
pub(super) const RBR_THR: usize = 0;
/// IER; DLM when LCR.DLAB is set.
pub(super) const IER: usize = 1;
/// IIR (read) / FCR (write).
pub(super) const IIR_FCR: usize = 2;
/// Line control.
pub(super) const LCR: usize = 3;
/// Modem control.
pub(super) const MCR: usize = 4;
/// Line status.
pub(super) const LSR: usize = 5;
/// Modem status.
pub(super) const MSR: usize = 6;
/// Scratch.
pub(super) const SCR: usize = 7;

/// Receive FIFO depth of the 16550A.
pub(super) const FIFO_DEPTH: usize = 16;

/// IER bits: received data, THR empty, line status, modem status.
pub(super) const IER_ERBFI: u8 = 0x01;
pub(super) const IER_ETBEI: u8 = 0x02;
pub(super) const IER_ELSI: u8 = 0x04;
pub(super) const IER_EDSSI: u8 = 0x08;
pub(super) const IER_WRITABLE: u8 = 0x0f;

/// IIR values: nothing pending, then the sources by priority.
pub(super) const IIR_NONE: u8 = 0x01;
pub(super) const IIR_LINE_STATUS: u8 = 0x06;
pub(super) const IIR_RX_DATA: u8 = 0x04;
pub(super) const IIR_RX_TIMEOUT: u8 = 0x0c;
pub(super) const IIR_THR_EMPTY: u8 = 0x02;
pub(super) const IIR_MODEM_STATUS: u8 = 0x00;
/// IIR bits 7:6 read 1 when FIFOs are enabled.
pub(super) const IIR_FIFO_ENABLED: u8 = 0xc0;

/// FCR bits: FIFO enable, receive FIFO reset, transmit FIFO reset; bits 7:6 the trigger.
pub(super) const FCR_ENABLE: u8 = 0x01;
pub(super) const FCR_RX_RESET: u8 = 0x02;
/// What FCR keeps: enable, DMA mode (bit 3, stored without effect) and the trigger.
pub(super) const FCR_STORED: u8 = 0xc9;

/// LCR: divisor latch access.
pub(super) const LCR_DLAB: u8 = 0x80;

/// MCR bits: DTR, RTS, OUT1, OUT2, loopback.
pub(super) const MCR_DTR: u8 = 0x01;
pub(super) const MCR_RTS: u8 = 0x02;
pub(super) const MCR_OUT1: u8 = 0x04;
pub(super) const MCR_OUT2: u8 = 0x08;
pub(super) const MCR_LOOP: u8 = 0x10;
pub(super) const MCR_WRITABLE: u8 = 0x1f;

/// LSR bits: data ready, overrun, THR empty, transmitter empty.
pub(super) const LSR_DR: u8 = 0x01;
pub(super) const LSR_OE: u8 = 0x02;
pub(super) const LSR_THRE: u8 = 0x20;
pub(super) const LSR_TEMT: u8 = 0x40;

/// MSR bits: the four delta bits (low nibble) and CTS, DSR, RI, DCD.
pub(super) const MSR_DCTS: u8 = 0x01;
pub(super) const MSR_DDSR: u8 = 0x02;
pub(super) const MSR_TERI: u8 = 0x04;
pub(super) const MSR_DDCD: u8 = 0x08;
pub(super) const MSR_CTS: u8 = 0x10;
pub(super) const MSR_DSR: u8 = 0x20;
pub(super) const MSR_RI: u8 = 0x40;
pub(super) const MSR_DCD: u8 = 0x80;
/// Outside loopback the line reads as connected: CTS, DSR and DCD asserted.
pub(super) const MSR_CONNECTED: u8 = MSR_CTS | MSR_DSR | MSR_DCD;

/// The receive trigger level, in characters, that FCR bits 7:6 select.
pub(super) const fn trigger_level(fcr: u8) -> usize {
    match fcr >> 6 {
        0 => 1,
        1 => 4,
        2 => 8,
        _ => 14,
    }
}
