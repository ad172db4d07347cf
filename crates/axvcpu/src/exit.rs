//! Why a vCPU stopped running guest code.

use axvm_types::{AccessWidth, GuestPhysAddr, MappingFlags, Port, SysRegAddr};

/// The reason [`AxArchVCpu::run`](crate::AxArchVCpu::run) returned.
///
/// **Access exits** (`MmioRead`, `MmioWrite`, `SysRegRead`, `SysRegWrite`, `IoRead`,
/// `IoWrite`) leave the guest at the trapping instruction: the caller emulates the
/// access, writes a read's value with [`AxVCpu::complete_read`](crate::AxVCpu::complete_read)
/// (or skips a write with [`AxVCpu::complete_write`](crate::AxVCpu::complete_write)), and
/// only then does the guest move on. A caller that instead resolves the fault (for
/// example by populating a lazily mapped page) simply runs the vCPU again and the
/// instruction is retried. Every other exit has already moved the guest past the
/// instruction that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AxVCpuExitReason {
    /// A hypercall (aarch64 HVC, riscv SBI call to a hypervisor extension, x86
    /// VMCALL): `nr` and up to six arguments. Answer with
    /// [`AxArchVCpu::set_return_value`](crate::AxArchVCpu::set_return_value).
    Hypercall {
        /// The hypercall number.
        nr: u64,
        /// The arguments.
        args: [u64; 6],
    },
    /// A load from an address with no RAM behind it.
    MmioRead {
        /// The guest physical address accessed.
        addr: GuestPhysAddr,
        /// The width of the access.
        width: AccessWidth,
        /// The destination general-purpose register.
        reg: usize,
        /// The width of the destination register.
        reg_width: AccessWidth,
        /// Whether the loaded value is sign-extended to `reg_width`.
        signed_ext: bool,
    },
    /// A store to an address with no RAM behind it.
    MmioWrite {
        /// The guest physical address accessed.
        addr: GuestPhysAddr,
        /// The width of the access.
        width: AccessWidth,
        /// The value stored (the low `width` bytes are meaningful).
        data: u64,
    },
    /// A read of a trapped system register.
    SysRegRead {
        /// The register.
        addr: SysRegAddr,
        /// The destination general-purpose register.
        reg: usize,
    },
    /// A write of a trapped system register.
    SysRegWrite {
        /// The register.
        addr: SysRegAddr,
        /// The value written.
        value: u64,
    },
    /// An x86 `in` instruction.
    IoRead {
        /// The port.
        port: Port,
        /// The width of the access.
        width: AccessWidth,
    },
    /// An x86 `out` instruction.
    IoWrite {
        /// The port.
        port: Port,
        /// The width of the access.
        width: AccessWidth,
        /// The value written.
        data: u64,
    },
    /// A physical interrupt arrived while the guest ran; the host should handle it.
    ExternalInterrupt {
        /// The interrupt number.
        vector: u64,
    },
    /// A guest access faulted in the nested page table and could not be decoded as an
    /// MMIO access (an instruction fetch, or a load/store without a usable syndrome).
    /// The caller populates the page and runs again, or stops the VM.
    NestedPageFault {
        /// The faulting guest physical address.
        addr: GuestPhysAddr,
        /// The kind of access (READ, WRITE or EXECUTE).
        access_flags: MappingFlags,
    },
    /// The guest waits for an interrupt (WFI, HLT).
    Halt,
    /// The guest asks to start another vCPU (PSCI CPU_ON, SBI HSM hart_start, SIPI).
    CpuUp {
        /// The target vCPU, as the guest names it (MPIDR affinity, hart id, APIC id).
        target_cpu: u64,
        /// Where the target starts.
        entry_point: GuestPhysAddr,
        /// The argument passed to the target in its first argument register.
        arg: u64,
    },
    /// The guest stops this vCPU (PSCI CPU_OFF, SBI HSM hart_stop).
    CpuDown {
        /// The power state the guest asked for.
        state: u64,
    },
    /// The guest powers the whole VM off (PSCI SYSTEM_OFF, SBI SRST, triple fault).
    SystemDown,
    /// The guest sends an inter-processor interrupt to other vCPUs of its VM (riscv64:
    /// SBI IPI `send_ipi`; an x86 local APIC's ICR write will use it too). The targets
    /// are `send_to_all` and `send_to_self` if either is set, otherwise the vCPUs of
    /// the mask. The caller makes `vector` pending on each target (through
    /// [`AxArchVCpu::inject_interrupt`](crate::AxArchVCpu::inject_interrupt) before
    /// its next entry) and wakes it. The guest's result register already says success
    /// (riscv64 `a0` = `SBI_SUCCESS`): a caller that finds a target that does not
    /// exist overwrites it with
    /// [`AxArchVCpu::set_return_value`](crate::AxArchVCpu::set_return_value) (riscv64:
    /// `SBI_ERR_INVALID_PARAM`).
    SendIPI {
        /// The vCPU id bit 0 of `target_cpu_aux` names (riscv64: `hart_mask_base`).
        target_cpu: u64,
        /// One bit per target: bit `n` names vCPU `target_cpu + n` (riscv64:
        /// `hart_mask`). Used only when neither flag is set.
        target_cpu_aux: u64,
        /// Every vCPU of the VM but the sender (riscv64: `hart_mask_base` = -1, with
        /// `send_to_self`).
        send_to_all: bool,
        /// The sender itself.
        send_to_self: bool,
        /// The interrupt each target gets, as `inject_interrupt` takes it (riscv64: 1,
        /// the supervisor software interrupt).
        vector: u64,
    },
    /// Nothing for the caller to do; run again. (riscv64 without Sstc returns it after
    /// the guest's SBI `set_timer`, for a hypervisor that arms its timer for the new
    /// deadline.)
    Nothing,
    /// The hardware refused to enter the guest.
    FailEntry {
        /// The architecture's failure code.
        reason: u64,
    },
}

