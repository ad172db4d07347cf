//! The hypercalls minivisor answers.

/// Returns the wrapping sum of the six arguments.
pub const SUM: u64 = 0x4d56_0001;
/// Returns the exclusive or of the six arguments.
pub const XOR: u64 = 0x4d56_0002;
/// riscv64: whether the calling vCPU's timer is Sstc's (1) or on the SBI TIME path
/// (0), so a test guest without a device tree knows whether it may write
/// `stimecmp` (a Linux guest reads `sstc` in its ISA string). Answered by
/// `arch::firmware_call`, which sees the vCPU.
#[cfg_attr(
    not(target_arch = "riscv64"),
    allow(dead_code, reason = "only riscv64 vCPUs have the choice")
)]
pub const TIMER_SSTC: u64 = 0x4d56_0003;
/// Powers the calling VM off: for guests whose platform has no firmware call for it
/// (x86_64); works on every architecture.
pub const SYSTEM_OFF: u64 = 0x4d56_00ff;
/// The result of an unknown hypercall: the architecture's NOT_SUPPORTED (SMCCC -1
/// on aarch64, SBI_ERR_NOT_SUPPORTED -2 on riscv64, -1 on x86_64).
pub const NOT_SUPPORTED: u64 = crate::arch::HYPERCALL_NOT_SUPPORTED;

/// The result of hypercall `nr`, or `None` for an unknown one.
pub fn answer(nr: u64, args: [u64; 6]) -> Option<u64> {
    match nr {
        SUM => Some(args.iter().fold(0u64, |acc, a| acc.wrapping_add(*a))),
        XOR => Some(args.iter().fold(0u64, |acc, a| acc ^ *a)),
        _ => None,
    }
}
