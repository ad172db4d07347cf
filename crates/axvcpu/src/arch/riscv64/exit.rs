//! Decoding of a trap taken from the guest to HS-mode (`scause`, `stval`, `htval`,
//! `htinst` and the guest's registers) into an [`AxVCpuExitReason`], with the SBI
//! calls the backend answers itself.
//!
//! Everything here is pure: it reads and edits a [`TrapFrame`] and is unit-tested on
//! any host. The trapping instruction, when `htinst` does not hold it, is fetched
//! through a caller-supplied function (on hardware: `hlvx.hu` through the guest's
//! translation). Field layouts follow the RISC-V privileged specification (chapter
//! "Hypervisor Extension"), the unprivileged specification (load, store and
//! compressed encodings) and the RISC-V SBI specification 2.0.

use axvm_types::{AccessWidth, AxVmError, AxVmResult, GuestPhysAddr, MappingFlags};

mod rfence;

pub use self::rfence::{
    FenceKind, FirmwareCall, HartSet, RemoteFence, decode_legacy, decode_rfence,
};
use super::context::{TrapFrame, reg};
use crate::{AxVCpuExitReason, ratelimit::log_limited};

/// Exception codes (`scause` with the interrupt bit clear) the backend knows.
pub mod cause {
    /// Instruction access fault (PMP).
    pub const INSTRUCTION_ACCESS_FAULT: u64 = 1;
    /// Illegal instruction (not delegated to the guest only when `hedeleg` says so).
    pub const ILLEGAL_INSTRUCTION: u64 = 2;
    /// Load access fault (PMP).
    pub const LOAD_ACCESS_FAULT: u64 = 5;
    /// Store/AMO access fault (PMP).
    pub const STORE_ACCESS_FAULT: u64 = 7;
    /// Environment call from VS-mode: an SBI call.
    pub const VS_ECALL: u64 = 10;
    /// Instruction guest-page fault.
    pub const INSTRUCTION_GUEST_PAGE_FAULT: u64 = 20;
    /// Load guest-page fault.
    pub const LOAD_GUEST_PAGE_FAULT: u64 = 21;
    /// Virtual instruction (WFI with `hstatus.VTW`, or a trapped CSR access).
    pub const VIRTUAL_INSTRUCTION: u64 = 22;
    /// Store/AMO guest-page fault.
    pub const STORE_GUEST_PAGE_FAULT: u64 = 23;
    /// The interrupt bit of `scause`.
    pub const INTERRUPT: u64 = 1 << 63;
}

/// The encoding of `wfi`.
pub const WFI: u32 = 0x1050_0073;

/// A decoded load or store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemAccess {
    /// A store (otherwise a load).
    pub write: bool,
    /// The width of the access.
    pub width: AccessWidth,
    /// The destination register of a load, the source register of a store.
    pub reg: usize,
    /// Whether a load sign-extends to 64 bits.
    pub signed: bool,
    /// The length of the instruction in bytes (2 or 4).
    pub len: u64,
}

#[inline]
const fn width_of(log2: u32) -> AccessWidth {
    match log2 {
        0 => AccessWidth::Byte,
        1 => AccessWidth::Word,
        2 => AccessWidth::Dword,
        _ => AccessWidth::Qword,
    }
}

/// Decodes a 32-bit integer load (`lb` ... `ld`, `lbu`, `lhu`, `lwu`) or store
/// (`sb` ... `sd`); `None` for anything else (FP loads and stores, AMOs included).
#[must_use]
#[inline]
pub const fn decode_32(insn: u32) -> Option<MemAccess> {
    let funct3 = (insn >> 12) & 0x7;
    let rd = ((insn >> 7) & 0x1f) as usize;
    let rs2 = ((insn >> 20) & 0x1f) as usize;
    match insn & 0x7f {
        // LOAD: funct3 bit 2 = unsigned, bits 1:0 = log2 of the width; 0b111 is reserved.
        0x03 if funct3 != 0b111 => Some(MemAccess {
            write: false,
            width: width_of(funct3 & 0x3),
            reg: rd,
            signed: funct3 & 0x4 == 0 && funct3 != 0b011,
            len: 4,
        }),
        // STORE: funct3 = log2 of the width.
        0x23 if funct3 <= 0b011 => Some(MemAccess {
            write: true,
            width: width_of(funct3),
            reg: rs2,
            signed: false,
            len: 4,
        }),
        _ => None,
    }
}

/// A 16-bit load or store.
#[inline]
const fn access(write: bool, width: AccessWidth, reg: usize, signed: bool) -> Option<MemAccess> {
    Some(MemAccess {
        write,
        width,
        reg,
        signed,
        len: 2,
    })
}

