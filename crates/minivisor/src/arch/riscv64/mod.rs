//! Minivisor on riscv64: QEMU `virt` in HS-mode under OpenSBI, NS16550 console, SBI
//! SRST power off.

mod boot;
mod console;
mod ecall;
mod firmware;
mod irq;
mod kick;
mod power;
mod smp;
mod timer;
mod tlb;
mod vtimer;

use axaddrspace::{AddrSpace, ArchTlb, Sv4x, Sv4xMode};
use axdevice::Platform;
use axvcpu::arch::{
    Riscv64CreateConfig, Riscv64SetupConfig, Riscv64VCpu,
    riscv64::{has_sstc, sbi},
};
use axvm::{AxVMConfig, VCpuConfigs, fdt::FdtOptions};
use axvm_types::{Arch, AxVmResult, GuestPhysAddr};

pub use self::{
    console::{getc, putc},
    firmware::firmware_call,
    irq::{end_of_interrupt, idle_wait, irq_fetch},
    kick::kick_cpu,
    power::{fail_exit, power_off},
    smp::{idle, start_secondaries, this_cpu},
    timer::{arm_timeslice, disarm_timer, is_timer_interrupt, timer_hz},
    tlb::invalidate_remote,
    vtimer::{after_exit, before_quantum},
};
use crate::{hal::Hal, vms::EmbeddedVm};

/// The architecture VMs are built for.
pub const ARCH: Arch = Arch::Riscv64;
/// The platform the device models follow.
pub const PLATFORM: Platform = Platform::Riscv64;
/// The end of the RAM minivisor uses: QEMU gives the machine 1 GiB from
/// 0x8000_0000 (`-m 1G`); OpenSBI keeps the device tree in the top 2 MiB.
pub const RAM_END: usize = 0xbfe0_0000;

/// What the firmware's id of a CPU is called here.
pub const CPU_ID_NAME: &str = "hart";

/// A vCPU backend on this architecture.
pub type VCpu = Riscv64VCpu<Hal>;

/// A VM on this architecture.
pub type Vm = axvm::AxVM<Hal, VCpu>;

/// What an unknown hypercall (an SBI extension nobody implements) returns in `a0`:
/// SBI_ERR_NOT_SUPPORTED.
pub const HYPERCALL_NOT_SUPPORTED: u64 = sbi::ERR_NOT_SUPPORTED;

/// SBI HSM `hart_start` results.
pub mod cpu_up {
    /// SBI_SUCCESS.
    pub const SUCCESS: u64 = 0;
    /// SBI_ERR_INVALID_PARAM.
    pub const INVALID_PARAMETERS: u64 = -3i64 as u64;
    /// SBI_ERR_ALREADY_AVAILABLE.
    pub const ALREADY_ON: u64 = -6i64 as u64;
}

/// An empty Sv39x4 G-stage address space tagged with `vmid`.
pub fn new_address_space(vmid: u16) -> AxVmResult<AddrSpace<Hal>> {
    let format = Sv4x::new(Sv4xMode::Sv39x4, vmid)?;
    AddrSpace::with_format(format, ArchTlb, GuestPhysAddr::from(0), 1 << 41)
}

/// Nothing to turn on: minivisor is entered in HS-mode, where virtualization needs no switch.
pub fn enable_virtualization() -> Result<(), alloc::string::String> {
    Ok(())
}

/// The vCPU configs of a VM: one per vCPU, WFI trapped (a waiting vCPU yields the
/// physical hart or sleeps on it), the SBI extensions minivisor answers probed as
/// available, Sstc when the hart has it unless the VM is to run without
/// (`EmbeddedVm::sstc`). The boot protocol changes nothing here.
pub fn vcpu_configs(config: &AxVMConfig, embedded: &EmbeddedVm) -> VCpuConfigs<Riscv64VCpu<Hal>> {
    let setup = Riscv64SetupConfig {
        hypervisor_extensions: firmware::EXTENSIONS,
        sstc: embedded.sstc,
        ..Riscv64SetupConfig::default()
    };
    VCpuConfigs {
        per_vcpu: (0..config.cpu_num())
            .map(|_| (Riscv64CreateConfig, setup))
            .collect(),
    }
}

/// What a VM's generated device tree says its harts offer: the base extensions,
/// and `sstc` when its vCPUs get Sstc (the rule of `Riscv64SetupConfig::sstc`: the
/// hart has it and the VM is not `nosstc`), so that Linux writes `stimecmp` itself
/// instead of calling SBI `set_timer`.
pub fn fdt_options(embedded: &EmbeddedVm) -> FdtOptions {
    let options = FdtOptions::default();
    if embedded.sstc && has_sstc() {
        options.with_extensions(&["sstc"])
    } else {
        options
    }
}

/// The vCPU an SBI HSM `hart_start` names: the hart id is the vCPU id.
pub fn vcpu_of_affinity(hart_id: u64) -> Option<usize> {
    usize::try_from(hart_id).ok()
}

/// Links the VM's physical interrupts to its interrupt controller: nothing to link
/// here. Every source of a VM's vPLIC is an emulated device (no physical interrupt
/// goes to a riscv64 guest: its timer is its own), and what is not arch-specific,
/// the controller's notifier calling `notify_vcpu`, `AxVM::new` sets for every
/// architecture.
pub fn attach_interrupts(_vm: &Vm) {}
