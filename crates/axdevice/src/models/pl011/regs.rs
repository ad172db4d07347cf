//! PL011 register offsets, bit fields and reset values (ARM PrimeCell UART PL011 TRM, r1p5).

/// Data register.
pub(super) const DR: usize = 0x000;
/// Receive status (read) / error clear (write).
pub(super) const RSR_ECR: usize = 0x004;
/// Flag register.
pub(super) const FR: usize = 0x018;
/// IrDA low-power counter.
pub(super) const ILPR: usize = 0x020;
/// Integer baud rate divisor.
pub(super) const IBRD: usize = 0x024;
/// Fractional baud rate divisor.
pub(super) const FBRD: usize = 0x028;
/// Line control.
pub(super) const LCR_H: usize = 0x02c;
/// Control.
pub(super) const CR: usize = 0x030;
/// Interrupt FIFO level select.
pub(super) const IFLS: usize = 0x034;
/// Interrupt mask set/clear.
pub(super) const IMSC: usize = 0x038;
/// Raw interrupt status.
pub(super) const RIS: usize = 0x03c;
/// Masked interrupt status.
pub(super) const MIS: usize = 0x040;
/// Interrupt clear.
pub(super) const ICR: usize = 0x044;
/// DMA control: not implemented (no DMA), reads its reset value 0.
pub(super) const DMACR: usize = 0x048;
/// First identification register (PeriphID0); eight follow, 4 bytes apart.
pub(super) const ID_BASE: usize = 0xfe0;

/// PeriphID0-3 then PCellID0-3: part 0x011, designer ARM (0x41), revision r1p5 (3);
/// the PrimeCell id 0xB105F00D.
pub(super) const ID_VALUES: [u8; 8] = [0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1];

/// Depth of each FIFO in r1p5.
pub(super) const FIFO_DEPTH: usize = 32;

/// RSR: overrun error.
pub(super) const RSR_OE: u8 = 0x8;

/// FR bits.
pub(super) const FR_CTS: u32 = 0x001;
pub(super) const FR_DSR: u32 = 0x002;
pub(super) const FR_DCD: u32 = 0x004;
pub(super) const FR_RXFE: u32 = 0x010;
pub(super) const FR_RXFF: u32 = 0x040;
pub(super) const FR_TXFE: u32 = 0x080;
pub(super) const FR_RI: u32 = 0x100;

/// LCR_H: FIFO enable.
pub(super) const LCR_H_FEN: u8 = 0x10;

/// CR bits.
pub(super) const CR_LBE: u16 = 0x0080;
pub(super) const CR_DTR: u16 = 0x0400;
pub(super) const CR_RTS: u16 = 0x0800;
pub(super) const CR_OUT1: u16 = 0x1000;
pub(super) const CR_OUT2: u16 = 0x2000;
/// CR bits 3-6 are reserved.
pub(super) const CR_WRITABLE: u16 = 0xff87;
/// CR reset: TXE and RXE set, UART disabled.
pub(super) const CR_RESET: u16 = 0x0300;

/// IFLS reset: both trigger levels at half full.
pub(super) const IFLS_RESET: u8 = 0x12;
pub(super) const IFLS_WRITABLE: u8 = 0x3f;

/// Interrupt bits, shared by IMSC, RIS, MIS and ICR.
pub(super) const INT_RIM: u16 = 0x001;
pub(super) const INT_CTSM: u16 = 0x002;
pub(super) const INT_DCDM: u16 = 0x004;
pub(super) const INT_DSRM: u16 = 0x008;
pub(super) const INT_RX: u16 = 0x010;
pub(super) const INT_TX: u16 = 0x020;
pub(super) const INT_RT: u16 = 0x040;
pub(super) const INT_OE: u16 = 0x400;
pub(super) const INT_ALL: u16 = 0x7ff;

/// FBRD holds 6 bits, IBRD 16.
pub(super) const FBRD_WRITABLE: u8 = 0x3f;

/// The FIFO fill level, in entries, that an IFLS field selects: 1/8, 1/4, 1/2, 3/4, 7/8.
/// The reserved encodings 0b101-0b111 act as 7/8 here.
pub(super) const fn trigger_level(field: u8) -> usize {
    match field & 0x7 {
        0 => FIFO_DEPTH / 8,
        1 => FIFO_DEPTH / 4,
        2 => FIFO_DEPTH / 2,
        3 => FIFO_DEPTH * 3 / 4,
        _ => FIFO_DEPTH * 7 / 8,
    }
}
