//! A minimal virtual local APIC (xAPIC, memory-mapped at [`APIC_BASE`]) per vCPU:
//! enough for a guest to learn its APIC id and to start other vCPUs with
//! INIT / start-up IPIs. There is no interrupt virtualization: no timer, no
//! IRR/ISR, fixed IPIs are logged and dropped.
//!
//! | Offset | Register | Read | Write |
//! |---|---|---|---|
//! | 0x020 | APIC ID | `vcpu_id << 24` | ignored |
//! | 0x030 | version | [`VERSION`] (0x14, 6 LVT entries) | ignored |
//! | 0x080, 0x0d0, 0x0e0, 0x0f0 | TPR, LDR, DFR, SVR | stored | stored |
//! | 0x280, 0x2f0, 0x320–0x370, 0x380, 0x3e0 | ESR, LVTs, timer initial count, divide | stored | stored |
//! | 0x0b0 | EOI | 0 | ignored |
//! | 0x300 | ICR low | stored, delivery status always idle | sends the IPI (below) |
//! | 0x310 | ICR high | stored | stored |
//! | anything else | reserved or read-only | 0 | ignored |
//!
//! Registers are 32 bits wide at 16-byte-aligned offsets: a read of another width
//! or offset returns the register's bytes from that offset (0 past the register);
//! a write that is not 32 bits wide at a register's offset is logged and ignored.
//!
//! IPIs (ICR low writes) with a physical destination (ICR high bits 31:24) and no
//! shorthand: INIT (delivery mode 0b101, level assert) is recorded for its target;
//! the first start-up IPI (0b110) after an INIT asks for the target to start at
//! `vector << 12` ([`IcrEffect::StartUp`], which the backend returns as
//! `CpuUp`); a start-up IPI without a pending INIT — the second of the MP
//! specification's INIT-SIPI-SIPI — is dropped, as a running CPU ignores it. INIT
//! does not reset a running target. Logical destinations, shorthands and every
//! other delivery mode are logged and dropped.

use crate::ratelimit::log_limited;
use axvm_types::AccessWidth;

/// The guest-physical base of the local APIC page.
pub const APIC_BASE: u64 = 0xfee0_0000;
/// The size of the local APIC page.
pub const APIC_SIZE: u64 = 0x1000;
/// The version register: version 0x14 (an integrated xAPIC), max LVT entry 5.
pub const VERSION: u32 = 0x0005_0014;

/// The APIC ID register.
pub const ID: u64 = 0x020;
/// The version register.
pub const VERSION_REG: u64 = 0x030;
/// The end-of-interrupt register.
pub const EOI: u64 = 0x0b0;
/// The interrupt command register, low half.
pub const ICR_LOW: u64 = 0x300;
/// The interrupt command register, high half (the destination).
pub const ICR_HIGH: u64 = 0x310;

/// ICR delivery mode INIT.
pub const DELIVERY_INIT: u32 = 0b101;
/// ICR delivery mode start-up.
pub const DELIVERY_STARTUP: u32 = 0b110;
/// ICR bit 11: logical destination mode.
const ICR_LOGICAL: u32 = 1 << 11;
/// ICR bit 12: delivery status (send pending).
const ICR_PENDING: u32 = 1 << 12;
/// ICR bit 14: level assert.
const ICR_ASSERT: u32 = 1 << 14;
/// ICR bit 15: level-triggered.
const ICR_LEVEL: u32 = 1 << 15;

/// Registers (by offset >> 4) that are stored and read back: TPR, LDR, DFR, SVR,
/// ESR, the LVTs, ICR, timer initial count and divide configuration.
const STORED: [u64; 16] = [
    0x08, 0x0d, 0x0e, 0x0f, 0x28, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x3e,
];

/// Whether guest-physical `gpa` is in the local APIC page.
#[must_use]
pub const fn contains(gpa: u64) -> bool {
    gpa >= APIC_BASE && gpa.wrapping_sub(APIC_BASE) < APIC_SIZE
}

/// What a write did beyond storing a register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcrEffect {
    /// Nothing more.
    None,
    /// A start-up IPI for the CPU with APIC id `target`, to begin in real mode at
    /// `vector << 12`.
    StartUp {
        /// The target's APIC id.
        target: u8,
        /// The start-up vector (the page of the entry point).
        vector: u8,
    },
}

/// The local APIC registers of one vCPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VLapic {
    id: u8,
    /// The registers by offset >> 4 (0x000..0x3f0).
    regs: [u32; 64],
    /// APIC ids that got an INIT and wait for their start-up IPI.
    init_pending: [u64; 4],
}

