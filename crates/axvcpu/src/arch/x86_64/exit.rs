//! VM exits into [`AxVCpuExitReason`]s: the exit reasons, their qualifications
//! ([`qual`]), the MMIO instruction decoder ([`mmio`]), the `CPUID` filter
//! ([`cpuid`]), the MSR allow-list ([`msr`]), the virtual local APIC ([`lapic`])
//! and the emulation of control-register writes. Everything here reaches the CPU
//! through [`ExitEnv`], so it runs against a model of the VMCS and of memory in host
//! tests.

pub mod cpuid;
mod cr;
pub mod lapic;
pub mod mmio;
pub mod msr;
pub mod qual;
mod switched;

use crate::ratelimit::log_limited;
use axvm_types::{AxVmError, AxVmResult, GuestPhysAddr};

use self::{
    lapic::{IcrEffect, VLapic},
    mmio::{MmioInstruction, MmioOp},
    qual::{EptQual, INTR_INFO_ERROR_CODE, INTR_INFO_VALID, IoQual, VECTOR_GP, VECTOR_UD},
};
use super::{
    context::{
        GuestRegs, RSP, merge_load,
        start::{CR0_PE, EFER_LMA},
        switched::DebugRegs,
        vmcs::{self, VmcsAccess},
    },
    paging::{GuestMemory, GuestPaging, MAX_INSTRUCTION_LEN},
    vcpu::CrFixed,
};
use crate::AxVCpuExitReason;

pub use self::switched::MovDrQual;

/// Basic exit reasons (bits 15:0 of the exit reason; Intel SDM Vol. 3, Appendix C).
pub mod reason {
    /// An exception (none exits: the bitmap is empty) or an NMI.
    pub const EXCEPTION_OR_NMI: u32 = 0;
    /// An external interrupt arrived.
    pub const EXTERNAL_INTERRUPT: u32 = 1;
    /// The guest triple-faulted.
    pub const TRIPLE_FAULT: u32 = 2;
    /// An INIT signal arrived.
    pub const INIT: u32 = 3;
    /// A start-up IPI arrived.
    pub const SIPI: u32 = 4;
    /// The guest can take an interrupt (interrupt-window exiting).
    pub const INTERRUPT_WINDOW: u32 = 7;
    /// `CPUID`.
    pub const CPUID: u32 = 10;
    /// `HLT`.
    pub const HLT: u32 = 12;
    /// `VMCALL`.
    pub const VMCALL: u32 = 18;
    /// A control-register access.
    pub const CR_ACCESS: u32 = 28;
    /// An I/O instruction.
    pub const IO_INSTRUCTION: u32 = 30;
    /// `RDMSR`.
    pub const RDMSR: u32 = 31;
    /// `WRMSR`.
    pub const WRMSR: u32 = 32;
    /// `MOV` to or from a debug register.
    pub const MOV_DR: u32 = 29;
    /// An EPT violation.
    pub const EPT_VIOLATION: u32 = 48;
    /// `XSETBV`.
    pub const XSETBV: u32 = 55;
    /// An EPT misconfiguration.
    pub const EPT_MISCONFIG: u32 = 49;
    /// Bit 31 of the exit reason: the VM entry failed.
    pub const ENTRY_FAILURE: u32 = 1 << 31;
}

/// The machine an exit is handled on: the current VMCS, plus the host's `CPUID`,
/// time-stamp counter and physical memory.
pub trait ExitEnv: VmcsAccess {
    /// The host's `CPUID(leaf, subleaf)` as `[eax, ebx, ecx, edx]`.
    fn cpuid(&self, leaf: u32, subleaf: u32) -> [u32; 4];
    /// The host's time-stamp counter.
    fn rdtsc(&self) -> u64;
    /// The 8 bytes of host physical memory at the 8-aligned address `hpa`.
    fn read_host(&self, hpa: u64) -> Option<u64>;
    /// Sets the live XCR0 (the guest's, while its vCPU is bound) to a checked value.
    fn set_xcr0(&mut self, value: u64);
    /// Runs the host's NMI handler for an NMI that arrived while the guest ran.
    fn host_nmi(&mut self);
}

