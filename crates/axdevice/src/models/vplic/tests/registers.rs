//! Every register of the window: reset values, writable bits, read-only and reserved
//! areas, and the access widths.

use axvm_types::{AccessWidth, AxVmErrorKind, EmulatedDeviceType, GuestPhysAddr};

use super::{CONTEXT, ENABLE, PENDING, plic, qemu_plic};
use crate::{irq::IrqSink, traits::BaseDeviceOps};

#[test]
fn everything_resets_to_zero() {
    let plic = plic(2, 63);
    for id in 0..=63 {
        assert_eq!(plic.r32(4 * id), 0, "priority {id}");
    }
    for word in 0..2 {
        assert_eq!(plic.r32(PENDING + 4 * word), 0);
        for context in 0..2 {
            assert_eq!(plic.r32(ENABLE + 0x80 * context + 4 * word), 0);
        }
    }
    for context in 0..2 {
        assert_eq!(plic.r32(CONTEXT + 0x1000 * context), 0, "threshold");
        assert_eq!(plic.claim(context), 0);
    }
}

#[test]
fn the_device_answers_in_its_window() {
    let plic = plic(1, 31);
    let device = &plic.plic;
    assert_eq!(device.emu_type(), EmulatedDeviceType::InterruptController);
    assert_eq!(device.address_range().start().as_usize(), 0x0c00_0000);
    assert_eq!(device.address_range().size(), 0x60_0000);
    assert_eq!(BaseDeviceOps::name(device.as_ref()), "plic");
    assert_eq!(
        device.handle_read(GuestPhysAddr::from(0x0c60_0000), AccessWidth::Dword),
        Err(AxVmErrorKind::BadAddress.into()),
        "past the window"
    );
}

#[test]
fn priorities_keep_three_bits_and_exist_for_sources_1_to_n() {
    let plic = plic(1, 40);
    plic.set_priority(1, 7);
    plic.set_priority(40, 0xffff_fffa);
    assert_eq!(plic.r32(4), 7);
    assert_eq!(plic.r32(4 * 40), 2, "WARL: the low 3 bits");
    plic.set_priority(0, 5);
    plic.set_priority(41, 5);
    plic.set_priority(1023, 5);
    assert_eq!(plic.r32(0), 0, "source 0 is reserved");
    assert_eq!(plic.r32(4 * 41), 0, "no source 41");
    assert_eq!(plic.r32(4 * 1023), 0);
}

#[test]
fn pending_bits_are_read_only() {
    let plic = plic(1, 63);
    plic.plic.set_level(33, true);
    plic.plic.set_level(2, true);
    assert_eq!(plic.r32(PENDING), 1 << 2);
    assert_eq!(plic.r32(PENDING + 4), 1 << 1);
    plic.w32(PENDING, 0);
    plic.w32(PENDING + 4, u32::MAX);
    assert_eq!(plic.r32(PENDING), 1 << 2, "writes ignored");
    assert_eq!(plic.r32(PENDING + 4), 1 << 1);
    assert_eq!(plic.r32(PENDING + 8), 0, "past the sources");
    assert_eq!(plic.r32(PENDING + 0x7c), 0);
}

#[test]
fn enable_bits_exist_for_sources_1_to_n() {
    let plic = plic(2, 40);
    plic.w32(ENABLE, u32::MAX);
    plic.w32(ENABLE + 4, u32::MAX);
    plic.w32(ENABLE + 8, u32::MAX);
    assert_eq!(plic.r32(ENABLE), !1, "source 0 is never enabled");
    assert_eq!(plic.r32(ENABLE + 4), 0x1ff, "sources 32-40");
    assert_eq!(plic.r32(ENABLE + 8), 0, "past the sources");
    assert_eq!(plic.r32(ENABLE + 0x80), 0, "context 1 is separate");
    plic.w32(ENABLE + 0x80 + 4, 0x100);
    assert_eq!(plic.r32(ENABLE + 0x80 + 4), 0x100);
    assert_eq!(plic.r32(ENABLE + 4), 0x1ff);
    plic.w32(ENABLE + 0x100, u32::MAX);
    assert_eq!(plic.r32(ENABLE + 0x100), 0, "no context 2");
}

#[test]
fn thresholds_keep_three_bits() {
    let plic = plic(2, 31);
    plic.set_threshold(0, 0xf);
    plic.set_threshold(1, 3);
    assert_eq!(plic.r32(CONTEXT), 7);
    assert_eq!(plic.r32(CONTEXT + 0x1000), 3);
}

#[test]
fn reserved_offsets_read_zero_and_ignore_writes() {
    let plic = plic(2, 31);
    for offset in [
        0x1080,
        0x1ffc,
        ENABLE + 0x100,
        0x1f_fffc,
        CONTEXT + 8,
        CONTEXT + 0xffc,
        CONTEXT + 0x2000,
        CONTEXT + 0x2004,
        0x5f_fffc,
    ] {
        plic.w32(offset, u32::MAX);
        assert_eq!(plic.r32(offset), 0, "{offset:#x}");
    }
    assert_eq!(plic.r32(CONTEXT), 0, "context 0's threshold untouched");
}

#[test]
fn only_aligned_32_bit_accesses_reach_a_register() {
    let plic = plic(1, 31);
    plic.set_priority(1, 1);
    plic.enable(0, &[1]);
    plic.plic.set_level(1, true);
    let claim = CONTEXT + 4;
    for (offset, width) in [
        (claim, AccessWidth::Byte),
        (claim, AccessWidth::Word),
        (claim + 1, AccessWidth::Byte),
        (claim + 2, AccessWidth::Word),
        (CONTEXT, AccessWidth::Qword),
        (claim + 1, AccessWidth::Dword),
    ] {
        assert_eq!(plic.read(offset, width), Ok(0), "{offset:#x} {width:?}");
        plic.write(offset, width, 0xff).unwrap();
    }
    assert!(plic.pending(1), "no narrow read claimed");
    assert_eq!(plic.r32(CONTEXT), 0, "no narrow write set the threshold");
    plic.write(4, AccessWidth::Byte, 7).unwrap();
    assert_eq!(plic.r32(4), 1, "no narrow write set a priority");
    assert_eq!(plic.claim(0), 1);
}

#[test]
fn machine_contexts_have_registers_in_qemu_layout() {
    let plic = qemu_plic(2, 31);
    for context in 0..4 {
        plic.set_threshold(context, context as u32);
        plic.w32(ENABLE + 0x80 * context, 1 << (context + 1));
    }
    for context in 0..4 {
        assert_eq!(plic.r32(CONTEXT + 0x1000 * context), context as u32);
        assert_eq!(plic.r32(ENABLE + 0x80 * context), 1 << (context + 1));
    }
    plic.set_threshold(4, 1);
    assert_eq!(plic.r32(CONTEXT + 0x4000), 0, "no context 4");
}
