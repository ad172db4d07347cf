//! GICR registers: the RD frame of each vCPU and its SGI frame.

use axvm_types::{AccessWidth, AxVmErrorKind};

use super::{SGI_FRAME, gic};

#[test]
fn typer_describes_each_vcpu_and_marks_the_last() {
    let gic = gic(3, 32);
    for vcpu in 0..3 {
        let typer = gic.r_read(vcpu, 0x8, AccessWidth::Qword).unwrap();
        assert_eq!(typer >> 32, vcpu, "Affinity_Value: Aff0 = vCPU id");
        assert_eq!((typer >> 8) & 0xffff, vcpu, "Processor_Number");
        assert_eq!(typer & 0x10 != 0, vcpu == 2, "Last");
        assert_eq!(typer & 0x1, 0, "no physical LPIs");
        assert_eq!(
            gic.r_read(vcpu, 0x8, AccessWidth::Dword),
            Ok(typer & 0xffff_ffff)
        );
        assert_eq!(gic.r_read(vcpu, 0xc, AccessWidth::Dword), Ok(typer >> 32));
    }
    gic.r_write(1, 0x8, AccessWidth::Qword, 0).unwrap();
    assert_eq!(gic.r_read(1, 0xc, AccessWidth::Dword), Ok(1), "read-only");
}

#[test]
fn linux_probe_reads_pidr2_and_typer_until_last() {
    // gic_iterate_rdists: each frame must say GICv3, the walk stops at Last.
    let gic = gic(4, 32);
    let mut frames = 0;
    loop {
        assert_eq!(gic.r_read(frames, 0xffe8, AccessWidth::Dword), Ok(0x3b));
        let typer = gic.r_read(frames, 0x8, AccessWidth::Qword).unwrap();
        frames += 1;
        if typer & 0x10 != 0 {
            break;
        }
    }
    assert_eq!(frames, 4);
    assert_eq!(
        gic.r_read(0, 0x4, AccessWidth::Dword),
        Ok(0x5800_043b),
        "IIDR"
    );
}

#[test]
fn waker_handshake() {
    let gic = gic(2, 32);
    assert_eq!(
        gic.r_read(0, 0x14, AccessWidth::Dword),
        Ok(0x6),
        "asleep at reset"
    );
    gic.r_write(0, 0x14, AccessWidth::Dword, 0).unwrap();
    assert_eq!(
        gic.r_read(0, 0x14, AccessWidth::Dword),
        Ok(0),
        "ChildrenAsleep follows"
    );
    assert_eq!(gic.r_read(1, 0x14, AccessWidth::Dword), Ok(0x6), "per vCPU");
    gic.r_write(0, 0x14, AccessWidth::Dword, 0x2).unwrap();
    assert_eq!(gic.r_read(0, 0x14, AccessWidth::Dword), Ok(0x6));
    gic.r_write(1, 0x14, AccessWidth::Dword, 0x4).unwrap();
    assert_eq!(
        gic.r_read(1, 0x14, AccessWidth::Dword),
        Ok(0),
        "ChildrenAsleep is read-only"
    );
}

#[test]
fn rd_frame_ctlr_and_lpi_registers_read_zero() {
    let gic = gic(1, 32);
    gic.r_write(0, 0x0, AccessWidth::Dword, 0xffff_ffff)
        .unwrap();
    assert_eq!(
        gic.r_read(0, 0x0, AccessWidth::Dword),
        Ok(0),
        "no EnableLPIs, RWP 0"
    );
    for offset in [0x10, 0x40, 0x48, 0x70, 0x78, 0xa0, 0xb0, 0xc0] {
        let width = if offset % 8 == 0 {
            AccessWidth::Qword
        } else {
            AccessWidth::Dword
        };
        gic.r_write(0, offset, width, usize::MAX).unwrap();
        assert_eq!(gic.r_read(0, offset, width), Ok(0), "{offset:#x}");
    }
}

