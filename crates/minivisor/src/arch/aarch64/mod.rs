//! Minivisor on aarch64: QEMU `virt` at EL2 (nVHE), PL011 console, PSCI power off.

mod boot;
mod console;
mod gic;
mod irq;
mod kick;
mod mmu;
mod power;
mod smp;
mod timer;
mod tlb;
mod vtimer;

use axaddrspace::{AddrSpace, ArchTlb, Stage2};
use axdevice::Platform;
use axvcpu::arch::{Aarch64CreateConfig, Aarch64SetupConfig, Aarch64VCpu};
use axvm::{AxVMConfig, VCpuConfigs};
use axvm_types::{Arch, AxVmResult, GuestPhysAddr};

pub use self::{
    console::{getc, putc},
    irq::{end_of_interrupt, idle_wait, irq_fetch},
    kick::kick_cpu,
    power::{fail_exit, power_off},
    smp::{idle, start_secondaries, this_cpu},
    timer::{arm_timeslice, disarm_timer, is_timer_interrupt, timer_hz},
    tlb::invalidate_remote,
    vtimer::{after_exit, attach_interrupts},
};
use crate::{hal::Hal, vms::EmbeddedVm};

/// The architecture VMs are built for.
pub const ARCH: Arch = Arch::Aarch64;
/// The platform the device models follow.
pub const PLATFORM: Platform = Platform::Aarch64;
/// Where QEMU virt's RAM starts.
pub const RAM_START: usize = 0x4000_0000;
/// The end of the RAM QEMU gives the machine (`-m 1G`).
pub const RAM_END: usize = 0x8000_0000;

/// What the firmware's id of a CPU is called here.
pub const CPU_ID_NAME: &str = "MPIDR affinity";

/// A vCPU backend on this architecture.
pub type VCpu = Aarch64VCpu<Hal>;

/// A VM on this architecture.
pub type Vm = axvm::AxVM<Hal, VCpu>;

/// Firmware calls: PSCI is answered by the vCPU backend itself, and there is no
/// firmware console, so every other HVC is a hypercall.
pub fn firmware_call(
    _call: crate::firmware::FirmwareCall<'_>,
    _nr: u64,
    _args: [u64; 6],
) -> Option<u64> {
    None
}

/// What an unknown hypercall returns in x0: SMCCC NOT_SUPPORTED (-1).
pub const HYPERCALL_NOT_SUPPORTED: u64 = u64::MAX;

/// PSCI CPU_ON results.
pub mod cpu_up {
    /// PSCI SUCCESS.
    pub const SUCCESS: u64 = 0;
    /// PSCI INVALID_PARAMETERS.
    pub const INVALID_PARAMETERS: u64 = -2i64 as u64;
    /// PSCI ALREADY_ON.
    pub const ALREADY_ON: u64 = -4i64 as u64;
}

/// Guest physical address width of every VM.
const IPA_BITS: u8 = 40;

/// An empty stage-2 address space tagged with `vmid`.
pub fn new_address_space(vmid: u16) -> AxVmResult<AddrSpace<Hal>> {
    let format = Stage2::new(IPA_BITS, 3, vmid)?;
    AddrSpace::with_format(format, ArchTlb, GuestPhysAddr::from(0), 1 << IPA_BITS)
}

/// Nothing to turn on: minivisor is entered at EL2, where virtualization needs no switch.
pub fn enable_virtualization() -> Result<(), alloc::string::String> {
    Ok(())
}

/// What a VM's generated device tree takes from the hypervisor: the defaults (its
/// options are riscv64's).
pub fn fdt_options(_embedded: &EmbeddedVm) -> axvm::fdt::FdtOptions {
    axvm::fdt::FdtOptions::default()
}

/// The vCPU configs of a VM: one per vCPU, MPIDR Aff0 = vCPU id, WFI and WFE
/// trapped (a waiting vCPU yields the physical CPU). The boot protocol and the
/// embedding's options change nothing here.
pub fn vcpu_configs(config: &AxVMConfig, _embedded: &EmbeddedVm) -> VCpuConfigs<Aarch64VCpu<Hal>> {
    VCpuConfigs {
        per_vcpu: (0..config.cpu_num())
            .map(|_| {
                (
                    Aarch64CreateConfig::default(),
                    Aarch64SetupConfig::default(),
                )
            })
            .collect(),
    }
}

/// The vCPU a PSCI CPU_ON target affinity names (Aff0, the vCPU id).
pub fn vcpu_of_affinity(mpidr: u64) -> Option<usize> {
    usize::try_from(mpidr & 0xff_ffff).ok()
}

/// Nothing to do before a vCPU's quantum: its virtual timer fires by itself while
/// it runs (see `vtimer`).
pub fn before_quantum(_vm: &Vm, _vcpu: usize) {}
