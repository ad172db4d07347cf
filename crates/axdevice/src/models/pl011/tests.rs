//! Per-register tests of the PL011 model, through its device interface.

use alloc::sync::Arc;

use axvm_types::{AccessWidth, AxVmErrorKind, GuestPhysAddr};

use super::{Pl011, regs::*};
use crate::{addr::MmioRange, testing::Line, traits::BaseDeviceOps};

const BASE: usize = 0x900_0000;

fn uart() -> (Pl011, Arc<Line>) {
    let line = Line::new();
    let range = MmioRange::from_raw(BASE, Pl011::FRAME_SIZE).unwrap();
    (Pl011::new("uart0", range, line.clone()), line)
}

fn read(uart: &Pl011, offset: usize) -> usize {
    uart.handle_read(GuestPhysAddr::from(BASE + offset), AccessWidth::Dword)
        .unwrap()
}

fn write(uart: &Pl011, offset: usize, val: usize) {
    uart.handle_write(GuestPhysAddr::from(BASE + offset), AccessWidth::Dword, val)
        .unwrap();
}

#[test]
fn reset_values() {
    let (uart, _) = uart();
    assert_eq!(read(&uart, FR), 0x90, "TXFE | RXFE");
    assert_eq!(read(&uart, CR), 0x300, "TXE | RXE");
    assert_eq!(read(&uart, IFLS), 0x12);
    for offset in [RSR_ECR, ILPR, IBRD, FBRD, LCR_H, IMSC, RIS, MIS, DMACR] {
        assert_eq!(read(&uart, offset), 0, "{offset:#x}");
    }
    assert!(!uart.irq_asserted());
}

#[test]
fn dr_write_transmits_and_raises_txris() {
    let (uart, line) = uart();
    write(&uart, DR, usize::from(b'h'));
    write(&uart, DR, 0x100 | usize::from(b'i'));
    assert_eq!(line.sent(), b"hi");
    assert_eq!(read(&uart, RIS), usize::from(INT_TX));
    assert!(!uart.irq_asserted(), "masked");
    write(&uart, IMSC, usize::from(INT_TX));
    assert!(uart.irq_asserted());
    assert_eq!(read(&uart, MIS), usize::from(INT_TX));
}

#[test]
fn dr_read_returns_host_input_and_fr_tracks_the_fifo() {
    let (uart, line) = uart();
    line.type_in(b"ab");
    // FIFO disabled: one holding register.
    assert_eq!(read(&uart, FR) & FR_RXFE as usize, 0);
    assert_ne!(read(&uart, FR) & FR_RXFF as usize, 0);
    assert_eq!(read(&uart, DR), usize::from(b'a'));
    assert_eq!(read(&uart, DR), usize::from(b'b'));
    assert_eq!(read(&uart, DR), 0, "empty FIFO reads 0");
    assert_ne!(read(&uart, FR) & FR_RXFE as usize, 0);
}

#[test]
fn rx_interrupt_follows_the_trigger_level() {
    let (uart, line) = uart();
    write(&uart, LCR_H, usize::from(LCR_H_FEN));
    write(&uart, IFLS, 0); // RX trigger at 1/8 = 4 entries
    write(&uart, IMSC, usize::from(INT_RX | INT_RT));
    line.type_in(b"abc");
    assert!(uart.poll());
    assert_eq!(
        read(&uart, RIS),
        usize::from(INT_RT),
        "below trigger: timeout"
    );
    line.type_in(b"d");
    uart.poll();
    assert_eq!(read(&uart, RIS), usize::from(INT_RX | INT_RT));
    read(&uart, DR);
    assert_eq!(read(&uart, RIS), usize::from(INT_RT), "below trigger again");
    for _ in 0..3 {
        read(&uart, DR);
    }
    assert_eq!(read(&uart, RIS), 0, "empty: timeout cleared");
    assert!(!uart.irq_asserted());
}

#[test]
fn data_left_below_the_trigger_times_out() {
    let (uart, line) = uart();
    write(&uart, LCR_H, usize::from(LCR_H_FEN));
    write(&uart, IFLS, 0); // RX trigger at 4 entries
    line.type_in(b"abcde");
    uart.poll();
    assert_eq!(read(&uart, RIS), usize::from(INT_RX));
    read(&uart, DR);
    read(&uart, DR);
    assert_eq!(
        read(&uart, RIS),
        usize::from(INT_RT),
        "3 left, below the trigger"
    );
    write(&uart, ICR, usize::from(INT_RT));
    assert_eq!(read(&uart, RIS), 0);
}