#[test]
fn sgi_frame_registers_are_banked_per_vcpu() {
    let gic = gic(2, 32);
    assert_eq!(gic.sgi32(0, 0x80), 0xffff_ffff, "group 1 at reset");
    gic.set_sgi32(0, 0x80, 0xffff_0000);
    assert_eq!(gic.sgi32(0, 0x80), 0xffff_0000);
    assert_eq!(gic.sgi32(1, 0x80), 0xffff_ffff);
    gic.set_sgi32(1, 0x100, 0x0800_0001);
    assert_eq!(gic.sgi32(1, 0x100), 0x0800_0001);
    assert_eq!(gic.sgi32(0, 0x100), 0);
    gic.set_sgi32(1, 0x180, 0x1);
    assert_eq!(gic.sgi32(1, 0x180), 0x0800_0000);
    gic.set_sgi32(0, 0x200, 0x8000_0002);
    assert_eq!(gic.sgi32(0, 0x200), 0x8000_0002);
    gic.set_sgi32(0, 0x280, 0x2);
    assert_eq!(gic.sgi32(0, 0x280), 0x8000_0000);
    gic.set_sgi32(0, 0x300, 0x4);
    assert_eq!(gic.sgi32(0, 0x380), 0x4);
    gic.set_sgi32(0, 0x380, 0x4);
    assert_eq!(gic.sgi32(0, 0x300), 0);
    assert_eq!(gic.sgi32(0, 0x84), 0, "only register 0 of each bank exists");
    gic.set_sgi32(0, 0x104, 0xffff_ffff);
    assert_eq!(gic.sgi32(0, 0x104), 0);
}

#[test]
fn sgi_frame_priorities_and_configuration() {
    let gic = gic(1, 32);
    gic.set_sgi32(0, 0x418, 0xa0a0_a0a0);
    assert_eq!(gic.sgi32(0, 0x418), 0xa0a0_a0a0);
    gic.r_write(0, SGI_FRAME + 0x41b, AccessWidth::Byte, 0x80)
        .unwrap();
    assert_eq!(
        gic.r_read(0, SGI_FRAME + 0x41b, AccessWidth::Byte),
        Ok(0x80),
        "PPI 27"
    );
    assert_eq!(gic.sgi32(0, 0x420), 0, "IPRIORITYR8 and up are SPIs'");
    assert_eq!(gic.sgi32(0, 0xc00), 0xaaaa_aaaa, "SGIs are edge");
    gic.set_sgi32(0, 0xc00, 0);
    assert_eq!(gic.sgi32(0, 0xc00), 0xaaaa_aaaa, "ICFGR0 is read-only");
    assert_eq!(gic.sgi32(0, 0xc04), 0, "PPIs reset level");
    gic.set_sgi32(0, 0xc04, 0x0080_0000);
    assert_eq!(gic.sgi32(0, 0xc04), 0x0080_0000, "PPI 27 edge");
    gic.set_sgi32(0, 0xd00, 0xffff_ffff);
    assert_eq!(gic.sgi32(0, 0xd00), 0, "IGRPMODR0");
    gic.set_sgi32(0, 0xe00, 0xffff_ffff);
    assert_eq!(gic.sgi32(0, 0xe00), 0, "NSACR");
}

#[test]
fn accesses_past_the_last_vcpu_or_of_bad_width_fail() {
    let gic = gic(2, 32);
    assert_eq!(
        gic.r_read(2, 0x8, AccessWidth::Qword),
        Err(AxVmErrorKind::BadAddress.into())
    );
    let invalid = Err(AxVmErrorKind::InvalidInput.into());
    assert_eq!(gic.r_read(0, 0x14, AccessWidth::Word), invalid);
    assert_eq!(gic.r_read(0, 0x9, AccessWidth::Byte), invalid);
    assert_eq!(gic.r_read(0, 0xc, AccessWidth::Qword), invalid);
    assert_eq!(
        gic.r_read(0, SGI_FRAME + 0x100, AccessWidth::Qword),
        invalid
    );
    assert_eq!(gic.r_read(0, SGI_FRAME + 0x402, AccessWidth::Word), invalid);
}