/// One exit being handled: the machine, the guest's registers, and what the
/// handling leaves for the next entry.
pub(crate) struct ExitCtx<'a, E> {
    pub env: &'a mut E,
    pub regs: &'a mut GuestRegs,
    /// The EPT pointer of the vCPU (to read guest memory).
    pub eptp: u64,
    /// The CPU's fixed CR0/CR4 bits.
    pub fixed: CrFixed,
    /// The vCPU's id (its APIC id).
    pub vcpu_id: usize,
    /// The vCPU's local APIC, which answers accesses to its page in place.
    pub lapic: &'a mut VLapic,
    /// The debug registers as the guest set them (MOV-DR exits).
    pub debug: &'a mut DebugRegs,
    /// The XCR0 components the guest may enable (`XSETBV`).
    pub xcr0_mask: u64,
    /// Out: the length of the instruction of an access exit.
    pub access_len: u64,
    /// Out: an event (re-injected or a `#GP`) is queued for the next entry.
    pub event_queued: bool,
}

/// Moves the guest's RIP `len` bytes on and ends any `STI` / `MOV SS` interrupt
/// shadow, as executing the instruction would have.
///
/// # Errors
///
/// When a VMCS access fails.
pub(crate) fn advance_rip<V: VmcsAccess>(vmcs: &mut V, len: u64) -> AxVmResult {
    let rip = vmcs.read(vmcs::GUEST_RIP)?;
    vmcs.write(vmcs::GUEST_RIP, rip.wrapping_add(len))?;
    let shadow = vmcs.read(vmcs::GUEST_INTERRUPTIBILITY)?;
    if shadow & 0b11 != 0 {
        vmcs.write(vmcs::GUEST_INTERRUPTIBILITY, shadow & !0b11)?;
    }
    Ok(())
}