/// Decodes a 16-bit (C / Zcb) integer load or store: `c.lw`, `c.ld`, `c.sw`, `c.sd`,
/// `c.lwsp`, `c.ldsp`, `c.swsp`, `c.sdsp`, `c.lbu`, `c.lhu`, `c.lh`, `c.sb`, `c.sh`;
/// `None` for anything else.
#[must_use]
#[inline]
pub const fn decode_16(insn: u16) -> Option<MemAccess> {
    let insn = insn as u32;
    let funct3 = (insn >> 13) & 0x7;
    // rd' / rs2' in bits 4:2 name x8..x15.
    let short_reg = (((insn >> 2) & 0x7) | 0x8) as usize;
    let full_rd = ((insn >> 7) & 0x1f) as usize;
    let full_rs2 = ((insn >> 2) & 0x1f) as usize;
    match (insn & 0x3, funct3) {
        (0b00, 0b010) => access(false, AccessWidth::Dword, short_reg, true),
        (0b00, 0b011) => access(false, AccessWidth::Qword, short_reg, false),
        (0b00, 0b110) => access(true, AccessWidth::Dword, short_reg, false),
        (0b00, 0b111) => access(true, AccessWidth::Qword, short_reg, false),
        // Zcb: funct6 in bits 15:10, bit 6 selects c.lh / c.lhu.
        (0b00, 0b100) => match ((insn >> 10) & 0x3f, (insn >> 6) & 1) {
            (0b10_0000, _) => access(false, AccessWidth::Byte, short_reg, false),
            (0b10_0001, 0) => access(false, AccessWidth::Word, short_reg, false),
            (0b10_0001, _) => access(false, AccessWidth::Word, short_reg, true),
            (0b10_0010, _) => access(true, AccessWidth::Byte, short_reg, false),
            (0b10_0011, 0) => access(true, AccessWidth::Word, short_reg, false),
            _ => None,
        },
        // c.lwsp / c.ldsp with rd = x0 are reserved.
        (0b10, 0b010) if full_rd != 0 => access(false, AccessWidth::Dword, full_rd, true),
        (0b10, 0b011) if full_rd != 0 => access(false, AccessWidth::Qword, full_rd, false),
        (0b10, 0b110) => access(true, AccessWidth::Dword, full_rs2, false),
        (0b10, 0b111) => access(true, AccessWidth::Qword, full_rs2, false),
        _ => None,
    }
}

/// Decodes a trapping instruction as read from guest memory: 32 bits when its low
/// two bits are `0b11`, else the low 16 bits.
#[must_use]
#[inline]
pub const fn decode_instruction(insn: u32) -> Option<MemAccess> {
    if insn & 0x3 == 0x3 {
        decode_32(insn)
    } else {
        decode_16(insn as u16)
    }
}

/// What `htinst` says about a guest-page fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Htinst {
    /// Zero: nothing; the instruction must be read from guest memory.
    Empty,
    /// A transformed load or store (bit 0 set); bit 1 clear means the original
    /// instruction was 16 bits long.
    Transformed(MemAccess),
    /// A transformed instruction that is no integer load or store (an AMO, an FP
    /// access, ...).
    Other,
    /// A pseudoinstruction (bit 0 clear, nonzero): the fault happened on an implicit
    /// access of the guest's own page-table walk.
    Implicit,
}

/// Interprets `htinst`.
#[must_use]
#[inline]
pub const fn decode_htinst(htinst: u64) -> Htinst {
    if htinst == 0 {
        return Htinst::Empty;
    }
    if htinst & 1 == 0 {
        return Htinst::Implicit;
    }
    // The transformed instruction always has the 32-bit opcode layout; bit 1 only
    // records the original length.
    let len = if htinst & 0x2 == 0 { 2 } else { 4 };
    match decode_32((htinst as u32) | 0x3) {
        Some(access) => Htinst::Transformed(MemAccess { len, ..access }),
        None => Htinst::Other,
    }
}

/// The guest physical address of a guest-page fault: `htval` holds it shifted right
/// by two, `stval`'s low bits (the guest virtual address) complete it.
#[must_use]
pub const fn fault_gpa(htval: u64, stval: u64) -> u64 {
    (htval.wrapping_shl(2)) | (stval & 0x3)
}

/// SBI extension ids, function ids and error codes (SBI specification 2.0).
pub mod sbi {
    /// Legacy `sbi_set_timer`.
    pub const LEGACY_SET_TIMER: u64 = 0x00;
    /// Legacy `sbi_console_putchar` (forwarded to the hypervisor).
    pub const LEGACY_CONSOLE_PUTCHAR: u64 = 0x01;
    /// Legacy `sbi_remote_fence_i`.
    pub const LEGACY_REMOTE_FENCE_I: u64 = 0x05;
    /// Legacy `sbi_remote_sfence_vma`.
    pub const LEGACY_REMOTE_SFENCE_VMA: u64 = 0x06;
    /// Legacy `sbi_remote_sfence_vma_asid`.
    pub const LEGACY_REMOTE_SFENCE_VMA_ASID: u64 = 0x07;
    /// Legacy `sbi_shutdown`.
    pub const LEGACY_SHUTDOWN: u64 = 0x08;
    /// The Base extension.
    pub const BASE: u64 = 0x10;
    /// The Timer extension ("TIME").
    pub const TIME: u64 = 0x5449_4d45;
    /// The IPI extension ("sPI"; `send_ipi` becomes a `SendIPI` exit).
    pub const IPI: u64 = 0x0073_5049;
    /// The RFENCE extension ("RFNC").
    pub const RFENCE: u64 = 0x5246_4e43;
    /// The Hart State Management extension ("HSM").
    pub const HSM: u64 = 0x0048_534d;
    /// The System Reset extension ("SRST").
    pub const SRST: u64 = 0x5352_5354;
    /// The Debug Console extension ("DBCN"; forwarded to the hypervisor).
    pub const DBCN: u64 = 0x4442_434e;

    /// SBI_SUCCESS.
    pub const SUCCESS: u64 = 0;
    /// SBI_ERR_NOT_SUPPORTED (-2).
    pub const ERR_NOT_SUPPORTED: u64 = -2i64 as u64;
    /// SBI_ERR_INVALID_PARAM (-3).
    pub const ERR_INVALID_PARAM: u64 = -3i64 as u64;

    /// The specification version the backend reports: 2.0.
    pub const SPEC_VERSION: u64 = 2 << 24;
    /// The implementation id the backend reports (not a registered one: "AX").
    pub const IMPL_ID: u64 = 0x4158;

