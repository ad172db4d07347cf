//! GICD registers: read-back, reserved ranges, widths.

use axvm_types::{AccessWidth, AxVmErrorKind};

use super::gic;

#[test]
fn identification_and_type() {
    let gic = gic(4, 64);
    assert_eq!(gic.d32(0xffe8), 0x3b, "PIDR2: ArchRev 3");
    assert_eq!(gic.d32(0x8), 0x5800_043b, "IIDR");
    assert_eq!(gic.d32(0xc), 0, "TYPER2");
    let typer = gic.d32(0x4);
    assert_eq!(typer & 0x1f, 2, "ITLinesNumber: 96 INTIDs");
    assert_eq!((typer >> 5) & 0x7, 3, "CPUNumber: 4 vCPUs");
    assert_eq!((typer >> 19) & 0x1f, 9, "IDbits: 10 bits");
    assert_eq!(typer & (1 << 17), 0, "no LPIs");
    assert_ne!(typer & (1 << 26), 0, "RSS");
    assert_eq!(
        super::gic(64, 988).d32(0x4) & 0xff,
        0x1f | (7 << 5),
        "1020 INTIDs, 8+ CPUs"
    );
    assert_eq!(super::gic(1, 0).d32(0x4) & 0x1f, 0, "no SPIs");
}

#[test]
fn ctlr_holds_enable_grp1_with_are_and_ds_fixed() {
    let gic = gic(1, 32);
    assert_eq!(gic.d32(0), 0x50, "ARE | DS, disabled at reset");
    // What Linux writes: ARE_NS | EnableGrp1A | EnableGrp1 (as bits 4, 1, 0).
    gic.set_d32(0, 0x13);
    assert_eq!(
        gic.d32(0),
        0x52,
        "EnableGrp0 is not implemented; RWP reads 0"
    );
    gic.set_d32(0, 0);
    assert_eq!(gic.d32(0), 0x50, "ARE and DS cannot be cleared");
    gic.set_d32(0x4, 0);
    gic.set_d32(0xffe8, 0);
    assert_eq!(gic.d32(0xffe8), 0x3b, "read-only registers ignore writes");
}

#[test]
fn bit_registers_read_back_for_spis_and_ignore_private_and_missing_intids() {
    let gic = gic(1, 32);
    assert_eq!(gic.d32(0x84), 0xffff_ffff, "every SPI resets to group 1");
    gic.set_d32(0x84, 0x0000_ff00);
    assert_eq!(gic.d32(0x84), 0x0000_ff00);
    gic.set_d32(0x104, 0x8000_0001);
    gic.set_d32(0x104, 0x0000_0010);
    assert_eq!(gic.d32(0x104), 0x8000_0011, "ISENABLER sets");
    assert_eq!(gic.d32(0x184), 0x8000_0011, "ICENABLER reads the same");
    gic.set_d32(0x184, 0x0000_0001);
    assert_eq!(gic.d32(0x104), 0x8000_0010, "ICENABLER clears");
    gic.set_d32(0x204, 0x6);
    assert_eq!(gic.d32(0x204), 0x6, "ISPENDR");
    gic.set_d32(0x284, 0x2);
    assert_eq!(gic.d32(0x284), 0x4, "ICPENDR");
    gic.set_d32(0x304, 0x10);
    assert_eq!(gic.d32(0x304), 0x10, "ISACTIVER");
    gic.set_d32(0x384, 0x10);
    assert_eq!(gic.d32(0x384), 0, "ICACTIVER");
    for bank in [0x080, 0x100, 0x180, 0x200, 0x280, 0x300, 0x380] {
        gic.set_d32(bank, 0xffff_ffff);
        assert_eq!(
            gic.d32(bank),
            0,
            "{bank:#x}: INTIDs 0-31 are reserved with ARE"
        );
        gic.set_d32(bank + 8, 0xffff_ffff);
        assert_eq!(
            gic.d32(bank + 8),
            0,
            "{bank:#x}: INTIDs 64-95 are not implemented"
        );
    }
}

#[test]
fn priorities_take_byte_and_word_accesses() {
    let gic = gic(1, 32);
    gic.set_d32(0x420, 0x4030_2010);
    assert_eq!(gic.d32(0x420), 0x4030_2010);
    assert_eq!(gic.d_read(0x422, AccessWidth::Byte), Ok(0x30));
    gic.d_write(0x423, AccessWidth::Byte, 0xa0).unwrap();
    assert_eq!(gic.d32(0x420), 0xa030_2010);
    assert_eq!(gic.d_read(0x43f, AccessWidth::Byte), Ok(0));
    gic.set_d32(0x400, 0xffff_ffff);
    assert_eq!(
        gic.d32(0x400),
        0,
        "SGI priorities live in the redistributor"
    );
    gic.set_d32(0x440, 0xffff_ffff);
    assert_eq!(gic.d32(0x440), 0, "INTID 64 is not implemented");
    assert_eq!(gic.d_read(0x7fc, AccessWidth::Dword), Ok(0));
}

