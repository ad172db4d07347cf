//! Decoding the guest instruction of an EPT violation into an MMIO access, with
//! `iced-x86`: `MOV` (88, 89, 8A, 8B, C6, C7, A0–A3), `MOVZX`, `MOVSX`, `MOVSXD`
//! between a general register (or an immediate) and memory. Anything else is not an
//! MMIO access the backend emulates.

use axvm_types::AccessWidth;
use iced_x86::{Decoder, DecoderOptions, Instruction, MemorySize, Mnemonic, OpKind, Register};

/// What the decoded instruction does with memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MmioOp {
    /// A load into a general register.
    Load {
        /// The width of the memory access.
        width: AccessWidth,
        /// The destination register (x86 numbering).
        reg: usize,
        /// The width of the destination.
        reg_width: AccessWidth,
        /// Sign extension (`MOVSX`, `MOVSXD`).
        signed: bool,
    },
    /// A store of a general register.
    StoreReg {
        /// The width of the access.
        width: AccessWidth,
        /// The source register (x86 numbering).
        reg: usize,
    },
    /// A store of an immediate.
    StoreImm {
        /// The width of the access.
        width: AccessWidth,
        /// The value (already extended to 64 bits).
        value: u64,
    },
}

/// A decoded MMIO instruction and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmioInstruction {
    /// The access.
    pub op: MmioOp,
    /// The instruction's length in bytes.
    pub len: u64,
}

/// A general register operand: its x86 number and width; `None` for anything else,
/// including the high-byte registers `AH`, `CH`, `DH`, `BH`.
#[must_use]
pub fn gpr(register: Register) -> Option<(usize, AccessWidth)> {
    let code = register as usize;
    let (first, width) = match code {
        1..=4 => (1, AccessWidth::Byte),    // AL CL DL BL
        9..=20 => (5, AccessWidth::Byte),   // SPL..R15L (numbers 4..15)
        21..=36 => (21, AccessWidth::Word), // AX..R15W
        37..=52 => (37, AccessWidth::Dword),
        53..=68 => (53, AccessWidth::Qword),
        _ => return None,
    };
    Some((code.checked_sub(first)?, width))
}

const fn memory_width(size: MemorySize) -> Option<AccessWidth> {
    match size {
        MemorySize::UInt8 | MemorySize::Int8 => Some(AccessWidth::Byte),
        MemorySize::UInt16 | MemorySize::Int16 => Some(AccessWidth::Word),
        MemorySize::UInt32 | MemorySize::Int32 => Some(AccessWidth::Dword),
        MemorySize::UInt64 | MemorySize::Int64 => Some(AccessWidth::Qword),
        _ => None,
    }
}

const fn is_immediate(kind: OpKind) -> bool {
    matches!(
        kind,
        OpKind::Immediate8
            | OpKind::Immediate16
            | OpKind::Immediate32
            | OpKind::Immediate64
            | OpKind::Immediate8to16
            | OpKind::Immediate8to32
            | OpKind::Immediate8to64
            | OpKind::Immediate32to64
    )
}

/// Decodes `bytes` (at most 15) as code of `bitness` (16, 32 or 64; anything else
/// is treated as 64); `None` unless it is one of the MMIO instructions above.
#[must_use]
pub fn decode(bytes: &[u8], bitness: u32) -> Option<MmioInstruction> {
    let bitness = match bitness {
        16 | 32 => bitness,
        _ => 64,
    };
    let mut decoder = Decoder::new(bitness, bytes, DecoderOptions::NONE);
    let insn = decoder.decode();
    if insn.is_invalid() || insn.op_count() != 2 {
        return None;
    }
    let op = match insn.mnemonic() {
        Mnemonic::Mov => mov(&insn)?,
        Mnemonic::Movzx => extending_load(&insn, false)?,
        Mnemonic::Movsx | Mnemonic::Movsxd => extending_load(&insn, true)?,
        _ => return None,
    };
    Some(MmioInstruction {
        op,
        len: insn.len() as u64,
    })
}

fn mov(insn: &Instruction) -> Option<MmioOp> {
    let width = memory_width(insn.memory_size())?;
    match (insn.op0_kind(), insn.op1_kind()) {
        (OpKind::Register, OpKind::Memory) => {
            let (reg, reg_width) = gpr(insn.op0_register())?;
            Some(MmioOp::Load {
                width,
                reg,
                reg_width,
                signed: false,
            })
        }
        (OpKind::Memory, OpKind::Register) => {
            let (reg, _) = gpr(insn.op1_register())?;
            Some(MmioOp::StoreReg { width, reg })
        }
        (OpKind::Memory, kind) if is_immediate(kind) => Some(MmioOp::StoreImm {
            width,
            value: insn.immediate(1) & width.mask(),
        }),
        _ => None,
    }
}