    /// Whether the backend answers extension `eid` itself. Every other extension is
    /// forwarded to the hypervisor as a
    /// [`Hypercall`](crate::AxVCpuExitReason::Hypercall); `probe_extension` reports
    /// these and the ones the hypervisor says it answers
    /// ([`Riscv64SetupConfig::hypervisor_extensions`](super::super::Riscv64SetupConfig::hypervisor_extensions)).
    #[must_use]
    pub const fn is_implemented(eid: u64) -> bool {
        matches!(
            eid,
            LEGACY_SET_TIMER
                | LEGACY_REMOTE_FENCE_I
                | LEGACY_REMOTE_SFENCE_VMA
                | LEGACY_REMOTE_SFENCE_VMA_ASID
                | LEGACY_SHUTDOWN
                | BASE
                | TIME
                | IPI
                | RFENCE
                | HSM
                | SRST
        )
    }
}

/// What the vCPU must do besides returning the exit, filled in by [`decode_trap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrapEffects {
    /// The length of the instruction an access exit leaves the guest on (0 for
    /// other exits).
    pub insn_len: u64,
    /// The guest asked for a remote fence (RFENCE or a legacy call) that names at
    /// least one hart; `a0` already says success, which the vCPU replaces with the
    /// firmware's error if forwarding fails.
    pub fence: Option<RemoteFence>,
    /// The guest set its timer to fire at this `time` value (SBI `set_timer`): store
    /// it and withdraw a pending timer interrupt.
    pub timer: Option<u64>,
}

/// Decodes an exception the guest took to HS-mode (`scause` without the interrupt
/// bit, in `frame`), editing the guest registers as the behaviour table of the crate
/// README says (SBI answers in `a0`/`a1`, `sepc` past an `ecall` or a `wfi`), and
/// recording in `effects` what the vCPU must do besides ([`TrapEffects`]).
/// `hypervisor_extensions` are the SBI extensions the hypervisor answers (they reach
/// it as hypercalls): `probe_extension` reports them available beside the backend's
/// own ([`sbi::is_implemented`]). `fetch(gva)` reads the guest's instruction at `gva` (32 bits, or 16 bits
/// zero-extended when they do not start a 32-bit instruction), `None` when it
/// cannot.
///
/// # Errors
///
/// `BadAddress` for a PMP access fault; `Unsupported` for a cause the backend does
/// not handle (an illegal instruction, a virtual instruction other than `wfi`, ...).
/// Each error is logged.
#[inline(never)] // Keeps its constants out of `run`.
pub fn decode_trap(
    frame: &mut TrapFrame,
    effects: &mut TrapEffects,
    hypervisor_extensions: &[u64],
    fetch: impl FnOnce(u64) -> Option<u32>,
) -> AxVmResult<AxVCpuExitReason> {
    // Field by field: `None` is one store, where `TrapEffects::default()` writes
    // the whole (fence-sized) struct on every trap.
    effects.insn_len = 0;
    effects.fence = None;
    effects.timer = None;
    if frame.scause != cause::VS_ECALL {
        return decode_exception(frame, effects, fetch);
    }
    frame.sepc = frame.sepc.wrapping_add(4);
    let eid = frame.gpr(reg::A7);
    // The hypervisor's own calls, the frequent case, take the short path.
    if sbi::is_implemented(eid) {
        Ok(sbi_call(frame, effects, eid, hypervisor_extensions))
    } else {
        Ok(hypercall(frame, eid))
    }
}

/// Every trap but an `ecall` from VS-mode.
#[inline(never)] // Keeps its registers out of the SBI path.
fn decode_exception(
    frame: &mut TrapFrame,
    effects: &mut TrapEffects,
    fetch: impl FnOnce(u64) -> Option<u32>,
) -> AxVmResult<AxVCpuExitReason> {
    match frame.scause {
        cause::LOAD_GUEST_PAGE_FAULT | cause::STORE_GUEST_PAGE_FAULT => {
            Ok(guest_page_fault(frame, effects, fetch))
        }
        cause::INSTRUCTION_GUEST_PAGE_FAULT => Ok(AxVCpuExitReason::NestedPageFault {
            addr: GuestPhysAddr::from(fault_gpa(frame.htval, frame.stval) as usize),
            access_flags: MappingFlags::EXECUTE,
        }),
        cause::VIRTUAL_INSTRUCTION => {
            let insn = if frame.stval == 0 {
                fetch(frame.sepc)
            } else {
                Some(frame.stval as u32)
            };
            if insn == Some(WFI) {
                frame.sepc = frame.sepc.wrapping_add(4);
                return Ok(AxVCpuExitReason::Halt);
            }
            log_limited!(
                error,
                "riscv64 vCPU: virtual instruction {:#x} at guest PC {:#x} not emulated",
                insn.unwrap_or(0),
                frame.sepc
            );
            Err(AxVmError::Unsupported)
        }
        cause::INSTRUCTION_ACCESS_FAULT | cause::LOAD_ACCESS_FAULT | cause::STORE_ACCESS_FAULT => {
            log_limited!(
                error,
                "riscv64 vCPU: access fault (scause {}) at guest PC {:#x}, address {:#x}",
                frame.scause,
                frame.sepc,
                frame.stval
            );
            Err(AxVmError::BadAddress)
        }
        other => {
            log_limited!(
                error,
                "riscv64 vCPU: unhandled trap scause {other:#x} (stval {:#x}) at guest PC {:#x}",
                frame.stval,
                frame.sepc
            );
            Err(AxVmError::Unsupported)
        }
    }
}

