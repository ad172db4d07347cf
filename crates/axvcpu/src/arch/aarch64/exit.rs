//! Decoding of a synchronous exception taken from the guest to EL2 (`ESR_EL2`,
//! `FAR_EL2`, `HPFAR_EL2` and the guest's registers) into an [`AxVCpuExitReason`],
//! with the PSCI calls the backend answers itself.
//!
//! Everything here is pure: it reads and edits a [`TrapFrame`] and is unit-tested on
//! any host. Field layouts follow the Arm Architecture Reference Manual (DDI 0487),
//! section D24.2 (`ESR_EL2`) and the PSCI specification (DEN 0022).

use axvm_types::{AccessWidth, AxVmError, AxVmResult, GuestPhysAddr, MappingFlags, SysRegAddr};

pub mod smccc;
mod sysreg;

pub use self::sysreg::{OSLSR_EL1_GUEST, SysRegAnswer, classify, id_mask, sanitise_id};
use super::context::TrapFrame;
use crate::{AxVCpuExitReason, ratelimit::log_limited};

/// Exception classes (`ESR_EL2.EC`, bits \[31:26\]) the backend knows.
pub mod ec {
    /// Unknown reason (for example an undefined instruction).
    pub const UNKNOWN: u64 = 0x00;
    /// A trapped WFI or WFE (HCR_EL2.TWI / TWE).
    pub const WFX: u64 = 0x01;
    /// FP/SIMD access trapped by CPTR_EL2.
    pub const FP_ACCESS: u64 = 0x07;
    /// HVC from AArch32.
    pub const HVC32: u64 = 0x12;
    /// SMC from AArch32.
    pub const SMC32: u64 = 0x13;
    /// HVC from AArch64.
    pub const HVC64: u64 = 0x16;
    /// SMC from AArch64, trapped by HCR_EL2.TSC.
    pub const SMC64: u64 = 0x17;
    /// A trapped MSR, MRS or system instruction from AArch64.
    pub const SYSREG: u64 = 0x18;
    /// An instruction abort from a lower exception level.
    pub const IABT_LOWER: u64 = 0x20;
    /// A data abort from a lower exception level.
    pub const DABT_LOWER: u64 = 0x24;
    /// An SError interrupt.
    pub const SERROR: u64 = 0x2f;
}

/// `ESR_EL2.IL`: the trapped instruction was 32 bits long.
pub const ESR_IL: u64 = 1 << 25;

/// Data abort ISS: the syndrome (SAS, SSE, SRT, SF, AR) is valid.
pub const DABT_ISV: u64 = 1 << 24;
/// Data abort ISS: the access was sign-extended.
pub const DABT_SSE: u64 = 1 << 21;
/// Data abort ISS: the destination register is 64 bits wide.
pub const DABT_SF: u64 = 1 << 15;
/// Data abort ISS: the fault happened on a stage-1 page-table walk.
pub const DABT_S1PTW: u64 = 1 << 7;
/// Data abort ISS: the access was a write.
pub const DABT_WNR: u64 = 1 << 6;

/// The bits of a trapped MSR/MRS ISS that name the register: Op0 \[21:20\],
/// Op2 \[19:17\], Op1 \[16:14\], CRn \[13:10\] and CRm \[4:1\] (without Rt and
/// the direction). [`AxVCpuExitReason::SysRegRead`] / `SysRegWrite` carry these bits
/// as their [`SysRegAddr`].
pub const SYSREG_ADDR_MASK: u64 = 0x003f_fc1e;

/// `HPFAR_EL2.FIPA`: bits \[47:4\] hold bits \[55:12\] of the faulting IPA.
const HPFAR_FIPA_MASK: u64 = 0x0000_ffff_ffff_fff0;

/// The [`SysRegAddr`] of the system register `op0, op1, CRn, CRm, op2`, as a trapped
/// access reports it. Out-of-range fields are cut to their width.
///
/// ```
/// use axvcpu::arch::aarch64::sysreg_addr;
/// // CNTPCT_EL0 is S3_3_C14_C0_1.
/// assert_eq!(sysreg_addr(3, 3, 14, 0, 1).addr(), 0x0032_f800);
/// ```
#[must_use]
pub const fn sysreg_addr(op0: u8, op1: u8, crn: u8, crm: u8, op2: u8) -> SysRegAddr {
    let iss = ((op0 as usize & 0x3) << 20)
        | ((op2 as usize & 0x7) << 17)
        | ((op1 as usize & 0x7) << 14)
        | ((crn as usize & 0xf) << 10)
        | ((crm as usize & 0xf) << 1);
    SysRegAddr(iss)
}

/// A raw `ESR_EL2` value with accessors for its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Esr(pub u64);

impl Esr {
    /// The exception class, bits \[31:26\].
    #[must_use]
    pub const fn ec(self) -> u64 {
        (self.0 >> 26) & 0x3f
    }

    /// The instruction-specific syndrome, bits \[24:0\].
    #[must_use]
    pub const fn iss(self) -> u64 {
        self.0 & 0x01ff_ffff
    }