impl VLapic {
    /// The local APIC of the vCPU with APIC id `id`, in its reset state (LVTs
    /// masked, DFR flat, SVR 0xff).
    #[must_use]
    pub fn new(id: u8) -> Self {
        let mut regs = [0; 64];
        for (index, value) in regs.iter_mut().enumerate() {
            *value = match index {
                0x0e => u32::MAX,
                0x0f => 0xff,
                0x2f | 0x32..=0x37 => 1 << 16,
                _ => 0,
            };
        }
        Self {
            id,
            regs,
            init_pending: [0; 4],
        }
    }

    /// The APIC id.
    #[must_use]
    pub const fn id(&self) -> u8 {
        self.id
    }

    fn register(&self, index: u64) -> u32 {
        match index {
            0x02 => u32::from(self.id) << 24,
            0x03 => VERSION,
            0x30 => self.stored(index) & !ICR_PENDING,
            _ if STORED.contains(&index) => self.stored(index),
            _ => 0,
        }
    }

    fn stored(&self, index: u64) -> u32 {
        usize::try_from(index)
            .ok()
            .and_then(|index| self.regs.get(index))
            .copied()
            .unwrap_or(0)
    }

    /// A read of `width` at `offset` into the APIC page.
    #[must_use]
    pub fn read(&self, offset: u64, width: AccessWidth) -> u64 {
        let byte = offset & 0xf;
        if byte >= 4 {
            return 0;
        }
        (u64::from(self.register(offset >> 4)) >> byte.wrapping_mul(8)) & width.mask()
    }

    /// A write of `data` (`width` wide) at `offset` into the APIC page.
    pub fn write(&mut self, offset: u64, width: AccessWidth, data: u64) -> IcrEffect {
        let index = offset >> 4;
        if offset & 0xf != 0 || width != AccessWidth::Dword || index >= 0x40 {
            log_limited!(
                warn,
                "x86 vLAPIC {}: {width:?} write at offset {offset:#x} ignored",
                self.id
            );
            return IcrEffect::None;
        }
        let value = data as u32;
        if index == ICR_LOW >> 4 {
            self.set(index, value);
            return self.send(value);
        }
        if STORED.contains(&index) {
            self.set(index, value);
        }
        IcrEffect::None
    }

    fn set(&mut self, index: u64, value: u32) {
        if let Some(reg) = usize::try_from(index)
            .ok()
            .and_then(|index| self.regs.get_mut(index))
        {
            *reg = value;
        }
    }

