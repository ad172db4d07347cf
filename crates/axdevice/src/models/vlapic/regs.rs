//! Local APIC register offsets and bits (Intel SDM vol. 3A, table 11-1).

pub(super) const ID: u32 = 0x020;
pub(super) const VERSION: u32 = 0x030;
pub(super) const TPR: u32 = 0x080;
pub(super) const APR: u32 = 0x090;
pub(super) const PPR: u32 = 0x0a0;
pub(super) const EOI: u32 = 0x0b0;
pub(super) const LDR: u32 = 0x0d0;
pub(super) const DFR: u32 = 0x0e0;
pub(super) const SVR: u32 = 0x0f0;
pub(super) const ISR: u32 = 0x100;
pub(super) const TMR: u32 = 0x180;
pub(super) const IRR: u32 = 0x200;
pub(super) const ESR: u32 = 0x280;
pub(super) const ICR_LOW: u32 = 0x300;
pub(super) const ICR_HIGH: u32 = 0x310;
pub(super) const LVT_TIMER: u32 = 0x320;
pub(super) const LVT_ERROR: u32 = 0x370;
pub(super) const TIMER_INITIAL: u32 = 0x380;
pub(super) const TIMER_CURRENT: u32 = 0x390;
pub(super) const TIMER_DIVIDE: u32 = 0x3e0;

/// Version 0x14 (an integrated xAPIC), six LVT entries (max LVT entry 5), no EOI
/// broadcast suppression.
pub(super) const VERSION_VALUE: u32 = 0x0005_0014;
/// SVR: the spurious vector and the APIC software enable bit (focus checking and EOI
/// broadcast suppression are not offered).
pub(super) const SVR_ENABLE: u32 = 1 << 8;
pub(super) const SVR_WRITABLE: u32 = 0x1ff;
/// An LVT entry's mask bit.
pub(super) const LVT_MASKED: u32 = 1 << 16;
/// The timer LVT's modes (bits 18:17).
pub(super) const TIMER_PERIODIC: u32 = 0b01;
pub(super) const TIMER_TSC_DEADLINE: u32 = 0b10;
/// ESR bit 6: received illegal vector.
pub(super) const ESR_RECEIVE_ILLEGAL: u32 = 1 << 6;
/// ICR low: vector, delivery mode, destination mode, level, trigger mode, shorthand.
pub(super) const ICR_WRITABLE: u32 = 0x000c_cfff;
/// ICR low bit 12: delivery status (a send pending); reads idle.
pub(super) const ICR_PENDING: u32 = 1 << 12;