fn guest_page_fault(
    frame: &TrapFrame,
    effects: &mut TrapEffects,
    fetch: impl FnOnce(u64) -> Option<u32>,
) -> AxVCpuExitReason {
    let addr = GuestPhysAddr::from(fault_gpa(frame.htval, frame.stval) as usize);
    let store = frame.scause == cause::STORE_GUEST_PAGE_FAULT;
    let access = match decode_htinst(frame.htinst) {
        Htinst::Transformed(access) => Some(access),
        Htinst::Empty => fetch(frame.sepc).and_then(decode_instruction),
        Htinst::Other | Htinst::Implicit => None,
    };
    match access {
        Some(access) if access.write == store => {
            let exit = if store {
                AxVCpuExitReason::MmioWrite {
                    addr,
                    width: access.width,
                    data: frame.gpr(access.reg) & access.width.mask(),
                }
            } else {
                AxVCpuExitReason::MmioRead {
                    addr,
                    width: access.width,
                    reg: access.reg,
                    reg_width: AccessWidth::Qword,
                    signed_ext: access.signed,
                }
            };
            effects.insn_len = access.len;
            exit
        }
        _ => AxVCpuExitReason::NestedPageFault {
            addr,
            access_flags: if store {
                MappingFlags::WRITE
            } else {
                MappingFlags::READ
            },
        },
    }
}

/// Answers with SBI error `error` and value `value`; the guest continues.
fn answer(frame: &mut TrapFrame, error: u64, value: u64) -> AxVCpuExitReason {
    frame.set_gpr(reg::A0, error);
    frame.set_gpr(reg::A1, value);
    AxVCpuExitReason::Nothing
}

/// An `ecall` from VS-mode (`sepc` already past it) to extension `eid` (`a7`), one
/// the backend implements: `a6` = function, `a0`..`a5` = arguments.
#[inline(never)] // Keeps the hypercall path free of its registers.
fn sbi_call(
    frame: &mut TrapFrame,
    effects: &mut TrapEffects,
    eid: u64,
    hypervisor_extensions: &[u64],
) -> AxVCpuExitReason {
    let fid = frame.gpr(reg::A6);
    let a0 = frame.gpr(reg::A0);
    match eid {
        sbi::BASE => {
            let value = match fid {
                0 => sbi::SPEC_VERSION,
                1 => sbi::IMPL_ID,
                2 => 0x0001_0000,
                3 => u64::from(sbi::is_implemented(a0) || hypervisor_extensions.contains(&a0)),
                // mvendorid, marchid, mimpid: none.
                4..=6 => 0,
                _ => return not_supported(frame, eid, fid),
            };
            answer(frame, sbi::SUCCESS, value)
        }
        sbi::TIME if fid != 0 => not_supported(frame, eid, fid),
        sbi::TIME | sbi::LEGACY_SET_TIMER => {
            effects.timer = Some(a0);
            // The legacy call returns nothing; a0 = 0 is harmless there.
            answer(frame, sbi::SUCCESS, 0)
        }
        sbi::IPI if fid != 0 => not_supported(frame, eid, fid),
        sbi::IPI => send_ipi(frame, a0, frame.gpr(reg::A1)),
        sbi::RFENCE if fid > 2 => not_supported(frame, eid, fid),
        sbi::RFENCE => match decode_rfence(fid, args(frame)) {
            Ok(fence) => {
                effects.fence = fence;
                answer(frame, sbi::SUCCESS, 0)
            }
            Err(error) => answer(frame, error, 0),
        },
        sbi::LEGACY_REMOTE_FENCE_I
        | sbi::LEGACY_REMOTE_SFENCE_VMA
        | sbi::LEGACY_REMOTE_SFENCE_VMA_ASID => {
            effects.fence = Some(decode_legacy(eid, args(frame)));
            answer(frame, sbi::SUCCESS, 0)
        }
        sbi::HSM => match fid {
            0 => {
                let exit = AxVCpuExitReason::CpuUp {
                    target_cpu: a0,
                    entry_point: GuestPhysAddr::from(frame.gpr(reg::A1) as usize),
                    arg: frame.gpr(reg::A1.wrapping_add(1)),
                };
                // The hypervisor may overwrite a0 with `set_return_value`.
                answer(frame, sbi::SUCCESS, 0);
                exit
            }
            1 => AxVCpuExitReason::CpuDown { state: 0 },
            // hart_suspend, default retentive suspend: wait like WFI, then succeed.
            // hart_get_status: only the hypervisor knows the other vCPUs' states.
            2 => hypercall(frame, eid),
            3 if a0 == 0 => {
                answer(frame, sbi::SUCCESS, 0);
                AxVCpuExitReason::Halt
            }
            _ => not_supported(frame, eid, fid),
        },
        sbi::SRST if fid != 0 => not_supported(frame, eid, fid),
        sbi::SRST if a0 > 2 => answer(frame, sbi::ERR_INVALID_PARAM, 0),
        sbi::SRST | sbi::LEGACY_SHUTDOWN => AxVCpuExitReason::SystemDown,
        _ => not_supported(frame, eid, fid),
    }
}

/// The cause of the VS-level software interrupt an SBI IPI raises on its targets.
pub const IPI_VECTOR: u64 = 1;