#[test]
fn icfgr_sets_edge_or_level_per_spi() {
    let gic = gic(1, 32);
    assert_eq!(gic.d32(0xc08), 0, "SPIs reset level-sensitive");
    gic.set_d32(0xc08, 0xffff_ffff);
    assert_eq!(
        gic.d32(0xc08),
        0xaaaa_aaaa,
        "only the upper bit of each field"
    );
    gic.set_d32(0xc0c, 0x0000_0008);
    assert_eq!(gic.d32(0xc0c), 0x8);
    assert_eq!(gic.d32(0xc00), 0, "ICFGR0 is reserved in the distributor");
    assert_eq!(gic.d32(0xc04), 0, "ICFGR1 too");
}

#[test]
fn irouter_takes_64_bit_and_32_bit_halves() {
    let gic = gic(2, 32);
    let router = 0x6000 + 8 * 40;
    assert_eq!(gic.d_read(router, AccessWidth::Qword), Ok(0));
    gic.d_write(router, AccessWidth::Qword, 0xffff_ffff_ffff_ffff)
        .unwrap();
    assert_eq!(
        gic.d_read(router, AccessWidth::Qword),
        Ok(0x0000_00ff_80ff_ffff),
        "Aff3, IRM, Aff2-Aff0"
    );
    gic.d_write(router, AccessWidth::Dword, 1).unwrap();
    gic.d_write(router + 4, AccessWidth::Dword, 0).unwrap();
    assert_eq!(gic.d_read(router, AccessWidth::Qword), Ok(1));
    assert_eq!(gic.d_read(router + 4, AccessWidth::Dword), Ok(0));
    gic.d_write(router + 4, AccessWidth::Dword, 0x12).unwrap();
    assert_eq!(gic.d_read(router + 4, AccessWidth::Dword), Ok(0x12));
    assert_eq!(gic.d_read(router, AccessWidth::Dword), Ok(1));
    gic.d_write(0x6000 + 8 * 31, AccessWidth::Qword, 1).unwrap();
    assert_eq!(
        gic.d_read(0x6000 + 8 * 31, AccessWidth::Qword),
        Ok(0),
        "no IROUTER31"
    );
    gic.d_write(0x6000 + 8 * 64, AccessWidth::Qword, 1).unwrap();
    assert_eq!(
        gic.d_read(0x6000 + 8 * 64, AccessWidth::Qword),
        Ok(0),
        "INTID 64: none"
    );
}

#[test]
fn reserved_offsets_read_zero_and_ignore_writes() {
    let gic = gic(1, 32);
    for offset in [
        0x10, 0x40, 0x800, 0x820, 0xd00, 0xe00, 0xf00, 0xf10, 0x5000, 0xffe0, 0xfffc,
    ] {
        gic.set_d32(offset, 0xffff_ffff);
        assert_eq!(gic.d32(offset), 0, "{offset:#x}");
    }
    assert_eq!(gic.d_read(0x8000, AccessWidth::Qword), Ok(0));
}

#[test]
fn bad_widths_and_alignment_are_errors_not_panics() {
    let gic = gic(1, 32);
    let invalid = Err(AxVmErrorKind::InvalidInput.into());
    assert_eq!(gic.d_read(0, AccessWidth::Byte), invalid);
    assert_eq!(gic.d_read(0, AccessWidth::Word), invalid);
    assert_eq!(gic.d_read(0, AccessWidth::Qword), invalid);
    assert_eq!(gic.d_read(0x104, AccessWidth::Byte), invalid);
    assert!(gic.d_write(0x102, AccessWidth::Word, 0).is_err());
    assert_eq!(gic.d_read(0x421, AccessWidth::Word), invalid);
    assert_eq!(gic.d_read(0x6104, AccessWidth::Qword), invalid);
    assert_eq!(gic.d_read(0x6101, AccessWidth::Byte), invalid);
    assert_eq!(gic.d_read(0x0011, AccessWidth::Dword), invalid);
    assert_eq!(
        gic.d_read(0x0001, AccessWidth::Byte),
        invalid,
        "inside CTLR"
    );
    assert_eq!(
        gic.d_read(0xffe9, AccessWidth::Byte),
        invalid,
        "inside PIDR2"
    );
    assert_eq!(
        gic.d_read(0x1_0000, AccessWidth::Dword),
        Err(AxVmErrorKind::BadAddress.into()),
        "outside the window"
    );
}
