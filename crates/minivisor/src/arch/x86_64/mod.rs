//! Minivisor on x86_64: a Multiboot kernel booted by GRUB under Bochs (VMX with
//! EPT), debug-port console, Bochs magic-breakpoint / shutdown-port exits.

mod acpi;
mod boot;
mod console;
mod gdt;
mod idt;
mod irq;
mod lapic;
mod mmu;
mod port;
mod power;
mod smp;
mod timer;
mod tlb;

use alloc::{format, string::String};

use axaddrspace::{AddrSpace, ArchTlb, Ept};
use axdevice::Platform;
use axvcpu::arch::{X86CreateConfig, X86SetupConfig, X86StartMode, X86VCpu, x86_64};
use axvm::{AxVMConfig, VCpuConfigs};
use axvm_types::{Arch, AxVmResult, GuestPhysAddr, VMBootProtocol};

pub use self::{
    console::{getc, putc},
    irq::{end_of_interrupt, idle_wait, irq_fetch},
    power::{fail_exit, power_off},
    smp::{idle, start_secondaries, this_cpu},
    timer::{arm_timeslice, disarm_timer, is_timer_interrupt, timer_hz},
    tlb::invalidate_remote,
};
use crate::{hal::Hal, vms::EmbeddedVm};

/// The architecture VMs are built for.
pub const ARCH: Arch = Arch::X86_64;
/// The platform the device models follow (an I/O port space beside MMIO).
pub const PLATFORM: Platform = Platform::X86_64;
/// The end of the RAM minivisor uses: Bochs gives the machine 512 MiB (`megs: 512`
/// in the bochsrc the xtask writes).
pub const RAM_END: usize = 0x2000_0000;

/// What the firmware's id of a CPU is called here.
pub const CPU_ID_NAME: &str = "APIC id";

/// A vCPU backend on this architecture.
pub type VCpu = X86VCpu<Hal>;

/// A VM on this architecture.
pub type Vm = axvm::AxVM<Hal, VCpu>;

/// Turns VMX on for this physical CPU (VMXON), before any vCPU binds there: the
/// boot CPU in `main`, every other CPU during its own set-up.
pub fn enable_virtualization() -> Result<(), String> {
    x86_64::hardware_enable::<Hal>().map_err(|error| {
        format!(
            "VMX could not be enabled ({error:?}): does the CPU have VMX with EPT? \
             (Bochs: cpu model corei7_skylake_x)"
        )
    })
}

/// Firmware calls: x86 guests have none (no PSCI or SBI); every VMCALL is a
/// hypercall.
pub fn firmware_call(
    _call: crate::firmware::FirmwareCall<'_>,
    _nr: u64,
    _args: [u64; 6],
) -> Option<u64> {
    None
}

/// What an unknown hypercall returns in RAX: -1.
pub const HYPERCALL_NOT_SUPPORTED: u64 = u64::MAX;

/// Results of starting a vCPU, for the arch-neutral scheduler (PSCI's values). x86
/// guests start their CPUs with INIT and start-up IPIs, which return nothing: the
/// backend ignores `set_return_value` after the `CpuUp` exit of a start-up IPI.
pub mod cpu_up {
    /// Started.
    pub const SUCCESS: u64 = 0;
    /// No such vCPU.
    pub const INVALID_PARAMETERS: u64 = -2i64 as u64;
    /// Already running.
    pub const ALREADY_ON: u64 = -4i64 as u64;
}

/// Guest-physical address width of every VM (EPT with a 4-level walk).
const GPA_BITS: u32 = 48;

/// An empty EPT address space tagged with VPID `vmid`.
pub fn new_address_space(vmid: u16) -> AxVmResult<AddrSpace<Hal>> {
    AddrSpace::with_format(
        Ept::with_vpid(vmid),
        ArchTlb,
        GuestPhysAddr::from(0),
        1 << GPA_BITS,
    )
}

/// The mode a VM's vCPUs start in, by its boot protocol: `multiboot` in 32-bit
/// flat protected mode with paging off (axvm writes the hand-off), unless a BIOS
/// runs first; `direct` and `uefi` in real mode at the entry (a BIOS, firmware or
/// real-mode boot stub).
fn start_mode(config: &AxVMConfig) -> X86StartMode {
    let bios = config.image_config().bios_load_gpa.is_some();
    match config.boot_protocol() {
        VMBootProtocol::Multiboot if !bios => X86StartMode::Protected32,
        _ => X86StartMode::Real,
    }
}

/// The defaults: axvm generates no device tree for x86_64.
pub fn fdt_options(_embedded: &EmbeddedVm) -> axvm::fdt::FdtOptions {
    axvm::fdt::FdtOptions::default()
}

/// The vCPU configs of a VM: one per vCPU. The bootstrap vCPU (0) starts in the
/// [`start_mode`] of the boot protocol; the others in the state a start-up IPI
/// leaves an application processor in (at the IPI's page, which `set_entry` gets
/// from the `CpuUp` exit). The embedding's options change nothing here.
pub fn vcpu_configs(config: &AxVMConfig, _embedded: &EmbeddedVm) -> VCpuConfigs<VCpu> {
    let bsp_mode = start_mode(config);
    VCpuConfigs {
        per_vcpu: (0..config.cpu_num())
            .map(|vcpu| {
                let start_mode = if vcpu == 0 {
                    bsp_mode
                } else {
                    X86StartMode::StartupIpi
                };
                (X86CreateConfig, X86SetupConfig { start_mode })
            })
            .collect(),
    }
}

/// The vCPU a start request names: the local APIC id is the vCPU id.
pub fn vcpu_of_affinity(apic_id: u64) -> Option<usize> {
    usize::try_from(apic_id).ok()
}

/// Nothing to do before a vCPU's quantum (the guests have no timer of their own
/// yet).
pub fn before_quantum(_vm: &Vm, _vcpu: usize) {}

/// Nothing to do after an exit beyond what `run` does (the aarch64 virtual timer
/// needs glue of its own): never handles one.
pub fn after_exit(
    _vm: &Vm,
    _vcpu: &mut axvcpu::AxVCpu<VCpu>,
    _exit: &axvcpu::AxVCpuExitReason,
) -> bool {
    false
}

/// Links the VM's physical interrupts to its interrupt controller: nothing here,
/// where VMs have no interrupt-controller model yet (the device registry builds the
/// vGICv3 for aarch64 only).
pub fn attach_interrupts(_vm: &Vm) {}

/// Kicks CPU `cpu` out of its guest so it loads a new interrupt: never needed here,
/// for the same reason (only an interrupt-controller model asks for kicks).
pub fn kick_cpu(_cpu: usize) {}