    /// The length in bytes of the trapped instruction: 4, or 2 when `IL` is clear
    /// (a 16-bit T32 instruction).
    #[must_use]
    pub const fn instruction_len(self) -> u64 {
        if self.0 & ESR_IL == 0 { 2 } else { 4 }
    }

    /// The fault status code of an abort (DFSC / IFSC, bits \[5:0\]).
    #[must_use]
    pub const fn fault_status(self) -> u64 {
        self.0 & 0x3f
    }
}

/// Whether an abort's fault status code is a stage-2 fault the hypervisor can
/// resolve or emulate: a translation fault (levels -1 to 3), an access-flag fault or a
/// permission fault. Address-size faults, external aborts, alignment faults and TLB
/// conflicts are not.
#[must_use]
pub const fn is_nested_fault(fault_status: u64) -> bool {
    matches!(fault_status, 0x04..=0x0f | 0x2b)
}

/// The faulting guest physical address of a stage-2 abort: the page from
/// `HPFAR_EL2.FIPA`, the offset in the page from `FAR_EL2`.
#[must_use]
pub const fn fault_ipa(far: u64, hpfar: u64) -> u64 {
    ((hpfar & HPFAR_FIPA_MASK) << 8) | (far & 0xfff)
}

/// PSCI function identifiers (DEN 0022), in their SMC32 form; `_64` are the SMC64
/// forms.
pub mod psci {
    /// PSCI_VERSION.
    pub const VERSION: u32 = 0x8400_0000;
    /// CPU_SUSPEND (SMC32).
    pub const CPU_SUSPEND: u32 = 0x8400_0001;
    /// CPU_OFF.
    pub const CPU_OFF: u32 = 0x8400_0002;
    /// CPU_ON (SMC32).
    pub const CPU_ON: u32 = 0x8400_0003;
    /// CPU_ON (SMC64).
    pub const CPU_ON_64: u32 = 0xc400_0003;
    /// AFFINITY_INFO (SMC32).
    pub const AFFINITY_INFO: u32 = 0x8400_0004;
    /// MIGRATE_INFO_TYPE.
    pub const MIGRATE_INFO_TYPE: u32 = 0x8400_0006;
    /// SYSTEM_OFF.
    pub const SYSTEM_OFF: u32 = 0x8400_0008;
    /// SYSTEM_RESET.
    pub const SYSTEM_RESET: u32 = 0x8400_0009;
    /// PSCI_FEATURES.
    pub const FEATURES: u32 = 0x8400_000a;

    /// The version the backend reports: PSCI 1.0 (major in bits \[31:16\]).
    pub const VERSION_1_0: u64 = 0x0001_0000;
    /// Return code SUCCESS.
    pub const SUCCESS: u64 = 0;
    /// Return code NOT_SUPPORTED (-1), also SMCCC's "unknown function".
    pub const NOT_SUPPORTED: u64 = u64::MAX;
    /// MIGRATE_INFO_TYPE's answer: no Trusted OS, migration not required.
    pub const TOS_NOT_PRESENT_MP: u64 = 2;

    /// Whether `fid` is in a PSCI function range (0x8400_0000–0x8400_001f or
    /// 0xc400_0000–0xc400_001f).
    #[must_use]
    pub const fn is_psci(fid: u64) -> bool {
        matches!(fid, 0x8400_0000..=0x8400_001f | 0xc400_0000..=0xc400_001f)
    }

    /// Whether the backend (with the hypervisor behind it) implements `fid`: the
    /// answer PSCI_FEATURES gives.
    #[must_use]
    pub const fn is_supported(fid: u64) -> bool {
        matches!(
            fid,
            0x8000_0000 // SMCCC_VERSION (see `smccc`)
                | 0x8400_0000 // VERSION
                | 0x8400_0002 // CPU_OFF
                | 0x8400_0003 | 0xc400_0003 // CPU_ON
                | 0x8400_0006 // MIGRATE_INFO_TYPE
                | 0x8400_0008 // SYSTEM_OFF
                | 0x8400_0009 // SYSTEM_RESET
                | 0x8400_000a // FEATURES
        )
    }
}

/// How the guest called: HVC (a hypercall unless PSCI) or a trapped SMC (PSCI or
/// nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conduit {
    Hvc,
    Smc,
}

