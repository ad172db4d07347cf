//! The interrupt output as Linux's 8250 driver drives it: the THR-empty handshake, the
//! receive interrupt, IER masking, and the line the UART drives into its sink.

use alloc::{sync::Arc, vec::Vec};

use axvm_types::{AccessWidth, GuestPhysAddr, Port};
use spin::Mutex;

use super::{COM1, inb, outb};
use crate::{
    addr::{MmioRange, PortRange},
    irq::IrqSink,
    models::ns16550::{Ns16550, regs::*},
    testing::Line,
    traits::BaseDeviceOps,
};

/// Records every level driven, and the last.
#[derive(Default)]
struct Levels(Mutex<Vec<(u32, bool)>>);

impl Levels {
    fn take(&self) -> Vec<(u32, bool)> {
        core::mem::take(&mut *self.0.lock())
    }
}

impl IrqSink for Levels {
    fn set_level(&self, line: u32, asserted: bool) {
        self.0.lock().push((line, asserted));
    }
}

/// COM1 with its interrupt wired to line 4.
fn wired() -> (Ns16550<Port>, Arc<Line>, Arc<Levels>) {
    let line = Line::new();
    let levels = Arc::new(Levels::default());
    let range = PortRange::new(Port(COM1), 8).unwrap();
    let uart = Ns16550::new("com1", range, line.clone()).with_irq(levels.clone(), 4);
    (uart, line, levels)
}

#[test]
fn the_8250_thre_handshake() {
    let (uart, line, levels) = wired();
    assert_eq!(uart.irq_line(), Some(4));
    outb(&uart, IIR_FCR, FCR_ENABLE);
    outb(&uart, IER, IER_ETBEI);
    assert_eq!(levels.take(), [(4, true)], "ETBEI 0 -> 1 with THR empty");
    assert_eq!(inb(&uart, IIR_FCR), IIR_FIFO_ENABLED | IIR_THR_EMPTY);
    assert_eq!(levels.take(), [(4, false)], "reading IIR cleared THRE");
    assert_eq!(inb(&uart, IIR_FCR), IIR_FIFO_ENABLED | IIR_NONE);
    outb(&uart, RBR_THR, b'h');
    assert_eq!(
        levels.take(),
        [(4, true)],
        "the character left: THR empty again"
    );
    assert_eq!(inb(&uart, IIR_FCR), IIR_FIFO_ENABLED | IIR_THR_EMPTY);
    outb(&uart, RBR_THR, b'i');
    // Nothing more to send: the driver stops transmitting by clearing ETBEI.
    outb(&uart, IER, 0);
    assert_eq!(levels.take(), [(4, false), (4, true), (4, false)]);
    assert_eq!(line.sent(), b"hi");
    // Re-enabling raises it again, though nothing was written meanwhile.
    outb(&uart, IER, IER_ETBEI);
    assert_eq!(inb(&uart, IIR_FCR), IIR_FIFO_ENABLED | IIR_THR_EMPTY);
    outb(&uart, IER, IER_ETBEI);
    assert_eq!(
        inb(&uart, IIR_FCR),
        IIR_FIFO_ENABLED | IIR_NONE,
        "no 0 -> 1 edge"
    );
}

#[test]
fn the_8250_startup_probe_sees_thre() {
    // serial8250_do_startup: IER = THRI, read IIR, IER = 0, IER = THRI, read IIR; a
    // port whose second read shows no interrupt is marked UART_BUG_TXEN.
    let (uart, _, _) = wired();
    outb(&uart, IER, IER_ETBEI);
    let first = inb(&uart, IIR_FCR);
    outb(&uart, IER, 0);
    outb(&uart, IER, IER_ETBEI);
    let second = inb(&uart, IIR_FCR);
    outb(&uart, IER, 0);
    assert_eq!((first, second), (IIR_THR_EMPTY, IIR_THR_EMPTY));
    assert_ne!(inb(&uart, LSR) & LSR_TEMT, 0);
}