/// IPI `send_ipi(hart_mask, hart_mask_base)`: a `SendIPI` exit for the harts named
/// (success in `a0` already), answered in place when the mask is empty or invalid.
fn send_ipi(frame: &mut TrapFrame, hart_mask: u64, hart_mask_base: u64) -> AxVCpuExitReason {
    let (target_cpu, target_cpu_aux, all) = match HartSet::decode(hart_mask, hart_mask_base) {
        Err(error) => return answer(frame, error, 0),
        Ok(harts) if harts.is_empty() => return answer(frame, sbi::SUCCESS, 0),
        Ok(HartSet::All) => (0, 0, true),
        Ok(HartSet::Mask { base, mask }) => (base, mask, false),
    };
    answer(frame, sbi::SUCCESS, 0);
    AxVCpuExitReason::SendIPI {
        target_cpu,
        target_cpu_aux,
        send_to_all: all,
        send_to_self: all,
        vector: IPI_VECTOR,
    }
}

/// `a0`–`a4` of an SBI call.
fn args(frame: &TrapFrame) -> [u64; 5] {
    let [_, _, _, _, _, _, _, _, _, _, a0, a1, a2, a3, a4, ..] = frame.x;
    [a0, a1, a2, a3, a4]
}

/// A function the backend does not implement of an extension it does.
fn not_supported(frame: &mut TrapFrame, eid: u64, fid: u64) -> AxVCpuExitReason {
    log_limited!(
        debug,
        "riscv64 vCPU: unsupported SBI function {eid:#x}/{fid:#x}"
    );
    answer(frame, sbi::ERR_NOT_SUPPORTED, 0)
}

