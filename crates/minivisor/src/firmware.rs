//! Firmware calls a guest makes to its platform (on riscv64: SBI calls of extensions
//! the vCPU backend leaves to the hypervisor), answered with the VM's state.

use core::sync::atomic::AtomicBool;

use axvcpu::AxVCpu;

use crate::{
    arch::{VCpu, Vm},
    console::GuestConsole,
};

/// What a firmware call can see and change.
#[cfg_attr(
    any(target_arch = "aarch64", target_arch = "x86_64"),
    allow(
        dead_code,
        reason = "aarch64's firmware, PSCI, is answered by the vCPU backend; x86_64 has none"
    )
)]
pub struct FirmwareCall<'a> {
    /// The calling VM.
    pub vm: &'a Vm,
    /// The calling vCPU, stopped in its exit.
    pub vcpu: &'a mut AxVCpu<VCpu>,
    /// The host end of the VM's console.
    pub console: &'a GuestConsole,
    /// Which of the VM's vCPUs run.
    pub runnable: &'a [AtomicBool],
}