fn extending_load(insn: &Instruction, signed: bool) -> Option<MmioOp> {
    if insn.op0_kind() != OpKind::Register || insn.op1_kind() != OpKind::Memory {
        return None;
    }
    let (reg, reg_width) = gpr(insn.op0_register())?;
    Some(MmioOp::Load {
        width: memory_width(insn.memory_size())?,
        reg,
        reg_width,
        signed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(width: AccessWidth, reg: usize, reg_width: AccessWidth, signed: bool) -> MmioOp {
        MmioOp::Load {
            width,
            reg,
            reg_width,
            signed,
        }
    }

    #[test]
    fn moves_of_every_form() {
        use AccessWidth::{Byte, Dword, Qword, Word};
        let cases: &[(&[u8], u32, MmioOp, u64)] = &[
            // mov [rdi], al
            (
                &[0x88, 0x07],
                64,
                MmioOp::StoreReg {
                    width: Byte,
                    reg: 0,
                },
                2,
            ),
            // mov [rax+8], r9d
            (
                &[0x44, 0x89, 0x48, 0x08],
                64,
                MmioOp::StoreReg {
                    width: Dword,
                    reg: 9,
                },
                4,
            ),
            // mov [rbx], rsp
            (
                &[0x48, 0x89, 0x23],
                64,
                MmioOp::StoreReg {
                    width: Qword,
                    reg: 4,
                },
                3,
            ),
            // mov sil, [rdx]
            (&[0x40, 0x8a, 0x32], 64, load(Byte, 6, Byte, false), 3),
            // mov eax, [rbx]
            (&[0x8b, 0x03], 64, load(Dword, 0, Dword, false), 2),
            // mov ax, [bx] (16-bit code)
            (&[0x8b, 0x07], 16, load(Word, 0, Word, false), 2),
            // mov ecx, [esi] (32-bit code)
            (&[0x8b, 0x0e], 32, load(Dword, 1, Dword, false), 2),
            // mov byte [rax], 0x41
            (
                &[0xc6, 0x00, 0x41],
                64,
                MmioOp::StoreImm {
                    width: Byte,
                    value: 0x41,
                },
                3,
            ),
            // mov qword [rax], -1 (imm32 sign-extended)
            (
                &[0x48, 0xc7, 0x00, 0xff, 0xff, 0xff, 0xff],
                64,
                MmioOp::StoreImm {
                    width: Qword,
                    value: u64::MAX,
                },
                7,
            ),
            // mov word [0x1000], 0x1234 (16-bit code)
            (
                &[0xc7, 0x06, 0x00, 0x10, 0x34, 0x12],
                16,
                MmioOp::StoreImm {
                    width: Word,
                    value: 0x1234,
                },
                6,
            ),
            // mov al, [moffs32] (32-bit code)
            (
                &[0xa0, 0x00, 0x00, 0xc0, 0xfe],
                32,
                load(Byte, 0, Byte, false),
                5,
            ),
            // mov [moffs32], eax
            (
                &[0xa3, 0x00, 0x00, 0xc0, 0xfe],
                32,
                MmioOp::StoreReg {
                    width: Dword,
                    reg: 0,
                },
                5,
            ),
            // movzx ecx, byte [rax]
            (&[0x0f, 0xb6, 0x08], 64, load(Byte, 1, Dword, false), 3),
            // movsx r8, word [rax]
            (&[0x4c, 0x0f, 0xbf, 0x00], 64, load(Word, 8, Qword, true), 4),
            // movsxd rdx, dword [rax]
            (&[0x48, 0x63, 0x10], 64, load(Dword, 2, Qword, true), 3),
        ];
        for &(bytes, bitness, op, len) in cases {
            assert_eq!(
                decode(bytes, bitness),
                Some(MmioInstruction { op, len }),
                "{bytes:x?}"
            );
        }
    }

    #[test]
    fn everything_else_is_refused() {
        for (bytes, bitness) in [
            (&[0x88, 0x27][..], 64),   // mov [rdi], ah
            (&[0x8a, 0x3b], 32),       // mov bh, [ebx]
            (&[0x01, 0x03], 64),       // add [rbx], eax
            (&[0xf3, 0xa4], 64),       // rep movsb
            (&[0x8e, 0x18], 64),       // mov ds, [rax]
            (&[0x89, 0xd8], 64),       // mov eax, ebx (no memory)
            (&[0x0f, 0x10, 0x00], 64), // movups xmm0, [rax]
            (&[0x8b], 64),             // truncated
            (&[], 64),
            (&[0x0f, 0x0b], 64), // ud2
        ] {
            assert_eq!(decode(bytes, bitness), None, "{bytes:x?}");
        }
    }

    #[test]
    fn registers_map_to_x86_numbers() {
        assert_eq!(gpr(Register::AL), Some((0, AccessWidth::Byte)));
        assert_eq!(gpr(Register::SPL), Some((4, AccessWidth::Byte)));
        assert_eq!(gpr(Register::R15L), Some((15, AccessWidth::Byte)));
        assert_eq!(gpr(Register::DI), Some((7, AccessWidth::Word)));
        assert_eq!(gpr(Register::R8D), Some((8, AccessWidth::Dword)));
        assert_eq!(gpr(Register::R15), Some((15, AccessWidth::Qword)));
        assert_eq!(gpr(Register::AH), None);
        assert_eq!(gpr(Register::BH), None);
        assert_eq!(gpr(Register::RIP), None);
        assert_eq!(gpr(Register::None), None);
    }

    #[test]
    fn random_bytes_never_panic() {
        // A xorshift generator: deterministic, no dependency.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let bytes = state.to_le_bytes();
            let more = state.rotate_left(17).to_le_bytes();
            let mut buf = [0u8; 15];
            buf[..8].copy_from_slice(&bytes);
            buf[8..].copy_from_slice(&more[..7]);
            let len = (state % 16) as usize;
            for bitness in [16, 32, 64, 7] {
                let _ = decode(&buf[..len], bitness);
            }
        }
    }
}