/// An extension the backend does not implement: the hypervisor's to answer (one that
/// does not know it answers SBI_ERR_NOT_SUPPORTED).
#[inline]
fn hypercall(frame: &mut TrapFrame, eid: u64) -> AxVCpuExitReason {
    let [_, _, _, _, _, _, _, _, _, _, a0, a1, a2, a3, a4, a5, ..] = frame.x;
    frame.set_gpr(reg::A1, 0);
    AxVCpuExitReason::Hypercall {
        nr: eid,
        args: [a0, a1, a2, a3, a4, a5],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PC: u64 = 0x9000_1000;

    fn frame(scause: u64, stval: u64, htval: u64, htinst: u64) -> TrapFrame {
        let mut frame = TrapFrame {
            scause,
            stval,
            htval,
            htinst,
            sepc: PC,
            ..TrapFrame::default()
        };
        for (i, x) in frame.x.iter_mut().enumerate().skip(1) {
            *x = 0x1111_1111_1111_1100 + i as u64;
        }
        frame
    }

    fn decode(frame: &mut TrapFrame, insn: Option<u32>) -> AxVmResult<AxVCpuExitReason> {
        decode_with(frame, insn).map(|(exit, _)| exit)
    }

    fn decode_with(
        frame: &mut TrapFrame,
        insn: Option<u32>,
    ) -> AxVmResult<(AxVCpuExitReason, TrapEffects)> {
        let mut effects = TrapEffects {
            insn_len: 99,
            fence: Some(decode_legacy(sbi::LEGACY_REMOTE_FENCE_I, [0; 5])),
            timer: Some(1),
        };
        let exit = decode_trap(frame, &mut effects, &[], |gva| {
            assert_eq!(gva, PC);
            insn
        })?;
        Ok((exit, effects))
    }

    fn load(width: AccessWidth, reg: usize, signed: bool, len: u64) -> Option<MemAccess> {
        Some(MemAccess {
            write: false,
            width,
            reg,
            signed,
            len,
        })
    }

    fn store(width: AccessWidth, reg: usize, len: u64) -> Option<MemAccess> {
        Some(MemAccess {
            write: true,
            width,
            reg,
            signed: false,
            len,
        })
    }

    #[test]
    fn thirty_two_bit_loads_and_stores() {
        // lw a1, 0(a0)
        assert_eq!(
            decode_32(0x0005_2583),
            load(AccessWidth::Dword, 11, true, 4)
        );
        // ld t2, 0(t1)
        assert_eq!(
            decode_32(0x0003_3383),
            load(AccessWidth::Qword, 7, false, 4)
        );
        // lbu a0, 5(a1)
        assert_eq!(
            decode_32(0x0055_c503),
            load(AccessWidth::Byte, 10, false, 4)
        );
        // lh s0, -2(sp)
        assert_eq!(decode_32(0xffe1_1403), load(AccessWidth::Word, 8, true, 4));
        // lwu a0, 0(a1)
        assert_eq!(
            decode_32(0x0005_e503),
            load(AccessWidth::Dword, 10, false, 4)
        );
        // sb a1, 0(a0)
        assert_eq!(decode_32(0x00b5_0023), store(AccessWidth::Byte, 11, 4));
        // sd ra, 8(sp)
        assert_eq!(decode_32(0x0011_3423), store(AccessWidth::Qword, 1, 4));
        // Not integer loads/stores: amoadd.w a0, a1, (a2), flw fa0, 0(a0), load funct3 7,
        // store funct3 4, addi a0, a0, 1.
        for insn in [
            0x00b6_252f,
            0x0005_2507,
            0x0005_7503,
            0x00b5_4023,
            0x0015_0513,
        ] {
            assert_eq!(decode_32(insn), None, "{insn:#x}");
        }
    }

    #[test]
    fn compressed_loads_and_stores() {
        // c.lw a0, 0(a1)
        assert_eq!(decode_16(0x4188), load(AccessWidth::Dword, 10, true, 2));
        // c.sd a5, 8(a0)
        assert_eq!(decode_16(0xe51c), store(AccessWidth::Qword, 15, 2));
        // c.ldsp ra, 8(sp)
        assert_eq!(decode_16(0x60a2), load(AccessWidth::Qword, 1, false, 2));
        // c.swsp a0, 4(sp)
        assert_eq!(decode_16(0xc22a), store(AccessWidth::Dword, 10, 2));
        // Zcb: c.lbu, c.lh, c.lhu, c.sb, c.sh a0, 0(a1)
        assert_eq!(decode_16(0x8188), load(AccessWidth::Byte, 10, false, 2));
        assert_eq!(decode_16(0x85c8), load(AccessWidth::Word, 10, true, 2));
        assert_eq!(decode_16(0x8588), load(AccessWidth::Word, 10, false, 2));
        assert_eq!(decode_16(0x8988), store(AccessWidth::Byte, 10, 2));
        assert_eq!(decode_16(0x8d88), store(AccessWidth::Word, 10, 2));
        // Reserved or not a load/store: c.lwsp x0, c.sh with bit 6, c.fld, zero, c.addi.
        for insn in [0x4002, 0x8dc8, 0x2188, 0x0000, 0x0505] {
            assert_eq!(decode_16(insn), None, "{insn:#x}");
        }
        // From memory: the low bits choose the length.
        assert_eq!(decode_instruction(0xdead_4188), decode_16(0x4188));
        assert_eq!(decode_instruction(0x0005_2583), decode_32(0x0005_2583));
    }

    #[test]
    fn no_encoding_panics() {
        for insn in 0..=u16::MAX {
            let _ = decode_16(insn);
            let _ = decode_instruction(u32::from(insn));
            let _ = decode_htinst(u64::from(insn));
        }
        let mut x = 0x9e37_79b9u32;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let _ = decode_32(x);
            let _ = decode_htinst(u64::from(x) << 7 | u64::from(x));
        }
    }

    #[test]
    fn htinst_kinds() {
        assert_eq!(decode_htinst(0), Htinst::Empty);
        // Pseudoinstructions of implicit VS-stage page-table accesses.
        for pseudo in [0x2000, 0x2020, 0x3000, 0x3020] {
            assert_eq!(decode_htinst(pseudo), Htinst::Implicit);
        }
        // Transformed lw a1 (rs1 and offset cleared), and c.lw a0 (bit 1 clear).
        assert_eq!(
            decode_htinst(0x0000_2583),
            Htinst::Transformed(load(AccessWidth::Dword, 11, true, 4).unwrap())
        );
        assert_eq!(
            decode_htinst(0x0000_2501),
            Htinst::Transformed(load(AccessWidth::Dword, 10, true, 2).unwrap())
        );
        // Transformed amoswap.w.
        assert_eq!(decode_htinst(0x08b6_202f), Htinst::Other);
    }

    #[test]
    fn a_byte_store_to_the_uart_is_an_mmio_write() {
        // sb a1, 0(a0) to GPA 0x1000_0000: htval = GPA >> 2; htinst = transformed sb a1.
        let mut f = frame(
            cause::STORE_GUEST_PAGE_FAULT,
            0x1000_0000,
            0x0400_0000,
            0x00b0_0023,
        );
        f.x[11] = 0x4142;
        let (exit, effects) = decode_with(&mut f, None).unwrap();
        assert_eq!(
            exit,
            AxVCpuExitReason::MmioWrite {
                addr: GuestPhysAddr::from(0x1000_0000),
                width: AccessWidth::Byte,
                data: 0x42,
            }
        );
        assert_eq!(
            effects,
            TrapEffects {
                insn_len: 4,
                ..TrapEffects::default()
            }
        );
        assert_eq!(f.sepc, PC, "an access exit stays on the instruction");
    }

    #[test]
    fn without_htinst_the_instruction_is_read_from_the_guest() {
        // c.lw a0, 0(a1) from GPA 0x1000_0005 (stval's low bits complete htval).
        let mut f = frame(cause::LOAD_GUEST_PAGE_FAULT, 0xffff_0005, 0x0400_0001, 0);
        let (exit, effects) = decode_with(&mut f, Some(0x4188)).unwrap();
        assert_eq!(
            exit,
            AxVCpuExitReason::MmioRead {
                addr: GuestPhysAddr::from(0x1000_0005),
                width: AccessWidth::Dword,
                reg: 10,
                reg_width: AccessWidth::Qword,
                signed_ext: true,
            }
        );
        assert_eq!(effects.insn_len, 2);
    }

    #[test]
    fn undecodable_accesses_are_nested_page_faults() {
        let fault = |access_flags| AxVCpuExitReason::NestedPageFault {
            addr: GuestPhysAddr::from(0xc000_0000),
            access_flags,
        };
        // The instruction cannot be read.
        let mut f = frame(cause::LOAD_GUEST_PAGE_FAULT, 0xc000_0000, 0x3000_0000, 0);
        assert_eq!(decode(&mut f, None).unwrap(), fault(MappingFlags::READ));
        // An AMO (store fault), an implicit page-table access, a load decoded for a store fault.
        let mut f = frame(
            cause::STORE_GUEST_PAGE_FAULT,
            0xc000_0000,
            0x3000_0000,
            0x08b6_202f,
        );
        assert_eq!(decode(&mut f, None).unwrap(), fault(MappingFlags::WRITE));
        let mut f = frame(
            cause::LOAD_GUEST_PAGE_FAULT,
            0xc000_0000,
            0x3000_0000,
            0x3000,
        );
        assert_eq!(decode(&mut f, None).unwrap(), fault(MappingFlags::READ));
        let mut f = frame(cause::STORE_GUEST_PAGE_FAULT, 0xc000_0000, 0x3000_0000, 0);
        assert_eq!(
            decode(&mut f, Some(0x0005_2583)).unwrap(),
            fault(MappingFlags::WRITE)
        );
        // An instruction fetch.
        let mut f = frame(
            cause::INSTRUCTION_GUEST_PAGE_FAULT,
            0xc000_0000,
            0x3000_0000,
            0,
        );
        assert_eq!(decode(&mut f, None).unwrap(), fault(MappingFlags::EXECUTE));
    }

    #[test]
    fn wfi_halts_and_other_traps_are_errors() {
        let mut f = frame(cause::VIRTUAL_INSTRUCTION, u64::from(WFI), 0, 0);
        assert_eq!(decode(&mut f, None).unwrap(), AxVCpuExitReason::Halt);
        assert_eq!(f.sepc, PC + 4);
        // stval empty: the instruction is read.
        let mut f = frame(cause::VIRTUAL_INSTRUCTION, 0, 0, 0);
        assert_eq!(decode(&mut f, Some(WFI)).unwrap(), AxVCpuExitReason::Halt);
        // csrr a0, hstatus from VS-mode.
        let mut f = frame(cause::VIRTUAL_INSTRUCTION, 0x6000_2573, 0, 0);
        assert_eq!(decode(&mut f, None), Err(AxVmError::Unsupported));
        let mut f = frame(cause::LOAD_ACCESS_FAULT, 0x10, 0, 0);
        assert_eq!(decode(&mut f, None), Err(AxVmError::BadAddress));
        for scause in [0, 2, 3, 8, 9, 12, 13, 15, 24, 63, u64::MAX] {
            let mut f = frame(scause, 0, 0, 0);
            assert_eq!(
                decode(&mut f, None),
                Err(AxVmError::Unsupported),
                "{scause}"
            );
            assert_eq!(f.sepc, PC);
        }
    }

    fn ecall(eid: u64, fid: u64, args: &[u64]) -> (TrapFrame, AxVCpuExitReason, TrapEffects) {
        let mut f = frame(cause::VS_ECALL, 0, 0, 0);
        f.x[reg::A7] = eid;
        f.x[reg::A6] = fid;
        for (i, arg) in args.iter().enumerate() {
            f.x[reg::A0 + i] = *arg;
        }
        let mut effects = TrapEffects::default();
        let exit = decode_trap(&mut f, &mut effects, &[], |_| None).unwrap();
        assert_eq!(f.sepc, PC + 4, "every SBI call moves past the ecall");
        (f, exit, effects)
    }

    #[test]
    fn base_extension_answers_in_place() {
        let (f, d, _) = ecall(sbi::BASE, 0, &[]);
        assert_eq!(
            (d, f.x[10], f.x[11]),
            (AxVCpuExitReason::Nothing, 0, 0x200_0000)
        );
        let (f, _, _) = ecall(sbi::BASE, 3, &[sbi::HSM]);
        assert_eq!((f.x[10], f.x[11]), (0, 1));
        let (f, _, _) = ecall(sbi::BASE, 3, &[sbi::IPI]);
        assert_eq!((f.x[10], f.x[11]), (0, 1));
        let (f, _, _) = ecall(sbi::BASE, 3, &[sbi::DBCN]);
        assert_eq!((f.x[10], f.x[11]), (0, 0));
        let (f, _, _) = ecall(sbi::BASE, 99, &[]);
        assert_eq!(f.x[10], sbi::ERR_NOT_SUPPORTED);
    }

    #[test]
    fn the_hypervisors_extensions_probe_as_available() {
        let mut f = frame(cause::VS_ECALL, 0, 0, 0);
        let probe = |f: &mut TrapFrame, eid: u64| {
            f.x[reg::A7] = sbi::BASE;
            f.x[reg::A6] = 3;
            f.x[reg::A0] = eid;
            let exit = decode_trap(f, &mut TrapEffects::default(), &[sbi::DBCN], |_| None);
            assert_eq!(exit, Ok(AxVCpuExitReason::Nothing));
            (f.x[10], f.x[11])
        };
        assert_eq!(probe(&mut f, sbi::DBCN), (0, 1));
        assert_eq!(probe(&mut f, sbi::TIME), (0, 1));
        assert_eq!(probe(&mut f, 0x4d56_0001), (0, 0));
        // Its calls still go to the hypervisor.
        f.x[reg::A7] = sbi::DBCN;
        let exit = decode_trap(&mut f, &mut TrapEffects::default(), &[sbi::DBCN], |_| None);
        assert!(matches!(
            exit,
            Ok(AxVCpuExitReason::Hypercall { nr: sbi::DBCN, .. })
        ));
    }

    #[test]
    fn hsm_calls_become_cpu_exits() {
        let (f, d, _) = ecall(sbi::HSM, 0, &[1, 0x9000_0100, 0x5eed]);
        assert_eq!(
            d,
            AxVCpuExitReason::CpuUp {
                target_cpu: 1,
                entry_point: GuestPhysAddr::from(0x9000_0100),
                arg: 0x5eed,
            }
        );
        assert_eq!(f.x[10], 0);
        let (_, d, _) = ecall(sbi::HSM, 1, &[]);
        assert_eq!(d, AxVCpuExitReason::CpuDown { state: 0 });
        let (f, d, _) = ecall(sbi::HSM, 3, &[0]);
        assert_eq!((d, f.x[10]), (AxVCpuExitReason::Halt, 0));
        // hart_get_status goes to the hypervisor, function id still in a6.
        let (f, d, _) = ecall(sbi::HSM, 2, &[1]);
        assert!(
            matches!(
                d,
                AxVCpuExitReason::Hypercall {
                    nr: sbi::HSM,
                    args: [1, ..]
                }
            ),
            "{d:?}"
        );
        assert_eq!(f.x[16], 2);
        // A non-retentive suspend is not supported.
        let (f, _, _) = ecall(sbi::HSM, 3, &[0x8000_0000]);
        assert_eq!(f.x[10], sbi::ERR_NOT_SUPPORTED);
    }

    #[test]
    fn reset_timer_and_fences() {
        let (_, d, _) = ecall(sbi::SRST, 0, &[0, 0]);
        assert_eq!(d, AxVCpuExitReason::SystemDown);
        let (f, d, _) = ecall(sbi::SRST, 0, &[7, 0]);
        assert_eq!(
            (d, f.x[10]),
            (AxVCpuExitReason::Nothing, sbi::ERR_INVALID_PARAM)
        );
        let (_, d, _) = ecall(sbi::LEGACY_SHUTDOWN, 0, &[]);
        assert_eq!(d, AxVCpuExitReason::SystemDown);
        let (f, _, effects) = ecall(sbi::TIME, 0, &[12_345]);
        assert_eq!((effects.timer, f.x[10]), (Some(12_345), 0));
        let (_, _, effects) = ecall(sbi::LEGACY_SET_TIMER, 0, &[7]);
        assert_eq!(effects.timer, Some(7));
        // remote_sfence_vma(hart_mask 0b10, base 0, start 0, size 0x1000): hart 1.
        let (f, d, effects) = ecall(sbi::RFENCE, 1, &[0b10, 0, 0, 0x1000]);
        assert_eq!(
            effects.fence,
            Some(RemoteFence {
                kind: FenceKind::Vma {
                    start: 0,
                    size: 0x1000
                },
                harts: HartSet::Mask {
                    base: 0,
                    mask: 0b10
                },
            })
        );
        assert_eq!((d, f.x[10]), (AxVCpuExitReason::Nothing, 0));
        // A hart that cannot exist, an empty mask, the H-extension fences.
        let (f, _, effects) = ecall(sbi::RFENCE, 0, &[1, 64]);
        assert_eq!((effects.fence, f.x[10]), (None, sbi::ERR_INVALID_PARAM));
        let (f, _, effects) = ecall(sbi::RFENCE, 0, &[0, 0]);
        assert_eq!((effects.fence, f.x[10]), (None, 0));
        let (f, _, effects) = ecall(sbi::RFENCE, 3, &[]);
        assert_eq!(effects.fence, None);
        assert_eq!(f.x[10], sbi::ERR_NOT_SUPPORTED);
        // Legacy: every hart.
        let (_, _, effects) = ecall(sbi::LEGACY_REMOTE_SFENCE_VMA_ASID, 0, &[0, 0, 0, 5]);
        assert_eq!(effects.fence.map(|fence| fence.harts), Some(HartSet::All));
    }

    #[test]
    fn ipis_name_their_harts() {
        let ipi = |target_cpu, target_cpu_aux, all| AxVCpuExitReason::SendIPI {
            target_cpu,
            target_cpu_aux,
            send_to_all: all,
            send_to_self: all,
            vector: 1,
        };
        // send_ipi(hart_mask 0b101, base 2): harts 2 and 4.
        let (f, d, _) = ecall(sbi::IPI, 0, &[0b101, 2]);
        assert_eq!((d, f.x[10], f.x[11]), (ipi(2, 0b101, false), 0, 0));
        // base -1: every hart, the caller included.
        let (_, d, _) = ecall(sbi::IPI, 0, &[0, u64::MAX]);
        assert_eq!(d, ipi(0, 0, true));
        // Nobody named: success without an exit.
        let (f, d, _) = ecall(sbi::IPI, 0, &[0, 5]);
        assert_eq!((d, f.x[10]), (AxVCpuExitReason::Nothing, 0));
        // Hart ids past MAX_VCPU_NUM or overflowing, another function.
        for (mask, base) in [(1, 64), (1 << 63, 1), (1, u64::MAX - 1)] {
            let (f, d, _) = ecall(sbi::IPI, 0, &[mask, base]);
            assert_eq!(
                (d, f.x[10]),
                (AxVCpuExitReason::Nothing, sbi::ERR_INVALID_PARAM),
                "{mask:#x} from {base}"
            );
        }
        let (f, d, _) = ecall(sbi::IPI, 1, &[1, 0]);
        assert_eq!(
            (d, f.x[10]),
            (AxVCpuExitReason::Nothing, sbi::ERR_NOT_SUPPORTED)
        );
    }

    #[test]
    fn other_extensions_are_hypercalls() {
        let (f, d, _) = ecall(0x4d56_0001, 0, &[1, 2, 3, 4, 5, 6]);
        assert_eq!(
            d,
            AxVCpuExitReason::Hypercall {
                nr: 0x4d56_0001,
                args: [1, 2, 3, 4, 5, 6]
            }
        );
        assert_eq!(f.x[11], 0);
        let (_, d, _) = ecall(0xdead_beef, 0, &[]);
        assert!(matches!(
            d,
            AxVCpuExitReason::Hypercall {
                nr: 0xdead_beef,
                ..
            }
        ));
        let (_, d, _) = ecall(sbi::DBCN, 2, &[b'x'.into()]);
        assert!(matches!(
            d,
            AxVCpuExitReason::Hypercall { nr: sbi::DBCN, .. }
        ));
        let (_, d, _) = ecall(sbi::LEGACY_CONSOLE_PUTCHAR, 0, &[b'x'.into()]);
        assert!(matches!(
            d,
            AxVCpuExitReason::Hypercall {
                nr: 1,
                args: [0x78, ..]
            }
        ));
    }

    #[test]
    fn fault_addresses_wrap() {
        assert_eq!(fault_gpa(0x0400_0000, 0x3), 0x1000_0003);
        assert_eq!(fault_gpa(u64::MAX, u64::MAX), u64::MAX);
    }
}