#[test]
fn fifo_holds_32_entries_when_enabled() {
    let (uart, line) = uart();
    write(&uart, LCR_H, usize::from(LCR_H_FEN));
    line.type_in(&[b'x'; 40]);
    assert_ne!(read(&uart, FR) & FR_RXFF as usize, 0);
    assert_eq!(line.input.lock().len(), 8);
    assert_eq!(read(&uart, LCR_H), usize::from(LCR_H_FEN));
}

#[test]
fn icr_clears_raw_status() {
    let (uart, _) = uart();
    write(&uart, DR, 0x41);
    write(&uart, ICR, usize::from(INT_TX));
    assert_eq!(read(&uart, RIS), 0);
    assert_eq!(read(&uart, ICR), 0, "write-only");
}

#[test]
fn imsc_keeps_eleven_bits() {
    let (uart, _) = uart();
    write(&uart, IMSC, 0xffff_ffff);
    assert_eq!(read(&uart, IMSC), usize::from(INT_ALL));
}

#[test]
fn loopback_feeds_the_receiver_and_overruns() {
    let (uart, line) = uart();
    write(&uart, CR, usize::from(CR_RESET | CR_LBE) | 1);
    write(&uart, DR, usize::from(b'1'));
    assert!(line.sent().is_empty());
    assert_eq!(read(&uart, FR) & FR_RXFE as usize, 0);
    write(&uart, DR, usize::from(b'2')); // holding register full: overrun
    assert_ne!(read(&uart, RIS) & usize::from(INT_OE), 0);
    assert_eq!(read(&uart, RSR_ECR), usize::from(RSR_OE));
    assert_eq!(read(&uart, DR), usize::from(b'1'));
    write(&uart, RSR_ECR, 0);
    assert_eq!(read(&uart, RSR_ECR), 0);
}

#[test]
fn loopback_drives_the_modem_inputs() {
    let (uart, _) = uart();
    assert_eq!(read(&uart, FR) & 0x107, 0, "inputs inactive");
    write(
        &uart,
        CR,
        usize::from(CR_LBE | CR_RTS | CR_DTR | CR_OUT1 | CR_OUT2),
    );
    assert_eq!(
        read(&uart, FR) & 0x107,
        (FR_CTS | FR_DSR | FR_DCD | FR_RI) as usize
    );
    assert_eq!(
        read(&uart, RIS),
        usize::from(INT_RIM | INT_CTSM | INT_DCDM | INT_DSRM)
    );
}

#[test]
fn cr_reserved_bits_read_zero() {
    let (uart, _) = uart();
    write(&uart, CR, 0xffff_ffff);
    assert_eq!(read(&uart, CR), usize::from(CR_WRITABLE));
}

#[test]
fn baud_and_line_registers_hold_their_width() {
    let (uart, _) = uart();
    write(&uart, IBRD, 0x1_2345);
    write(&uart, FBRD, 0xff);
    write(&uart, ILPR, 0x1ff);
    write(&uart, LCR_H, 0x1_70);
    write(&uart, IFLS, 0xff);
    assert_eq!(read(&uart, IBRD), 0x2345);
    assert_eq!(read(&uart, FBRD), 0x3f);
    assert_eq!(read(&uart, ILPR), 0xff);
    assert_eq!(read(&uart, LCR_H), 0x70);
    assert_eq!(read(&uart, IFLS), 0x3f);
}

#[test]
fn ris_and_mis_are_read_only() {
    let (uart, _) = uart();
    write(&uart, RIS, 0x7ff);
    write(&uart, MIS, 0x7ff);
    write(&uart, FR, 0);
    assert_eq!(read(&uart, RIS), 0);
    assert_eq!(read(&uart, FR), 0x90);
}

#[test]
fn identification_registers() {
    let (uart, _) = uart();
    let ids: alloc::vec::Vec<usize> = (0..8).map(|i| read(&uart, ID_BASE + 4 * i)).collect();
    assert_eq!(ids, [0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1]);
}