    /// Sends the IPI of ICR low `icr` to the destination in ICR high.
    fn send(&mut self, icr: u32) -> IcrEffect {
        let mode = (icr >> 8) & 0b111;
        let shorthand = (icr >> 18) & 0b11;
        let target = (self.stored(ICR_HIGH >> 4) >> 24) as u8;
        if !matches!(mode, DELIVERY_INIT | DELIVERY_STARTUP)
            || shorthand != 0
            || icr & ICR_LOGICAL != 0
        {
            log_limited!(
                warn,
                "x86 vLAPIC {}: IPI {icr:#x} to {target:#x} dropped (only physical INIT and start-up IPIs are emulated)",
                self.id
            );
            return IcrEffect::None;
        }
        let word = usize::from(target / 64);
        let bit = 1u64 << (target % 64);
        let Some(pending) = self.init_pending.get_mut(word) else {
            return IcrEffect::None;
        };
        if mode == DELIVERY_INIT {
            // INIT level de-assert (level-triggered, assert clear) has no effect.
            if icr & ICR_LEVEL == 0 || icr & ICR_ASSERT != 0 {
                *pending |= bit;
            }
            return IcrEffect::None;
        }
        if *pending & bit == 0 {
            log_limited!(
                info,
                "x86 vLAPIC {}: start-up IPI to {target:#x} without a pending INIT dropped",
                self.id
            );
            return IcrEffect::None;
        }
        *pending &= !bit;
        IcrEffect::StartUp {
            target,
            vector: icr as u8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INIT: u64 = 0x4500;
    const SIPI: u64 = 0x4608;

    #[test]
    fn identity_and_reset_values() {
        let lapic = VLapic::new(3);
        assert_eq!(lapic.read(ID, AccessWidth::Dword), 3 << 24);
        assert_eq!(lapic.read(ID + 3, AccessWidth::Byte), 3);
        assert_eq!(lapic.read(VERSION_REG, AccessWidth::Dword), 0x0005_0014);
        assert_eq!(lapic.read(0xe0, AccessWidth::Dword), 0xffff_ffff);
        assert_eq!(lapic.read(0xf0, AccessWidth::Dword), 0xff);
        assert_eq!(lapic.read(0x320, AccessWidth::Dword), 1 << 16);
        assert_eq!(lapic.read(0x390, AccessWidth::Dword), 0);
        assert_eq!(lapic.read(ID + 4, AccessWidth::Dword), 0);
        assert!(contains(APIC_BASE) && contains(APIC_BASE + 0xfff));
        assert!(!contains(APIC_BASE - 1) && !contains(APIC_BASE + APIC_SIZE));
    }

    #[test]
    fn registers_are_stored_and_read_back() {
        let mut lapic = VLapic::new(0);
        for offset in [0x80, 0xd0, 0xe0, 0xf0, 0x2f0, 0x350, 0x380, 0x3e0, ICR_HIGH] {
            assert_eq!(
                lapic.write(offset, AccessWidth::Dword, 0x1_2345_0042),
                IcrEffect::None
            );
            assert_eq!(lapic.read(offset, AccessWidth::Dword), 0x2345_0042);
        }
        for offset in [ID, VERSION_REG, EOI, 0x390, 0x100] {
            let before = lapic.read(offset, AccessWidth::Dword);
            lapic.write(offset, AccessWidth::Dword, 0x77);
            assert_eq!(lapic.read(offset, AccessWidth::Dword), before);
        }
        // Not a 32-bit write at a register offset: ignored.
        lapic.write(0x80, AccessWidth::Byte, 0x11);
        lapic.write(0x84, AccessWidth::Dword, 0x11);
        lapic.write(0x80, AccessWidth::Qword, 0x11);
        assert_eq!(lapic.read(0x80, AccessWidth::Dword), 0x2345_0042);
    }

    #[test]
    fn init_then_startup_starts_the_target_once() {
        let mut lapic = VLapic::new(0);
        lapic.write(ICR_HIGH, AccessWidth::Dword, 1 << 24);
        assert_eq!(
            lapic.write(ICR_LOW, AccessWidth::Dword, SIPI),
            IcrEffect::None
        );
        assert_eq!(
            lapic.write(ICR_LOW, AccessWidth::Dword, INIT),
            IcrEffect::None
        );
        // INIT level de-assert changes nothing.
        assert_eq!(
            lapic.write(ICR_LOW, AccessWidth::Dword, 0x8500),
            IcrEffect::None
        );
        assert_eq!(
            lapic.write(ICR_LOW, AccessWidth::Dword, SIPI),
            IcrEffect::StartUp {
                target: 1,
                vector: 8
            }
        );
        assert_eq!(
            lapic.write(ICR_LOW, AccessWidth::Dword, SIPI),
            IcrEffect::None
        );
        assert_eq!(lapic.read(ICR_LOW, AccessWidth::Dword), SIPI & !0x1000);
        // Another target's INIT does not arm this one.
        lapic.write(ICR_HIGH, AccessWidth::Dword, 2 << 24);
        lapic.write(ICR_LOW, AccessWidth::Dword, INIT);
        lapic.write(ICR_HIGH, AccessWidth::Dword, 1 << 24);
        assert_eq!(
            lapic.write(ICR_LOW, AccessWidth::Dword, SIPI),
            IcrEffect::None
        );
    }

    #[test]
    fn other_ipis_are_dropped() {
        let mut lapic = VLapic::new(0);
        lapic.write(ICR_HIGH, AccessWidth::Dword, 1 << 24);
        for icr in [
            INIT | (0b11 << 18), // all excluding self
            INIT | (1 << 11),    // logical destination
            0x4030,              // fixed, vector 0x30
            0x4400,              // NMI
        ] {
            assert_eq!(
                lapic.write(ICR_LOW, AccessWidth::Dword, icr),
                IcrEffect::None
            );
        }
        assert_eq!(
            lapic.write(ICR_LOW, AccessWidth::Dword, SIPI),
            IcrEffect::None
        );
    }

    #[test]
    fn any_access_never_panics() {
        let mut lapic = VLapic::new(u8::MAX);
        let widths = [
            AccessWidth::Byte,
            AccessWidth::Word,
            AccessWidth::Dword,
            AccessWidth::Qword,
        ];
        for offset in (0..0x1010).chain([u64::MAX, u64::MAX - 3]) {
            for width in widths {
                let _ = lapic.read(offset, width);
                let _ = lapic.write(offset, width, u64::MAX);
                let _ = lapic.write(offset, width, 0x4600 | offset);
            }
        }
    }
}
