//! Per-register tests of the NS16550A model, as a port device and as an MMIO device.

mod interrupts;

use alloc::sync::Arc;

use axvm_types::{AccessWidth, AxVmErrorKind, GuestPhysAddr, Port};

use super::{Ns16550, regs::*};
use crate::{
    addr::{MmioRange, PortRange},
    testing::Line,
    traits::BaseDeviceOps,
};

const COM1: u16 = 0x3f8;

fn com1() -> (Ns16550<Port>, Arc<Line>) {
    let line = Line::new();
    let range = PortRange::new(Port(COM1), 8).unwrap();
    (Ns16550::new("com1", range, line.clone()), line)
}

fn inb(uart: &Ns16550<Port>, offset: usize) -> u8 {
    let port = Port(COM1 + offset as u16);
    uart.handle_read(port, AccessWidth::Byte).unwrap() as u8
}

fn outb(uart: &Ns16550<Port>, offset: usize, val: u8) {
    let port = Port(COM1 + offset as u16);
    uart.handle_write(port, AccessWidth::Byte, usize::from(val))
        .unwrap();
}

#[test]
fn reset_values() {
    let (uart, _) = com1();
    assert_eq!(inb(&uart, IER), 0);
    assert_eq!(inb(&uart, IIR_FCR), IIR_NONE);
    assert_eq!(inb(&uart, LCR), 0);
    assert_eq!(inb(&uart, MCR), 0);
    assert_eq!(inb(&uart, LSR), LSR_THRE | LSR_TEMT);
    assert_eq!(inb(&uart, MSR), MSR_CONNECTED);
    assert_eq!(inb(&uart, SCR), 0);
    assert!(!uart.irq_asserted());
}

#[test]
fn thr_transmits() {
    let (uart, line) = com1();
    for &byte in b"ok\n" {
        outb(&uart, RBR_THR, byte);
    }
    assert_eq!(line.sent(), b"ok\n");
}

#[test]
fn rbr_reads_input_and_lsr_reports_data_ready() {
    let (uart, line) = com1();
    line.type_in(b"xy");
    assert_ne!(inb(&uart, LSR) & LSR_DR, 0);
    assert_eq!(inb(&uart, RBR_THR), b'x');
    assert_eq!(inb(&uart, RBR_THR), b'y');
    assert_eq!(inb(&uart, LSR) & LSR_DR, 0);
    assert_eq!(inb(&uart, RBR_THR), 0);
}

#[test]
fn dlab_switches_offsets_0_and_1_to_the_divisor() {
    let (uart, line) = com1();
    outb(&uart, IER, IER_ERBFI);
    outb(&uart, LCR, LCR_DLAB | 0x03);
    outb(&uart, RBR_THR, 0x01); // DLL: 115200 baud
    outb(&uart, IER, 0x00); // DLM
    assert_eq!(inb(&uart, RBR_THR), 0x01);
    assert_eq!(inb(&uart, IER), 0x00);
    assert!(line.sent().is_empty(), "a DLL write is not data");
    outb(&uart, LCR, 0x03);
    assert_eq!(inb(&uart, IER), IER_ERBFI, "IER kept");
    assert_eq!(inb(&uart, LCR), 0x03);
}

#[test]
fn ier_keeps_four_bits() {
    let (uart, _) = com1();
    outb(&uart, IER, 0xff);
    assert_eq!(inb(&uart, IER), IER_WRITABLE);
}

#[test]
fn iir_reports_thr_empty_once_per_edge() {
    let (uart, _) = com1();
    outb(&uart, IER, IER_ETBEI);
    assert!(
        uart.irq_asserted(),
        "enabling ETBEI with THR empty raises it"
    );
    assert_eq!(inb(&uart, IIR_FCR), IIR_THR_EMPTY);
    assert_eq!(inb(&uart, IIR_FCR), IIR_NONE, "reading IIR cleared it");
    outb(&uart, RBR_THR, b'a');
    assert_eq!(
        inb(&uart, IIR_FCR),
        IIR_THR_EMPTY,
        "re-armed after a character"
    );
}

#[test]
fn iir_priorities_and_fifo_bits() {
    let (uart, line) = com1();
    outb(&uart, IIR_FCR, FCR_ENABLE | 0x40); // trigger at 4
    outb(&uart, IER, IER_ERBFI | IER_ETBEI | IER_ELSI | IER_EDSSI);
    line.type_in(b"ab");
    assert_eq!(inb(&uart, IIR_FCR), IIR_FIFO_ENABLED | IIR_RX_TIMEOUT);
    line.type_in(b"cd");
    assert_eq!(inb(&uart, IIR_FCR), IIR_FIFO_ENABLED | IIR_RX_DATA);
    for _ in 0..4 {
        inb(&uart, RBR_THR);
    }
    assert_eq!(inb(&uart, IIR_FCR), IIR_FIFO_ENABLED | IIR_THR_EMPTY);
    outb(&uart, MCR, MCR_LOOP);
    assert_eq!(inb(&uart, IIR_FCR), IIR_FIFO_ENABLED | IIR_MODEM_STATUS);
    inb(&uart, MSR);
    assert_eq!(inb(&uart, IIR_FCR), IIR_FIFO_ENABLED | IIR_NONE);
}