#[test]
fn unimplemented_and_reserved_offsets_read_zero_and_ignore_writes() {
    let (uart, _) = uart();
    for offset in [0x008, 0x01c, DMACR, 0x080, 0x08c, 0x100, 0xfdc] {
        write(&uart, offset, 0xffff_ffff);
        assert_eq!(read(&uart, offset), 0, "{offset:#x}");
    }
}

#[test]
fn narrow_accesses_use_byte_lanes() {
    let (uart, _) = uart();
    write(&uart, IBRD, 0xabcd);
    let at = |offset, width| uart.handle_read(GuestPhysAddr::from(BASE + offset), width);
    assert_eq!(at(IBRD, AccessWidth::Byte), Ok(0xcd));
    assert_eq!(at(IBRD + 1, AccessWidth::Byte), Ok(0xab));
    assert_eq!(at(IBRD, AccessWidth::Word), Ok(0xabcd));
    // A write to a non-zero byte lane is ignored.
    uart.handle_write(
        GuestPhysAddr::from(BASE + IBRD + 1),
        AccessWidth::Byte,
        0x11,
    )
    .unwrap();
    assert_eq!(read(&uart, IBRD), 0xabcd);
}

#[test]
fn qword_and_outside_accesses_are_errors() {
    let (uart, _) = uart();
    assert_eq!(
        uart.handle_read(GuestPhysAddr::from(BASE), AccessWidth::Qword),
        Err(AxVmErrorKind::InvalidInput.into())
    );
    assert_eq!(
        uart.handle_write(GuestPhysAddr::from(BASE + 0x1000), AccessWidth::Byte, 0),
        Err(AxVmErrorKind::BadAddress.into())
    );
}

/// Records every level driven onto each line.
#[derive(Default)]
struct Lines(spin::Mutex<alloc::vec::Vec<(u32, bool)>>);

impl crate::irq::IrqSink for Lines {
    fn set_level(&self, line: u32, asserted: bool) {
        self.0.lock().push((line, asserted));
    }
}

#[test]
fn the_interrupt_line_follows_the_output_and_changes_only_when_it_does() {
    let line = Line::new();
    let lines = Arc::new(Lines::default());
    let range = MmioRange::from_raw(BASE, Pl011::FRAME_SIZE).unwrap();
    let uart = Pl011::new("uart0", range, line.clone()).with_irq(lines.clone(), 33);
    assert_eq!(uart.irq_line(), Some(33));
    write(&uart, IMSC, usize::from(INT_RX | INT_RT));
    assert!(lines.0.lock().is_empty(), "still low");
    line.type_in(b"x");
    assert!(uart.poll());
    assert_eq!(*lines.0.lock(), [(33, true)]);
    assert!(uart.poll(), "no change: not driven again");
    assert_eq!(lines.0.lock().len(), 1);
    assert_eq!(read(&uart, DR), usize::from(b'x'));
    assert_eq!(
        *lines.0.lock(),
        [(33, true), (33, false)],
        "the read emptied the FIFO"
    );
    write(&uart, IMSC, usize::from(INT_TX));
    write(&uart, DR, usize::from(b'y'));
    assert_eq!(
        lines.0.lock().last(),
        Some(&(33, true)),
        "TX interrupt unmasked"
    );
    write(&uart, ICR, usize::from(INT_TX));
    assert_eq!(lines.0.lock().last(), Some(&(33, false)), "cleared by ICR");
}

#[test]
fn without_a_line_the_output_is_only_reported() {
    let (uart, line) = uart();
    assert_eq!(uart.irq_line(), None);
    write(&uart, IMSC, usize::from(INT_RX | INT_RT));
    line.type_in(b"z");
    assert!(uart.poll());
    assert!(uart.irq_asserted());
}

#[test]
fn the_bus_polls_host_input_into_the_uart_and_raises_its_line() {
    let line = Line::new();
    let lines = Arc::new(Lines::default());
    let range = MmioRange::from_raw(BASE, Pl011::FRAME_SIZE).unwrap();
    let uart = Arc::new(Pl011::new("uart0", range, line.clone()).with_irq(lines.clone(), 33));
    let mut devices = crate::AxVmDevices::empty();
    devices.add_mmio_dev(uart.clone()).unwrap();
    write(&uart, IMSC, usize::from(INT_RX | INT_RT));
    line.type_in(b"k");
    devices.poll_input();
    assert_eq!(*lines.0.lock(), [(33, true)], "raised with no guest access");
    assert_eq!(read(&uart, DR), usize::from(b'k'));
}
