//! The host's local APIC (xAPIC, memory-mapped at the architectural base, which
//! the boot stub's identity map covers): its id, start-up IPIs, NMI IPIs, the timer
//! and EOI.

/// The local APIC's physical (= virtual) base.
const BASE: usize = 0xfee0_0000;
const ID: usize = 0x20;
const EOI: usize = 0xb0;
const SPURIOUS: usize = 0xf0;
const ISR: usize = 0x100;
const ICR_LOW: usize = 0x300;
const ICR_HIGH: usize = 0x310;
const LVT_TIMER: usize = 0x320;
const TIMER_INITIAL: usize = 0x380;
const TIMER_DIVIDE: usize = 0x3e0;
/// SVR: APIC software enable, spurious vector 0xff.
const SVR_ENABLE: u32 = 1 << 8 | SPURIOUS_VECTOR as u32;
/// The spurious-interrupt vector (never acknowledged with an EOI).
pub const SPURIOUS_VECTOR: u64 = 0xff;
/// ICR: delivery status (send pending), level assert, NMI, INIT and start-up modes.
const ICR_PENDING: u32 = 1 << 12;
const ICR_ASSERT: u32 = 1 << 14;
const ICR_NMI: u32 = 0b100 << 8;
const ICR_INIT: u32 = 0b101 << 8;
const ICR_STARTUP: u32 = 0b110 << 8;
/// LVT: the mask bit.
const LVT_MASKED: u32 = 1 << 16;
/// Timer divide configuration: divide by 1.
const DIVIDE_BY_1: u32 = 0b1011;

fn read(register: usize) -> u32 {
    // SAFETY: a register of this CPU's local APIC, identity-mapped and used only
    // by the hypervisor; an aligned 32-bit read.
    unsafe { core::ptr::read_volatile((BASE + register) as *const u32) }
}

fn write(register: usize, value: u32) {
    // SAFETY: as `read`, an aligned 32-bit write.
    unsafe { core::ptr::write_volatile((BASE + register) as *mut u32, value) }
}

/// This CPU's local APIC id.
pub fn id() -> u64 {
    u64::from(read(ID) >> 24)
}

/// Software-enables this CPU's local APIC (the BIOS may leave it disabled), with
/// the timer masked.
pub fn enable() {
    write(LVT_TIMER, LVT_MASKED);
    write(SPURIOUS, SVR_ENABLE);
}

fn send(apic_id: u64, command: u32) {
    write(ICR_HIGH, (apic_id as u32) << 24);
    write(ICR_LOW, command);
    while read(ICR_LOW) & ICR_PENDING != 0 {
        core::hint::spin_loop();
    }
}

/// Sends INIT to the CPU with local APIC id `apic_id`.
pub fn send_init(apic_id: u64) {
    send(apic_id, ICR_INIT | ICR_ASSERT);
}

/// Sends an NMI to the CPU with local APIC id `apic_id` (the vector field is
/// ignored): it arrives even while that CPU runs with interrupts masked.
pub fn send_nmi(apic_id: u64) {
    send(apic_id, ICR_NMI | ICR_ASSERT);
}

/// Sends a start-up IPI for the real-mode page `page` (the CPU starts at
/// `page << 12`, CS = `page << 8`, IP = 0).
pub fn send_startup(apic_id: u64, page: u8) {
    send(apic_id, ICR_STARTUP | ICR_ASSERT | u32::from(page));
}

/// Arms the timer once: interrupt `vector` after `ticks` (bus clocks, divided by 1).
pub fn arm_timer(vector: u8, ticks: u32) {
    write(TIMER_DIVIDE, DIVIDE_BY_1);
    write(LVT_TIMER, u32::from(vector));
    write(TIMER_INITIAL, ticks);
}

/// Stops the timer and masks its interrupt.
pub fn disarm_timer() {
    write(LVT_TIMER, LVT_MASKED);
    write(TIMER_INITIAL, 0);
}

/// The highest vector in service (acknowledged, not yet ended), if any.
pub fn in_service() -> Option<u64> {
    (0..8usize).rev().find_map(|word| {
        let bits = read(ISR + word * 0x10);
        (bits != 0).then(|| (word as u64) * 32 + u64::from(31 - bits.leading_zeros()))
    })
}

/// Ends the interrupt in service.
pub fn end_of_interrupt() {
    write(EOI, 0);
}