#[test]
fn received_data_raises_the_line_until_read() {
    let (uart, line, levels) = wired();
    outb(&uart, IER, IER_ERBFI);
    assert!(levels.take().is_empty());
    line.type_in(b"ab");
    uart.poll_input();
    assert_eq!(levels.take(), [(4, true)], "the host's input arrived");
    assert_eq!(inb(&uart, IIR_FCR), IIR_RX_DATA);
    assert_eq!(inb(&uart, LSR) & LSR_DR, LSR_DR);
    assert_eq!(inb(&uart, RBR_THR), b'a');
    assert!(levels.take().is_empty(), "b came in behind it");
    assert_eq!(inb(&uart, RBR_THR), b'b');
    assert_eq!(levels.take(), [(4, false)]);
    assert_eq!(inb(&uart, LSR), LSR_THRE | LSR_TEMT);
    assert_eq!(inb(&uart, IIR_FCR), IIR_NONE);
}

#[test]
fn ier_masks_each_cause() {
    let (uart, line, levels) = wired();
    line.type_in(b"x");
    assert!(!uart.poll(), "data waits, ERBFI clear");
    assert!(levels.take().is_empty());
    assert_eq!(inb(&uart, IIR_FCR), IIR_NONE);
    outb(&uart, IER, IER_ERBFI);
    assert_eq!(levels.take(), [(4, true)]);
    outb(&uart, IER, 0);
    assert_eq!(levels.take(), [(4, false)]);
    // Line status has the highest priority: an overrun in loopback.
    outb(&uart, MCR, MCR_LOOP);
    outb(&uart, RBR_THR, b'y');
    outb(&uart, IER, IER_ELSI | IER_ERBFI | IER_ETBEI);
    assert_eq!(inb(&uart, IIR_FCR), IIR_LINE_STATUS);
    assert_eq!(inb(&uart, LSR) & (LSR_OE | LSR_DR), LSR_OE | LSR_DR);
    assert_eq!(inb(&uart, IIR_FCR), IIR_RX_DATA, "then received data");
    inb(&uart, RBR_THR);
    assert_eq!(inb(&uart, IIR_FCR), IIR_THR_EMPTY, "then THR empty");
    assert_eq!(inb(&uart, IIR_FCR), IIR_NONE);
    assert_eq!(levels.take().last(), Some(&(4, false)));
}

#[test]
fn out2_does_not_gate_the_output() {
    let (uart, _, levels) = wired();
    outb(&uart, MCR, MCR_DTR | MCR_RTS);
    outb(&uart, IER, IER_ETBEI);
    assert_eq!(
        levels.take(),
        [(4, true)],
        "OUT2 clear, as QEMU: raised anyway"
    );
    outb(&uart, MCR, MCR_DTR | MCR_RTS | MCR_OUT2);
    assert!(levels.take().is_empty());
}

#[test]
fn the_mmio_variant_drives_its_line_too() {
    let line = Line::new();
    let levels = Arc::new(Levels::default());
    let range = MmioRange::from_raw(0x1000_0000, 0x100).unwrap();
    let uart = Ns16550::new("uart0", range, line.clone()).with_irq(levels.clone(), 10);
    let at = |offset: usize| GuestPhysAddr::from(0x1000_0000 + offset);
    uart.handle_write(at(IER), AccessWidth::Byte, usize::from(IER_ERBFI))
        .unwrap();
    line.type_in(b"q");
    uart.poll_input();
    assert_eq!(levels.take(), [(10, true)]);
    assert_eq!(
        uart.handle_read(at(RBR_THR), AccessWidth::Byte),
        Ok(usize::from(b'q'))
    );
    assert_eq!(levels.take(), [(10, false)]);
}

#[test]
fn an_unwired_uart_reports_its_output_only() {
    let line = Line::new();
    let range = PortRange::new(Port(COM1), 8).unwrap();
    let uart = Ns16550::new("com1", range, line.clone());
    assert_eq!(uart.irq_line(), None);
    outb(&uart, IER, IER_ERBFI);
    line.type_in(b"z");
    assert!(uart.poll());
    assert!(uart.irq_asserted());
}