impl<E: ExitEnv> ExitCtx<'_, E> {
    /// Handles the exit that just happened; `Nothing` when it was handled here and
    /// the guest can be entered again.
    ///
    /// # Errors
    ///
    /// `Unsupported` (logged) for exits the backend does not handle, string or
    /// `REP` I/O, and unexpected control-register accesses; a VMCS access error.
    pub fn handle(&mut self) -> AxVmResult<AxVCpuExitReason> {
        let raw = self.env.read(vmcs::EXIT_REASON)? as u32;
        if raw & reason::ENTRY_FAILURE != 0 {
            log_limited!(
                error,
                "x86 vCPU {}: VM entry failed, exit reason {raw:#x}",
                self.vcpu_id
            );
            return Ok(AxVCpuExitReason::FailEntry {
                reason: u64::from(raw),
            });
        }
        self.reinject_interrupted_event()?;
        match raw & 0xffff {
            reason::EXCEPTION_OR_NMI => self.exception_or_nmi(),
            reason::EXTERNAL_INTERRUPT => self.external_interrupt(),
            reason::TRIPLE_FAULT => Ok(AxVCpuExitReason::SystemDown),
            reason::INTERRUPT_WINDOW => Ok(AxVCpuExitReason::Nothing),
            reason::CPUID => self.cpuid(),
            reason::HLT => {
                self.skip()?;
                Ok(AxVCpuExitReason::Halt)
            }
            reason::VMCALL => self.vmcall(),
            reason::CR_ACCESS => self.cr_access(),
            reason::IO_INSTRUCTION => self.io(),
            reason::RDMSR => self.rdmsr(),
            reason::WRMSR => self.wrmsr(),
            reason::EPT_VIOLATION => self.ept_violation(),
            reason::MOV_DR => self.mov_dr(),
            reason::XSETBV => self.xsetbv(),
            basic => {
                let rip = self.env.read(vmcs::GUEST_RIP).unwrap_or(0);
                let qualification = self.env.read(vmcs::EXIT_QUALIFICATION).unwrap_or(0);
                log_limited!(
                    error,
                    "x86 vCPU {}: unhandled VM exit {basic} ({}) at guest RIP {rip:#x}, qualification {qualification:#x}",
                    self.vcpu_id,
                    reason_name(basic)
                );
                Err(AxVmError::Unsupported)
            }
        }
    }

    /// General register `reg` (RSP from the VMCS).
    fn gpr(&self, reg: usize) -> AxVmResult<u64> {
        if reg == RSP {
            self.env.read(vmcs::GUEST_RSP)
        } else {
            Ok(self.regs.get(reg))
        }
    }

    fn set_gpr(&mut self, reg: usize, value: u64) -> AxVmResult {
        if reg == RSP {
            self.env.write(vmcs::GUEST_RSP, value)
        } else {
            self.regs.set(reg, value);
            Ok(())
        }
    }

    /// Moves the guest past the instruction that exited.
    fn skip(&mut self) -> AxVmResult {
        let len = self.env.read(vmcs::EXIT_INSTRUCTION_LEN)?;
        advance_rip(self.env, len)
    }

    /// Queues `#GP(0)` for the next entry (the instruction is not skipped).
    fn inject_gp(&mut self) -> AxVmResult {
        self.inject_exception(VECTOR_GP, true)
    }

    /// Queues hardware exception `vector` (with error code 0 when `error_code`)
    /// for the next entry; the instruction is not skipped.
    fn inject_exception(&mut self, vector: u8, error_code: bool) -> AxVmResult {
        self.env.write(
            vmcs::ENTRY_INTR_INFO,
            u64::from(qual::hardware_exception(vector, error_code)),
        )?;
        if error_code {
            self.env.write(vmcs::ENTRY_EXCEPTION_ERROR_CODE, 0)?;
        }
        self.event_queued = true;
        Ok(())
    }

    /// An exit in the middle of delivering an event (for example an EPT violation
    /// on the guest's IDT or stack) loses the event unless it is injected again.
    fn reinject_interrupted_event(&mut self) -> AxVmResult {
        let info = self.env.read(vmcs::IDT_VECTORING_INFO)? as u32;
        if info & INTR_INFO_VALID == 0 {
            return Ok(());
        }
        self.env
            .write(vmcs::ENTRY_INTR_INFO, u64::from(info & 0x8000_0fff))?;
        if info & INTR_INFO_ERROR_CODE != 0 {
            let code = self.env.read(vmcs::IDT_VECTORING_ERROR_CODE)?;
            self.env.write(vmcs::ENTRY_EXCEPTION_ERROR_CODE, code)?;
        }
        if qual::needs_instruction_length(info) {
            let len = self.env.read(vmcs::EXIT_INSTRUCTION_LEN)?;
            self.env.write(vmcs::ENTRY_INSTRUCTION_LEN, len)?;
        }
        self.event_queued = true;
        Ok(())
    }

    fn external_interrupt(&mut self) -> AxVmResult<AxVCpuExitReason> {
        let info = self.env.read(vmcs::EXIT_INTR_INFO)?;
        if info & u64::from(INTR_INFO_VALID) == 0 {
            log_limited!(
                error,
                "x86 vCPU {}: external-interrupt exit without a vector",
                self.vcpu_id
            );
            return Err(AxVmError::BadState);
        }
        Ok(AxVCpuExitReason::ExternalInterrupt {
            vector: info & 0xff,
        })
    }

    fn cpuid(&mut self) -> AxVmResult<AxVCpuExitReason> {
        let leaf = self.regs.get(0) as u32;
        let subleaf = self.regs.get(1) as u32;
        let apic_id = u8::try_from(self.vcpu_id).unwrap_or(u8::MAX);
        let [eax, ebx, ecx, edx] =
            cpuid::filter(leaf, subleaf, self.env.cpuid(leaf, subleaf), apic_id);
        self.regs.set(0, u64::from(eax));
        self.regs.set(3, u64::from(ebx));
        self.regs.set(1, u64::from(ecx));
        self.regs.set(2, u64::from(edx));
        self.skip()?;
        Ok(AxVCpuExitReason::Nothing)
    }

    /// A hypercall from the guest kernel; from user mode (CPL 3, or any CPL but 0)
    /// it is not one: the guest gets `#UD`, as on a CPU without a hypervisor.
    fn vmcall(&mut self) -> AxVmResult<AxVCpuExitReason> {
        let cpl = (self.env.read(vmcs::GUEST_SS_ACCESS_RIGHTS)? >> 5) & 0b11;
        if cpl != 0 {
            self.inject_exception(VECTOR_UD, false)?;
            return Ok(AxVCpuExitReason::Nothing);
        }
        self.skip()?;
        let r = &self.regs;
        Ok(AxVCpuExitReason::Hypercall {
            nr: r.get(0),
            args: [r.get(7), r.get(6), r.get(2), r.get(1), r.get(8), r.get(9)],
        })
    }

    fn io(&mut self) -> AxVmResult<AxVCpuExitReason> {
        let q = IoQual(self.env.read(vmcs::EXIT_QUALIFICATION)?);
        let Some(width) = q.width() else {
            log_limited!(
                error,
                "x86 vCPU {}: I/O exit with an invalid size ({:#x})",
                self.vcpu_id,
                q.0
            );
            return Err(AxVmError::Unsupported);
        };
        if q.is_string() || q.is_rep() {
            log_limited!(
                error,
                "x86 vCPU {}: string or REP I/O on port {:#x} is not supported",
                self.vcpu_id,
                q.port()
            );
            return Err(AxVmError::Unsupported);
        }
        self.access_len = self.env.read(vmcs::EXIT_INSTRUCTION_LEN)?;
        let port = q.port().into();
        Ok(if q.is_in() {
            AxVCpuExitReason::IoRead { port, width }
        } else {
            AxVCpuExitReason::IoWrite {
                port,
                width,
                data: self.regs.get(0) & width.mask(),
            }
        })
    }

    fn rdmsr(&mut self) -> AxVmResult<AxVCpuExitReason> {
        let index = self.regs.get(1) as u32;
        let value = match msr::read(index, self.vcpu_id == 0) {
            Some(msr::MsrRead::Vmcs(field)) => self.env.read(field)?,
            Some(msr::MsrRead::Constant(value)) => value,
            Some(msr::MsrRead::Tsc) => self.env.rdtsc(),
            None => {
                log_limited!(
                    warn,
                    "x86 vCPU {}: guest read of MSR {index:#x} refused (#GP)",
                    self.vcpu_id
                );
                self.inject_gp()?;
                return Ok(AxVCpuExitReason::Nothing);
            }
        };
        self.regs.set(0, value & 0xffff_ffff);
        self.regs.set(2, value >> 32);
        self.skip()?;
        Ok(AxVCpuExitReason::Nothing)
    }

    fn wrmsr(&mut self) -> AxVmResult<AxVCpuExitReason> {
        let index = self.regs.get(1) as u32;
        let value = (self.regs.get(2) << 32) | (self.regs.get(0) & 0xffff_ffff);
        let paging = self.env.read(vmcs::GUEST_CR0)? & super::context::start::CR0_PG != 0;
        let accepted = match msr::vmcs_field(index) {
            Some(field) => {
                let old = self.env.read(field)?;
                msr::write(index, value, old, paging).map(|new| (field, new))
            }
            None => None,
        };
        let Some((field, new)) = accepted else {
            log_limited!(
                warn,
                "x86 vCPU {}: guest write of {value:#x} to MSR {index:#x} refused (#GP)",
                self.vcpu_id
            );
            self.inject_gp()?;
            return Ok(AxVCpuExitReason::Nothing);
        };
        self.env.write(field, new)?;
        self.skip()?;
        Ok(AxVCpuExitReason::Nothing)
    }

    fn ept_violation(&mut self) -> AxVmResult<AxVCpuExitReason> {
        let q = EptQual(self.env.read(vmcs::EXIT_QUALIFICATION)?);
        let gpa = self.env.read(vmcs::GUEST_PHYSICAL_ADDR)?;
        let addr = GuestPhysAddr::from(gpa as usize);
        let fault = AxVCpuExitReason::NestedPageFault {
            addr,
            access_flags: q.access_flags(),
        };
        // Fetches, accesses of the guest's page walk and of event delivery are not
        // instructions to emulate.
        if q.fetch() || !q.final_translation() || self.event_queued {
            return Ok(fault);
        }
        let Some(MmioInstruction { op, len }) = self.decode_at_rip()? else {
            return Ok(fault);
        };
        let exit = match op {
            MmioOp::Load {
                width,
                reg,
                reg_width,
                signed,
            } if !q.write() => AxVCpuExitReason::MmioRead {
                addr,
                width,
                reg,
                reg_width,
                signed_ext: signed,
            },
            MmioOp::StoreReg { width, reg } if q.write() => AxVCpuExitReason::MmioWrite {
                addr,
                width,
                data: self.gpr(reg)? & width.mask(),
            },
            MmioOp::StoreImm { width, value } if q.write() => AxVCpuExitReason::MmioWrite {
                addr,
                width,
                data: value,
            },
            _ => return Ok(fault),
        };
        if lapic::contains(gpa) {
            return self.lapic_access(&exit, gpa.wrapping_sub(lapic::APIC_BASE), len);
        }
        self.access_len = len;
        Ok(exit)
    }

    /// Emulates the local APIC access `exit` at `offset` into its page and moves past
    /// the instruction (`len` bytes): `Nothing`, or `CpuUp` for a start-up IPI.
    fn lapic_access(
        &mut self,
        exit: &AxVCpuExitReason,
        offset: u64,
        len: u64,
    ) -> AxVmResult<AxVCpuExitReason> {
        let mut result = AxVCpuExitReason::Nothing;
        match *exit {
            AxVCpuExitReason::MmioRead {
                width,
                reg,
                reg_width,
                signed_ext,
                ..
            } => {
                let value = self.lapic.read(offset, width);
                let loaded = crate::extend(value, width, reg_width, signed_ext);
                let old = self.gpr(reg)?;
                self.set_gpr(reg, merge_load(old, loaded, reg_width))?;
            }
            AxVCpuExitReason::MmioWrite { width, data, .. } => {
                if let IcrEffect::StartUp { target, vector } = self.lapic.write(offset, width, data)
                {
                    result = AxVCpuExitReason::CpuUp {
                        target_cpu: target.into(),
                        entry_point: GuestPhysAddr::from(usize::from(vector) << 12),
                        arg: 0,
                    };
                }
            }
            _ => return Err(AxVmError::BadState),
        }
        advance_rip(self.env, len)?;
        Ok(result)
    }

    fn guest_memory(&self) -> GuestMemory<impl Fn(u64) -> Option<u64> + '_> {
        let env = &*self.env;
        GuestMemory {
            eptp: self.eptp,
            read_host: move |hpa| env.read_host(hpa),
        }
    }

    /// Fetches and decodes the guest instruction at CS:RIP; `None` when it cannot
    /// be read or is not an MMIO instruction.
    fn decode_at_rip(&self) -> AxVmResult<Option<MmioInstruction>> {
        let cr0 = self.env.read(vmcs::GUEST_CR0)?;
        let efer = self.env.read(vmcs::GUEST_EFER)?;
        let cs_access = self.env.read(vmcs::GUEST_CS_ACCESS_RIGHTS)?;
        let rip = self.env.read(vmcs::GUEST_RIP)?;
        let long = efer & EFER_LMA != 0 && cs_access & (1 << 13) != 0;
        let bitness = if cr0 & CR0_PE == 0 {
            16
        } else if long {
            64
        } else if cs_access & (1 << 14) != 0 {
            32
        } else {
            16
        };
        let paging = GuestPaging::new(
            cr0,
            self.env.read(vmcs::GUEST_CR3)?,
            self.env.read(vmcs::GUEST_CR4)?,
            efer,
        );
        let gla = if long {
            rip
        } else {
            self.env.read(vmcs::GUEST_CS_BASE)?.wrapping_add(rip) & 0xffff_ffff
        };
        let mut buf = [0u8; MAX_INSTRUCTION_LEN];
        let len = self.guest_memory().fetch(paging, gla, long, &mut buf);
        Ok(buf
            .get(..len)
            .and_then(|bytes| mmio::decode(bytes, bitness)))
    }
}