/// Decodes a synchronous exception from the guest whose syndrome is in
/// `frame.esr` / `frame.far` / `frame.hpfar`, editing the guest registers as the
/// behaviour table of the crate README says (PSCI answers in `x0`, the PC moved past
/// a trapped SMC or WFI/WFE).
///
/// [`AxVCpuExitReason::Nothing`] means the backend handled the exception itself (a
/// PSCI query, an unsupported SMC) and the guest simply continues: `run` enters it
/// again without returning.
///
/// # Errors
///
/// `BadAddress` for an abort that is not a stage-2 translation, access-flag or
/// permission fault; `Unsupported` for an exception class the backend does not
/// handle (AArch32 calls, FP traps, undefined instructions...). Each error is logged.
pub fn decode_sync(
    frame: &mut TrapFrame,
    read_id: impl FnOnce(u8, u8) -> u64,
) -> AxVmResult<AxVCpuExitReason> {
    let esr = Esr(frame.esr);
    match esr.ec() {
        ec::DABT_LOWER => data_abort(frame, esr),
        ec::IABT_LOWER => instruction_abort(frame, esr),
        ec::HVC64 => Ok(call(frame, Conduit::Hvc)),
        ec::SMC64 => {
            // A trapped SMC leaves ELR_EL2 on the SMC itself.
            skip(frame, esr);
            Ok(call(frame, Conduit::Smc))
        }
        ec::WFX => {
            skip(frame, esr);
            Ok(AxVCpuExitReason::Halt)
        }
        ec::SYSREG => Ok(sysreg(frame, esr, read_id)),
        class => {
            log_limited!(
                error,
                "aarch64 vCPU: unhandled exception class {class:#x} (ESR_EL2 {:#x}) at guest PC {:#x}",
                esr.0,
                frame.elr
            );
            Err(AxVmError::Unsupported)
        }
    }
}

/// Moves the guest PC past the instruction `esr` reports.
pub(crate) fn skip(frame: &mut TrapFrame, esr: Esr) {
    frame.elr = frame.elr.wrapping_add(esr.instruction_len());
}

fn data_abort(frame: &TrapFrame, esr: Esr) -> AxVmResult<AxVCpuExitReason> {
    let iss = esr.iss();
    if !is_nested_fault(esr.fault_status()) {
        log_limited!(
            error,
            "aarch64 vCPU: data abort without a usable syndrome (ESR_EL2 {:#x}, FAR {:#x}) at guest PC {:#x}",
            esr.0,
            frame.far,
            frame.elr
        );
        return Err(AxVmError::BadAddress);
    }
    let addr = GuestPhysAddr::from(fault_ipa(frame.far, frame.hpfar) as usize);
    let write = iss & DABT_WNR != 0;
    if iss & DABT_ISV == 0 || iss & DABT_S1PTW != 0 {
        let access_flags = if write {
            MappingFlags::WRITE
        } else {
            MappingFlags::READ
        };
        return Ok(AxVCpuExitReason::NestedPageFault { addr, access_flags });
    }
    let width = match (iss >> 22) & 0x3 {
        0 => AccessWidth::Byte,
        1 => AccessWidth::Word,
        2 => AccessWidth::Dword,
        _ => AccessWidth::Qword,
    };
    let reg = ((iss >> 16) & 0x1f) as usize;
    if write {
        Ok(AxVCpuExitReason::MmioWrite {
            addr,
            width,
            data: frame.gpr(reg) & width.mask(),
        })
    } else {
        Ok(AxVCpuExitReason::MmioRead {
            addr,
            width,
            reg,
            reg_width: if iss & DABT_SF == 0 {
                AccessWidth::Dword
            } else {
                AccessWidth::Qword
            },
            signed_ext: iss & DABT_SSE != 0,
        })
    }
}

fn instruction_abort(frame: &TrapFrame, esr: Esr) -> AxVmResult<AxVCpuExitReason> {
    if !is_nested_fault(esr.fault_status()) {
        log_limited!(
            error,
            "aarch64 vCPU: instruction abort (ESR_EL2 {:#x}, FAR {:#x}) at guest PC {:#x}",
            esr.0,
            frame.far,
            frame.elr
        );
        return Err(AxVmError::BadAddress);
    }
    Ok(AxVCpuExitReason::NestedPageFault {
        addr: GuestPhysAddr::from(fault_ipa(frame.far, frame.hpfar) as usize),
        access_flags: MappingFlags::EXECUTE,
    })
}

/// A trapped MSR or MRS: answered here for the registers of [`classify`] (the PC
/// moved past it), otherwise an exit.
fn sysreg(
    frame: &mut TrapFrame,
    esr: Esr,
    read_id: impl FnOnce(u8, u8) -> u64,
) -> AxVCpuExitReason {
    let iss = esr.iss();
    let addr = SysRegAddr((iss & SYSREG_ADDR_MASK) as usize);
    let reg = ((iss >> 5) & 0x1f) as usize;
    let read = iss & 1 == 1;
    let field = |shift: u64, mask: u64| ((iss >> shift) & mask) as u8;
    let answer = classify(
        field(20, 0x3),
        field(14, 0x7),
        field(10, 0xf),
        field(1, 0xf),
        field(17, 0x7),
    );
    let value = match answer {
        SysRegAnswer::Hypervisor => None,
        // An MSR to an ID register is undefined rather than trapped; ignore one.
        SysRegAnswer::Id { crm, op2 } => Some(if read {
            sanitise_id(crm, op2, read_id(crm, op2))
        } else {
            0
        }),
        SysRegAnswer::RazWi(value) => Some(value),
    };
    if let Some(value) = value {
        if read {
            frame.set_gpr(reg, value);
        }
        skip(frame, esr);
        return AxVCpuExitReason::Nothing;
    }
    if read {
        AxVCpuExitReason::SysRegRead { addr, reg }
    } else {
        AxVCpuExitReason::SysRegWrite {
            addr,
            value: frame.gpr(reg),
        }
    }
}