#[test]
fn fcr_sets_depth_and_resets_the_receive_fifo() {
    let (uart, line) = com1();
    line.type_in(&[b'z'; 20]);
    assert_eq!(inb(&uart, LSR) & LSR_DR, LSR_DR);
    assert_eq!(line.input.lock().len(), 19, "FIFO off: one character held");
    outb(&uart, IIR_FCR, FCR_ENABLE);
    // Enabling emptied the FIFO, then it refilled to 16.
    assert_eq!(line.input.lock().len(), 3);
    outb(&uart, IIR_FCR, FCR_ENABLE | FCR_RX_RESET);
    assert_eq!(line.input.lock().len(), 0);
    let mut read = 0;
    while inb(&uart, LSR) & LSR_DR != 0 {
        inb(&uart, RBR_THR);
        read += 1;
    }
    assert_eq!(read, 3);
}

#[test]
fn lsr_errors_clear_on_read_and_raise_line_status() {
    let (uart, _) = com1();
    outb(&uart, MCR, MCR_LOOP);
    outb(&uart, IER, IER_ELSI);
    outb(&uart, RBR_THR, b'1');
    outb(&uart, RBR_THR, b'2'); // holding register full
    assert_eq!(inb(&uart, IIR_FCR), IIR_LINE_STATUS);
    assert_eq!(inb(&uart, LSR), LSR_DR | LSR_OE | LSR_THRE | LSR_TEMT);
    assert_eq!(inb(&uart, LSR), LSR_DR | LSR_THRE | LSR_TEMT);
    assert_eq!(inb(&uart, RBR_THR), b'1');
}

#[test]
fn mcr_loopback_drives_msr_and_its_deltas() {
    let (uart, line) = com1();
    outb(&uart, MCR, 0xff);
    assert_eq!(inb(&uart, MCR), MCR_WRITABLE);
    // CTS, DSR and DCD stay asserted (no delta); RI rises (TERI marks only its fall).
    assert_eq!(inb(&uart, MSR), MSR_CTS | MSR_DSR | MSR_RI | MSR_DCD);
    outb(&uart, MCR, MCR_LOOP);
    assert_eq!(inb(&uart, MSR), MSR_TERI | MSR_DCTS | MSR_DDSR | MSR_DDCD);
    assert_eq!(inb(&uart, MSR), 0, "deltas clear on read");
    outb(&uart, RBR_THR, b'L');
    assert!(line.sent().is_empty());
    assert_eq!(inb(&uart, RBR_THR), b'L');
    // Linux's 8250 probe: loopback with OUT2 and RTS must read back CTS and DCD.
    outb(&uart, MCR, MCR_LOOP | MCR_OUT2 | MCR_RTS);
    assert_eq!(inb(&uart, MSR) & 0xf0, MSR_DCD | MSR_CTS);
}

#[test]
fn scr_is_a_plain_byte() {
    let (uart, _) = com1();
    outb(&uart, SCR, 0xa5);
    assert_eq!(inb(&uart, SCR), 0xa5);
}

#[test]
fn read_only_registers_ignore_writes() {
    let (uart, _) = com1();
    outb(&uart, LSR, 0);
    outb(&uart, MSR, 0);
    assert_eq!(inb(&uart, LSR), LSR_THRE | LSR_TEMT);
    assert_eq!(inb(&uart, MSR), MSR_CONNECTED);
}

#[test]
fn wide_accesses_split_into_bytes() {
    let (uart, line) = com1();
    outb(&uart, SCR, 0x77);
    // A 16-bit read at LSR reads LSR then MSR.
    let word = uart.handle_read(Port(COM1 + 5), AccessWidth::Word).unwrap();
    assert_eq!(
        word,
        usize::from(MSR_CONNECTED) << 8 | usize::from(LSR_THRE | LSR_TEMT)
    );
    // A 32-bit write from THR sends the low byte and sets IER, FCR and LCR.
    uart.handle_write(Port(COM1), AccessWidth::Dword, 0x03_01_00_41)
        .unwrap();
    assert_eq!(line.sent(), b"A");
    assert_eq!(inb(&uart, LCR), 0x03);
    assert_eq!(inb(&uart, IIR_FCR) & IIR_FIFO_ENABLED, IIR_FIFO_ENABLED);
    // A wide access running past the window is refused, not wrapped.
    assert_eq!(
        uart.handle_read(Port(COM1 + 6), AccessWidth::Dword),
        Err(AxVmErrorKind::BadAddress.into())
    );
}

#[test]
fn mmio_window_has_reserved_offsets_past_the_registers() {
    let line = Line::new();
    let range = MmioRange::from_raw(0x1000_0000, 0x100).unwrap();
    let uart = Ns16550::new("uart0", range, line.clone());
    let at = |offset: usize| GuestPhysAddr::from(0x1000_0000 + offset);
    uart.handle_write(at(0), AccessWidth::Byte, usize::from(b'r'))
        .unwrap();
    assert_eq!(line.sent(), b"r");
    assert_eq!(
        uart.handle_read(at(LSR), AccessWidth::Byte),
        Ok(usize::from(LSR_THRE | LSR_TEMT))
    );
    uart.handle_write(at(0x80), AccessWidth::Byte, 0xff)
        .unwrap();
    assert_eq!(uart.handle_read(at(0x80), AccessWidth::Byte), Ok(0));
    assert_eq!(
        uart.handle_read(at(0x100), AccessWidth::Byte),
        Err(AxVmErrorKind::BadAddress.into())
    );
}