/// The name of basic exit reason `basic`, for logs.
#[must_use]
pub const fn reason_name(basic: u32) -> &'static str {
    match basic {
        0 => "exception or NMI",
        1 => "external interrupt",
        2 => "triple fault",
        3 => "INIT signal",
        4 => "start-up IPI",
        7 => "interrupt window",
        8 => "NMI window",
        9 => "task switch",
        10 => "CPUID",
        11 => "GETSEC",
        12 => "HLT",
        13 => "INVD",
        14 => "INVLPG",
        15 => "RDPMC",
        16 => "RDTSC",
        18 => "VMCALL",
        19..=27 => "VMX instruction",
        28 => "control-register access",
        29 => "MOV DR",
        30 => "I/O instruction",
        31 => "RDMSR",
        32 => "WRMSR",
        33 => "VM-entry failure: invalid guest state",
        34 => "VM-entry failure: MSR loading",
        36 => "MWAIT",
        37 => "monitor trap flag",
        39 => "MONITOR",
        40 => "PAUSE",
        41 => "VM-entry failure: machine-check event",
        48 => "EPT violation",
        49 => "EPT misconfiguration",
        50 => "INVEPT",
        51 => "RDTSCP",
        52 => "VMX-preemption timer",
        53 => "INVVPID",
        54 => "WBINVD",
        55 => "XSETBV",
        _ => "other",
    }
}

#[cfg(test)]
pub(crate) mod tests;