/// An HVC or a trapped SMC (the PC already past it).
fn call(frame: &mut TrapFrame, conduit: Conduit) -> AxVCpuExitReason {
    let fid = frame.gpr(0);
    if psci::is_psci(fid) {
        return psci_call(frame, fid);
    }
    if smccc::is_arch_call(fid) {
        let value = smccc::answer(fid, frame.gpr(1));
        frame.set_gpr(0, value);
        return AxVCpuExitReason::Nothing;
    }
    match conduit {
        Conduit::Hvc => AxVCpuExitReason::Hypercall {
            nr: fid,
            args: [
                frame.gpr(1),
                frame.gpr(2),
                frame.gpr(3),
                frame.gpr(4),
                frame.gpr(5),
                frame.gpr(6),
            ],
        },
        Conduit::Smc => {
            log_limited!(debug, "aarch64 vCPU: unsupported SMC function {fid:#x}");
            frame.set_gpr(0, psci::NOT_SUPPORTED);
            AxVCpuExitReason::Nothing
        }
    }
}

fn psci_call(frame: &mut TrapFrame, fid: u64) -> AxVCpuExitReason {
    // SMC32 calls pass 32-bit arguments in w1..w3; SMC64 calls (bit 30) 64-bit ones.
    let arg_mask = if fid & (1 << 30) == 0 {
        u64::from(u32::MAX)
    } else {
        u64::MAX
    };
    let arg = |frame: &TrapFrame, reg: usize| frame.gpr(reg) & arg_mask;
    let answer = |frame: &mut TrapFrame, value: u64| {
        frame.set_gpr(0, value);
        AxVCpuExitReason::Nothing
    };
    match fid as u32 {
        psci::VERSION => answer(frame, psci::VERSION_1_0),
        psci::FEATURES => {
            let queried = frame.gpr(1) & u64::from(u32::MAX);
            let result = if psci::is_supported(queried) {
                psci::SUCCESS
            } else {
                psci::NOT_SUPPORTED
            };
            answer(frame, result)
        }
        psci::MIGRATE_INFO_TYPE => answer(frame, psci::TOS_NOT_PRESENT_MP),
        psci::CPU_ON | psci::CPU_ON_64 => {
            let exit = AxVCpuExitReason::CpuUp {
                target_cpu: arg(frame, 1),
                entry_point: GuestPhysAddr::from(arg(frame, 2) as usize),
                arg: arg(frame, 3),
            };
            // The hypervisor may overwrite this with `set_return_value`.
            frame.set_gpr(0, psci::SUCCESS);
            exit
        }
        psci::CPU_OFF => AxVCpuExitReason::CpuDown { state: 0 },
        psci::SYSTEM_OFF | psci::SYSTEM_RESET => AxVCpuExitReason::SystemDown,
        _ => {
            log_limited!(debug, "aarch64 vCPU: unsupported PSCI function {fid:#x}");
            answer(frame, psci::NOT_SUPPORTED)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame holding the syndrome of one exception, at guest PC 0x4008_0000.
    fn frame(esr: u64, far: u64, hpfar: u64) -> TrapFrame {
        let mut frame = TrapFrame {
            esr,
            far,
            hpfar,
            elr: 0x4008_0000,
            ..TrapFrame::default()
        };
        for (i, x) in frame.x.iter_mut().enumerate() {
            *x = 0x1111_1111_1111_1100 + i as u64;
        }
        frame
    }

    fn exit(frame: &mut TrapFrame) -> AxVCpuExitReason {
        match decode_sync(frame, |_, _| 0) {
            Ok(AxVCpuExitReason::Nothing) | Err(_) => panic!("expected an exit"),
            Ok(exit) => exit,
        }
    }

    // Data aborts. ESR = EC 0x24 << 26 | IL | ISV | SAS | SSE | SRT | SF | WnR | DFSC.

    #[test]
    fn ldr_w1_from_a_pl011_is_a_32_bit_read_into_a_32_bit_register() {
        // EC=0x24, IL=1, ISV=1, SAS=0b10, SSE=0, SRT=1, SF=0, WnR=0, DFSC=0x06 (L2 translation)
        let esr = 0x9381_0006;
        // IPA 0x0900_0018: HPFAR.FIPA = 0x09000 << 4, FAR's low 12 bits = 0x018.
        let mut f = frame(esr, 0xffff_0000_0000_0018, 0x0009_0000);
        assert_eq!(
            exit(&mut f),
            AxVCpuExitReason::MmioRead {
                addr: GuestPhysAddr::from(0x0900_0018),
                width: AccessWidth::Dword,
                reg: 1,
                reg_width: AccessWidth::Dword,
                signed_ext: false,
            }
        );
        assert_eq!(
            f.elr, 0x4008_0000,
            "an access exit leaves the PC on the load"
        );
    }

    #[test]
    fn ldrsb_x5_is_a_sign_extended_byte_read_into_a_64_bit_register() {
        // ISV=1, SAS=0b00, SSE=1, SRT=5, SF=1, WnR=0, DFSC=0x07 (L3 translation)
        let esr = 0x9325_8007;
        let mut f = frame(esr, 0x3, 0x0001_2345_6780);
        assert_eq!(
            exit(&mut f),
            AxVCpuExitReason::MmioRead {
                addr: GuestPhysAddr::from(0x123_4567_8003),
                width: AccessWidth::Byte,
                reg: 5,
                reg_width: AccessWidth::Qword,
                signed_ext: true,
            }
        );
    }

    #[test]
    fn strh_w7_is_a_16_bit_write_of_the_low_half_of_x7() {
        // ISV=1, SAS=0b01, SRT=7, SF=0, WnR=1, DFSC=0x06
        let esr = 0x9347_0046;
        let mut f = frame(esr, 0x0900_0000, 0x0009_0000);
        f.x[7] = 0xdead_beef_cafe_4142;
        assert_eq!(
            exit(&mut f),
            AxVCpuExitReason::MmioWrite {
                addr: GuestPhysAddr::from(0x0900_0000),
                width: AccessWidth::Word,
                data: 0x4142,
            }
        );
    }

    #[test]
    fn str_x30_and_str_xzr_write_their_values() {
        // ISV=1, SAS=0b11, SRT=30, SF=1, WnR=1, DFSC=0x05
        let mut f = frame(0x93de_8045, 0x10, 0x0009_0000);
        f.x[30] = 0x0123_4567_89ab_cdef;
        assert_eq!(
            exit(&mut f),
            AxVCpuExitReason::MmioWrite {
                addr: GuestPhysAddr::from(0x0900_0010),
                width: AccessWidth::Qword,
                data: 0x0123_4567_89ab_cdef,
            }
        );
        // Same with SRT=31: xzr stores zero.
        let mut f = frame(0x93df_8045, 0x10, 0x0009_0000);
        assert_eq!(
            exit(&mut f),
            AxVCpuExitReason::MmioWrite {
                addr: GuestPhysAddr::from(0x0900_0010),
                width: AccessWidth::Qword,
                data: 0,
            }
        );
    }

    #[test]
    fn a_permission_fault_with_a_syndrome_is_still_an_access_exit() {
        // ISV=1, SAS=0b10, SRT=2, WnR=1, DFSC=0x0f (L3 permission): a store to read-only RAM.
        let mut f = frame(0x9382_004f, 0x44, 0x0004_0000);
        assert!(matches!(
            exit(&mut f),
            AxVCpuExitReason::MmioWrite {
                width: AccessWidth::Dword,
                ..
            }
        ));
    }

    #[test]
    fn an_abort_without_a_syndrome_is_a_nested_page_fault() {
        // ISV=0, WnR=1, DFSC=0x07: e.g. `stp x0, x1, [x2]` into a lazily mapped page.
        let mut f = frame(0x9200_0047, 0x4000_1008, 0x0400_0010);
        assert_eq!(
            exit(&mut f),
            AxVCpuExitReason::NestedPageFault {
                addr: GuestPhysAddr::from(0x4_0000_1008),
                access_flags: MappingFlags::WRITE,
            }
        );
        // ISV=0, WnR=0, DFSC=0x0b (L3 access flag).
        let mut f = frame(0x9200_000b, 0xabc, 0x0000_4000);
        assert_eq!(
            exit(&mut f),
            AxVCpuExitReason::NestedPageFault {
                addr: GuestPhysAddr::from(0x40_0abc),
                access_flags: MappingFlags::READ,
            }
        );
        // A stage-2 fault on the guest's own page-table walk (S1PTW=1), even with ISV set.
        let mut f = frame(0x9381_0086, 0x123, 0x0000_5000);
        assert_eq!(
            exit(&mut f),
            AxVCpuExitReason::NestedPageFault {
                addr: GuestPhysAddr::from(0x50_0123),
                access_flags: MappingFlags::READ,
            }
        );
    }

    #[test]
    fn aborts_that_are_not_stage_2_faults_are_errors() {
        // DFSC=0x21 (alignment), 0x10 (synchronous external abort), 0x00 (address size),
        // 0x30 (TLB conflict).
        for esr in [0x9200_0021, 0x9200_0210, 0x9200_0000, 0x9200_0030] {
            assert_eq!(
                decode_sync(&mut frame(esr, 0, 0), |_, _| 0),
                Err(AxVmError::BadAddress)
            );
        }
        // An instruction abort with IFSC=0x10.
        assert_eq!(
            decode_sync(&mut frame(0x8200_0010, 0, 0), |_, _| 0),
            Err(AxVmError::BadAddress)
        );
    }

    #[test]
    fn an_instruction_abort_is_an_execute_fault() {
        // EC=0x20, IL=1, IFSC=0x06 (L2 translation)
        let mut f = frame(0x8200_0006, 0x4020_0004, 0x0040_2000);
        assert_eq!(
            exit(&mut f),
            AxVCpuExitReason::NestedPageFault {
                addr: GuestPhysAddr::from(0x4020_0004),
                access_flags: MappingFlags::EXECUTE,
            }
        );
    }

    // HVC: EC 0x16 << 26 | IL | imm16. ELR already points after the HVC.

    #[test]
    fn hvc_is_a_hypercall_with_six_arguments() {
        let mut f = frame(0x5a00_0000, 0, 0);
        f.x[0] = 0x1000;
        f.elr = 0x4008_0004;
        assert_eq!(
            exit(&mut f),
            AxVCpuExitReason::Hypercall {
                nr: 0x1000,
                args: [
                    0x1111_1111_1111_1101,
                    0x1111_1111_1111_1102,
                    0x1111_1111_1111_1103,
                    0x1111_1111_1111_1104,
                    0x1111_1111_1111_1105,
                    0x1111_1111_1111_1106,
                ],
            }
        );
        assert_eq!(f.elr, 0x4008_0004);
        // A number whose low half looks like PSCI but with upper bits is a hypercall too.
        let mut f = frame(0x5a00_0042, 0, 0);
        f.x[0] = 0x1_8400_0000;
        assert!(matches!(
            exit(&mut f),
            AxVCpuExitReason::Hypercall {
                nr: 0x1_8400_0000,
                ..
            }
        ));
    }

    #[test]
    fn psci_cpu_on_over_hvc_is_cpu_up() {
        for fid in [0xc400_0003u64, 0x8400_0003] {
            let mut f = frame(0x5a00_0000, 0, 0);
            f.x[0] = fid;
            f.x[1] = 0x1;
            f.x[2] = 0x4008_1000;
            f.x[3] = 0x55;
            assert_eq!(
                exit(&mut f),
                AxVCpuExitReason::CpuUp {
                    target_cpu: 1,
                    entry_point: GuestPhysAddr::from(0x4008_1000),
                    arg: 0x55,
                }
            );
            assert_eq!(
                f.x[0], 0,
                "CPU_ON answers SUCCESS unless the hypervisor says otherwise"
            );
        }
        // The SMC32 form takes 32-bit arguments.
        let mut f = frame(0x5a00_0000, 0, 0);
        f.x[0] = 0x8400_0003;
        f.x[1] = 0xffff_ffff_0000_0002;
        f.x[2] = 0xffff_ffff_4008_2000;
        f.x[3] = 0xffff_ffff_0000_0007;
        assert_eq!(
            exit(&mut f),
            AxVCpuExitReason::CpuUp {
                target_cpu: 2,
                entry_point: GuestPhysAddr::from(0x4008_2000),
                arg: 7,
            }
        );
    }

    #[test]
    fn psci_power_calls_are_exits() {
        for (fid, expected) in [
            (0x8400_0002u64, AxVCpuExitReason::CpuDown { state: 0 }),
            (0x8400_0008, AxVCpuExitReason::SystemDown),
            (0x8400_0009, AxVCpuExitReason::SystemDown),
        ] {
            let mut f = frame(0x5a00_0000, 0, 0);
            f.x[0] = fid;
            assert_eq!(exit(&mut f), expected, "{fid:#x}");
        }
    }

    #[test]
    fn psci_queries_are_answered_without_an_exit() {
        let answer = |esr: u64, x0: u64, x1: u64| {
            let mut f = frame(esr, 0, 0);
            f.x[0] = x0;
            f.x[1] = x1;
            assert_eq!(decode_sync(&mut f, |_, _| 0), Ok(AxVCpuExitReason::Nothing));
            f.x[0]
        };
        for esr in [0x5a00_0000, 0x5e00_0000] {
            assert_eq!(answer(esr, 0x8400_0000, 0), 0x1_0000);
            assert_eq!(answer(esr, 0x8400_000a, 0xc400_0003), 0);
            assert_eq!(answer(esr, 0x8400_000a, 0x8400_0008), 0);
            assert_eq!(answer(esr, 0x8400_000a, 0x8400_0001), u64::MAX);
            assert_eq!(answer(esr, 0x8400_000a, 0x8000_0002), u64::MAX);
            assert_eq!(answer(esr, 0x8400_0006, 0), 2);
            // SMCCC 1.1 behind PSCI_FEATURES, as Linux probes it.
            assert_eq!(answer(esr, 0x8400_000a, 0x8000_0000), 0);
            assert_eq!(answer(esr, 0x8000_0000, 0), 0x1_0001);
            assert_eq!(answer(esr, 0x8000_0001, 0x8000_8000), u64::MAX);
            // AFFINITY_INFO and CPU_SUSPEND are not implemented.
            assert_eq!(answer(esr, 0x8400_0004, 0), u64::MAX);
            assert_eq!(answer(esr, 0xc400_0001, 0), u64::MAX);
        }
    }

    // SMC: EC 0x17 << 26 | IL | imm16. ELR points at the SMC; the backend skips it.

    #[test]
    fn smc_psci_system_off_is_system_down_and_skips_the_smc() {
        let mut f = frame(0x5e00_0000, 0, 0);
        f.x[0] = 0x8400_0008;
        assert_eq!(exit(&mut f), AxVCpuExitReason::SystemDown);
        assert_eq!(f.elr, 0x4008_0004);
    }

    #[test]
    fn an_unknown_smc_returns_not_supported() {
        let mut f = frame(0x5e00_0000, 0, 0);
        f.x[0] = 0xc200_0001;
        assert_eq!(decode_sync(&mut f, |_, _| 0), Ok(AxVCpuExitReason::Nothing));
        assert_eq!(f.x[0], u64::MAX);
        assert_eq!(f.x[1], 0x1111_1111_1111_1101);
        assert_eq!(f.elr, 0x4008_0004);
    }

    #[test]
    fn wfi_and_wfe_halt_past_the_instruction() {
        // EC=0x01, IL=1, CV=1, COND=0xe, TI=0 (WFI) / TI=1 (WFE)
        for esr in [0x07e0_0000u64, 0x07e0_0001] {
            let mut f = frame(esr, 0, 0);
            assert_eq!(exit(&mut f), AxVCpuExitReason::Halt);
            assert_eq!(f.elr, 0x4008_0004);
        }
        // IL=0: a 16-bit instruction is skipped by 2.
        let mut f = frame(0x0400_0000, 0, 0);
        assert_eq!(exit(&mut f), AxVCpuExitReason::Halt);
        assert_eq!(f.elr, 0x4008_0002);
    }

    // Trapped MSR/MRS: EC 0x18 << 26 | IL | Op0 | Op2 | Op1 | CRn | Rt | CRm | Direction.

    /// The syndrome of a trapped MRS (`read`) or MSR of `op0, op1, CRn, CRm, op2`
    /// with register `rt`.
    fn sysreg_esr(op: [u64; 5], rt: u64, read: bool) -> u64 {
        let [op0, op1, crn, crm, op2] = op;
        (ec::SYSREG << 26)
            | ESR_IL
            | (op0 << 20)
            | (op2 << 17)
            | (op1 << 14)
            | (crn << 10)
            | (rt << 5)
            | (crm << 1)
            | u64::from(read)
    }

    #[test]
    fn id_register_reads_are_answered_with_the_sanitised_value() {
        // MRS x5, ID_AA64PFR0_EL1 on a CPU with SVE (bits 35:32) and FP/AdvSIMD.
        let mut f = frame(sysreg_esr([3, 0, 0, 4, 0], 5, true), 0, 0);
        let exit = decode_sync(&mut f, |crm, op2| {
            assert_eq!((crm, op2), (4, 0));
            0x0000_0001_0000_0011
        });
        assert_eq!(exit, Ok(AxVCpuExitReason::Nothing));
        assert_eq!(f.x[5], 0x11);
        assert_eq!(f.elr, 0x4008_0004);
        // MRS x2, ID_AA64ISAR1_EL1 with PAuth (APA = 5, GPA = 1) and DPB.
        let mut f = frame(sysreg_esr([3, 0, 0, 6, 1], 2, true), 0, 0);
        decode_sync(&mut f, |_, _| 0x0100_0051).unwrap();
        assert_eq!(f.x[2], 0x1);
        // An unallocated ID register reads as zero without asking the CPU.
        let mut f = frame(sysreg_esr([3, 0, 0, 7, 7], 2, true), 0, 0);
        decode_sync(&mut f, |_, _| u64::MAX).unwrap();
        assert_eq!(f.x[2], 0);
    }

    #[test]
    fn pmu_and_debug_registers_are_raz_wi() {
        // MRS x7, PMCCNTR_EL0; MSR PMCR_EL0, x7; MRS x1, MDSCR_EL1; MSR OSLAR_EL1, x0;
        // MRS x4, OSLSR_EL1.
        let mut f = frame(sysreg_esr([3, 3, 9, 13, 0], 7, true), 0, 0);
        assert_eq!(decode_sync(&mut f, |_, _| 1), Ok(AxVCpuExitReason::Nothing));
        assert_eq!((f.x[7], f.elr), (0, 0x4008_0004));
        let mut f = frame(sysreg_esr([3, 3, 9, 12, 0], 7, false), 0, 0);
        f.x[7] = 0x41;
        assert_eq!(decode_sync(&mut f, |_, _| 1), Ok(AxVCpuExitReason::Nothing));
        assert_eq!((f.x[7], f.elr), (0x41, 0x4008_0004));
        let mut f = frame(sysreg_esr([2, 0, 0, 2, 2], 1, true), 0, 0);
        decode_sync(&mut f, |_, _| 1).unwrap();
        assert_eq!(f.x[1], 0);
        let mut f = frame(sysreg_esr([2, 0, 1, 0, 4], 0, false), 0, 0);
        assert_eq!(decode_sync(&mut f, |_, _| 1), Ok(AxVCpuExitReason::Nothing));
        let mut f = frame(sysreg_esr([2, 0, 1, 1, 4], 4, true), 0, 0);
        decode_sync(&mut f, |_, _| 1).unwrap();
        assert_eq!(f.x[4], OSLSR_EL1_GUEST);
        // A read into xzr changes nothing.
        let mut f = frame(sysreg_esr([3, 3, 9, 13, 0], 31, true), 0, 0);
        decode_sync(&mut f, |_, _| 1).unwrap();
        assert_eq!(f.elr, 0x4008_0004);
    }

    #[test]
    fn mrs_of_cntpct_el0_is_a_sysreg_read() {
        // MRS x3, CNTPCT_EL0 (S3_3_C14_C0_1): Op0=3, Op2=1, Op1=3, CRn=14, Rt=3, CRm=0, read
        let esr = 0x6232_f861;
        let mut f = frame(esr, 0, 0);
        assert_eq!(
            exit(&mut f),
            AxVCpuExitReason::SysRegRead {
                addr: sysreg_addr(3, 3, 14, 0, 1),
                reg: 3,
            }
        );
        assert_eq!(sysreg_addr(3, 3, 14, 0, 1), SysRegAddr(0x0032_f800));
        assert_eq!(f.elr, 0x4008_0000);
    }

    #[test]
    fn msr_of_icc_sgi1r_el1_is_a_sysreg_write() {
        // MSR ICC_SGI1R_EL1, x9 (S3_0_C12_C11_5): Op0=3, Op2=5, Op1=0, CRn=12, Rt=9, CRm=11, write
        let esr = 0x623a_3136;
        let mut f = frame(esr, 0, 0);
        f.x[9] = 0x0100_0000_0000_0001;
        assert_eq!(
            exit(&mut f),
            AxVCpuExitReason::SysRegWrite {
                addr: sysreg_addr(3, 0, 12, 11, 5),
                value: 0x0100_0000_0000_0001,
            }
        );
        // MSR with Rt=31 writes zero.
        let mut f = frame(0x623a_33f6, 0, 0);
        assert!(matches!(
            exit(&mut f),
            AxVCpuExitReason::SysRegWrite { value: 0, .. }
        ));
        // The addresses a virtual GIC registers its SGI registers under.
        use crate::arch::aarch64::gic::{ICC_ASGI1R_EL1, ICC_SGI0R_EL1, ICC_SGI1R_EL1};
        for (op2, addr) in [(5, ICC_SGI1R_EL1), (6, ICC_ASGI1R_EL1), (7, ICC_SGI0R_EL1)] {
            let mut f = frame(sysreg_esr([3, 0, 12, 11, op2], 2, false), 0, 0);
            f.x[2] = 0x1_0000_0003;
            assert_eq!(
                exit(&mut f),
                AxVCpuExitReason::SysRegWrite {
                    addr,
                    value: 0x1_0000_0003,
                }
            );
        }
    }

    #[test]
    fn unhandled_classes_are_errors() {
        // Unknown (undefined instruction), FP trap, HVC32, SMC32, SVC, SError, BRK.
        for ec in [0x00u64, 0x07, 0x12, 0x13, 0x15, 0x2f, 0x3c] {
            let mut f = frame((ec << 26) | ESR_IL, 0, 0);
            assert_eq!(
                decode_sync(&mut f, |_, _| 0),
                Err(AxVmError::Unsupported),
                "EC {ec:#x}"
            );
            assert_eq!(f.elr, 0x4008_0000);
        }
    }

    #[test]
    fn any_syndrome_and_registers_decode_without_panicking() {
        // A small LCG: every exception class with many ISS values and register contents.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            seed
        };
        for ec in 0..64u64 {
            for _ in 0..2000 {
                let esr = (ec << 26) | (next() & 0x03ff_ffff);
                let mut f = frame(esr, next(), next());
                f.elr = u64::MAX - (next() & 3);
                for x in &mut f.x {
                    *x = next();
                }
                if next() & 1 == 0 {
                    f.x[0] = 0x8400_0000 | (next() & 0x1f) | (next() & 0x4000_0000);
                }
                let _ = decode_sync(&mut f, |_, _| 0);
            }
        }
    }

    #[test]
    fn fault_ipa_joins_hpfar_and_far() {
        assert_eq!(
            fault_ipa(0xffff_ffff_ffff_fabc, 0x0000_ffff_ffff_fff0),
            0x00ff_ffff_ffff_fabc
        );
        // HPFAR's NS bit (63) and low bits are not part of the address.
        assert_eq!(fault_ipa(0, 0x8000_0000_0009_000f), 0x0900_0000);
    }
}