impl AxVCpuExitReason {
    /// A short name of the exit kind, for statistics and logs.
    #[must_use]
    pub const fn kind(&self) -> ExitKind {
        match self {
            Self::Hypercall { .. } => ExitKind::Hypercall,
            Self::MmioRead { .. } => ExitKind::MmioRead,
            Self::MmioWrite { .. } => ExitKind::MmioWrite,
            Self::SysRegRead { .. } => ExitKind::SysRegRead,
            Self::SysRegWrite { .. } => ExitKind::SysRegWrite,
            Self::IoRead { .. } => ExitKind::IoRead,
            Self::IoWrite { .. } => ExitKind::IoWrite,
            Self::ExternalInterrupt { .. } => ExitKind::ExternalInterrupt,
            Self::NestedPageFault { .. } => ExitKind::NestedPageFault,
            Self::Halt => ExitKind::Halt,
            Self::CpuUp { .. } => ExitKind::CpuUp,
            Self::CpuDown { .. } => ExitKind::CpuDown,
            Self::SystemDown => ExitKind::SystemDown,
            Self::SendIPI { .. } => ExitKind::SendIpi,
            Self::Nothing => ExitKind::Nothing,
            Self::FailEntry { .. } => ExitKind::FailEntry,
        }
    }
}

/// The kinds of [`AxVCpuExitReason`], without their data: an index for exit counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(usize)]
pub enum ExitKind {
    /// [`AxVCpuExitReason::Hypercall`].
    Hypercall,
    /// [`AxVCpuExitReason::MmioRead`].
    MmioRead,
    /// [`AxVCpuExitReason::MmioWrite`].
    MmioWrite,
    /// [`AxVCpuExitReason::SysRegRead`].
    SysRegRead,
    /// [`AxVCpuExitReason::SysRegWrite`].
    SysRegWrite,
    /// [`AxVCpuExitReason::IoRead`].
    IoRead,
    /// [`AxVCpuExitReason::IoWrite`].
    IoWrite,
    /// [`AxVCpuExitReason::ExternalInterrupt`].
    ExternalInterrupt,
    /// [`AxVCpuExitReason::NestedPageFault`].
    NestedPageFault,
    /// [`AxVCpuExitReason::Halt`].
    Halt,
    /// [`AxVCpuExitReason::CpuUp`].
    CpuUp,
    /// [`AxVCpuExitReason::CpuDown`].
    CpuDown,
    /// [`AxVCpuExitReason::SystemDown`].
    SystemDown,
    /// [`AxVCpuExitReason::SendIPI`].
    SendIpi,
    /// [`AxVCpuExitReason::Nothing`].
    Nothing,
    /// [`AxVCpuExitReason::FailEntry`].
    FailEntry,
}

impl ExitKind {
    /// Every kind, in declaration order (`kind as usize` indexes this array).
    pub const ALL: [Self; 16] = [
        Self::Hypercall,
        Self::MmioRead,
        Self::MmioWrite,
        Self::SysRegRead,
        Self::SysRegWrite,
        Self::IoRead,
        Self::IoWrite,
        Self::ExternalInterrupt,
        Self::NestedPageFault,
        Self::Halt,
        Self::CpuUp,
        Self::CpuDown,
        Self::SystemDown,
        Self::SendIpi,
        Self::Nothing,
        Self::FailEntry,
    ];

    /// The name printed in summaries.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Hypercall => "hypercall",
            Self::MmioRead => "mmio-read",
            Self::MmioWrite => "mmio-write",
            Self::SysRegRead => "sysreg-read",
            Self::SysRegWrite => "sysreg-write",
            Self::IoRead => "io-read",
            Self::IoWrite => "io-write",
            Self::ExternalInterrupt => "irq",
            Self::NestedPageFault => "nested-page-fault",
            Self::Halt => "halt",
            Self::CpuUp => "cpu-up",
            Self::CpuDown => "cpu-down",
            Self::SystemDown => "system-down",
            Self::SendIpi => "send-ipi",
            Self::Nothing => "nothing",
            Self::FailEntry => "fail-entry",
        }
    }
}

impl core::fmt::Display for ExitKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use super::*;

    #[test]
    fn kinds_index_their_table() {
        for (i, kind) in ExitKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, i);
        }
        assert_eq!(AxVCpuExitReason::Halt.kind(), ExitKind::Halt);
        assert_eq!(ExitKind::NestedPageFault.to_string(), "nested-page-fault");
    }
}
