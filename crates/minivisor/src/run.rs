//! Building the embedded VMs and time-sharing their vCPUs on this physical CPU.

use alloc::{format, string::String, sync::Arc, vec::Vec};

use axdevice::{AxVmDeviceConfig, DeviceRegistry, SerialBackend};
use axvcpu::AxVCpuExitReason;
use axvm::{AxVMConfig, ExitAction, GuestFault};
use axvm_types::AxVmError;
use axvmconfig::AxVMCrateConfig;

use crate::{
    arch::{
        self, Vm,
        cpu_up::{ALREADY_ON, INVALID_PARAMETERS, SUCCESS},
    },
    console::GuestConsole,
    firmware::FirmwareCall,
    hypercall, println,
    vms::{EmbeddedVm, Expect},
};

/// Exits a vCPU may take before another gets the CPU.
const QUANTUM: usize = 256;

/// How a VM's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Still running (only while the scheduler works).
    Running,
    /// The guest powered the VM off.
    PoweredOff,
    /// The hypervisor stopped the VM for a fault.
    Faulted(GuestFault),
    /// The VM could not be built or run.
    Failed(String),
}

/// A VM with its run state.
pub struct Guest {
    /// Where it came from and what it must end with.
    pub embedded: &'static EmbeddedVm,
    /// The VM, when it could be built.
    pub vm: Option<Arc<Vm>>,
    /// Its name.
    pub name: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Which vCPUs run (vCPU 0 from the start; others once started by the guest).
    runnable: Vec<bool>,
    /// The host end of the VM's console, for firmware console calls too.
    console: Option<Arc<GuestConsole>>,
}

impl Guest {
    /// Whether the outcome is the expected one.
    pub fn passed(&self) -> bool {
        matches!(
            (&self.outcome, self.embedded.expect),
            (Outcome::PoweredOff, Expect::PowerOff) | (Outcome::Faulted(_), Expect::Fault)
        )
    }
}

/// Builds every embedded VM; one that cannot be built is recorded as failed.
pub fn build_all(vms: &'static [EmbeddedVm]) -> Vec<Guest> {
    vms.iter()
        .enumerate()
        .map(|(index, embedded)| match build(embedded, index) {
            Ok(guest) => guest,
            Err(why) => Guest {
                embedded,
                vm: None,
                name: String::from(embedded.source),
                outcome: Outcome::Failed(why),
                runnable: Vec::new(),
                console: None,
            },
        })
        .collect()
}

fn build(embedded: &'static EmbeddedVm, index: usize) -> Result<Guest, String> {
    let crate_config = AxVMCrateConfig::from_toml(embedded.config).map_err(|e| format!("{e}"))?;
    let name = crate_config.base.name.clone();
    let console = Arc::new(GuestConsole::new(&name));
    let device_console = Arc::clone(&console);
    let registry = DeviceRegistry::with_builtin_models(arch::PLATFORM, move |_| {
        Arc::clone(&device_console) as Arc<dyn SerialBackend>
    });
    let devices = registry
        .build(&AxVmDeviceConfig::new(
            crate_config.devices.emu_devices.clone(),
        ))
        .map_err(|e| format!("devices: {e}"))?;
    let config = AxVMConfig::new(crate_config, arch::ARCH).map_err(|e| format!("config: {e:?}"))?;
    // VMID 0 stays the hypervisor's; each VM gets its own tag for its TLB entries.
    let vmid = u16::try_from(index.saturating_add(1)).map_err(|_| String::from("too many VMs"))?;
    let space = arch::new_address_space(vmid).map_err(|e| format!("address space: {e:?}"))?;
    let cpu_num = config.cpu_num();
    let vcpus = arch::vcpu_configs(&config);
    let vm = Vm::new(config, space, devices, vcpus).map_err(|e| format!("VM: {e:?}"))?;
    vm.load_kernel_image(embedded.kernel)
        .map_err(|e| format!("kernel image: {e:?}"))?;
    if let Some(dtb) = embedded.dtb {
        vm.load_dtb(dtb).map_err(|e| format!("DTB: {e:?}"))?;
    }
    if let Some(ramdisk) = embedded.ramdisk {
        vm.load_ramdisk(ramdisk)
            .map_err(|e| format!("ramdisk: {e:?}"))?;
    }
    vm.boot().map_err(|e| format!("boot: {e:?}"))?;
    let mut runnable = alloc::vec![false; cpu_num];
    if let Some(bsp) = runnable.first_mut() {
        *bsp = true;
    }
    Ok(Guest {
        embedded,
        vm: Some(vm),
        name,
        outcome: Outcome::Running,
        runnable,
        console: Some(console),
    })
}

/// Round-robins every runnable vCPU of every running VM until none is left.
pub fn schedule(guests: &mut [Guest]) {
    let mut bound: Option<(Arc<Vm>, usize)> = None;
    loop {
        let mut ran = false;
        for guest in guests.iter_mut() {
            let Some(vm) = guest.vm.clone() else { continue };
            for vcpu in 0..guest.runnable.len() {
                let runnable = guest.runnable.get(vcpu).copied().unwrap_or(false);
                if guest.outcome != Outcome::Running || !runnable {
                    continue;
                }
                let same = bound
                    .as_ref()
                    .is_some_and(|(held, id)| Arc::ptr_eq(held, &vm) && *id == vcpu);
                if !same {
                    if let Some((held, id)) = bound.take() {
                        unbind(&held, id);
                    }
                    bound = Some((Arc::clone(&vm), vcpu));
                }
                ran = true;
                run_quantum(guest, &vm, vcpu);
            }
        }
        if !ran {
            break;
        }
    }
    if let Some((held, id)) = bound {
        unbind(&held, id);
    }
}

fn unbind(vm: &Vm, vcpu: usize) {
    if let Ok(mut vcpu) = vm.vcpu(vcpu) {
        // A vCPU that never bound has nothing to save; its error is expected.
        let _ = vcpu.unbind();
    }
}

/// Runs one vCPU for up to [`QUANTUM`] exits that reach the hypervisor. Hypercalls
/// are answered inside the VM's run loop (the cheap path); everything else ends the
/// loop and is handled here.
fn run_quantum(guest: &mut Guest, vm: &Vm, vcpu: usize) {
    let mut budget = QUANTUM;
    let name = guest.name.as_str();
    let runnable = guest.runnable.as_slice();
    let console = guest.console.as_deref();
    let result = vm.run_vcpu_with(vcpu, |vcpu, exit| {
        budget = budget.saturating_sub(1);
        if let AxVCpuExitReason::Hypercall { nr, args } = *exit {
            if nr == hypercall::SYSTEM_OFF {
                return ExitAction::Return;
            }
            // minivisor's own hypercalls first: they are the hot path.
            let value = hypercall::answer(nr, args)
                .or_else(|| {
                    console.and_then(|console| {
                        let call = FirmwareCall {
                            vm,
                            vcpu: &mut *vcpu,
                            console,
                            runnable,
                        };
                        arch::firmware_call(call, nr, args)
                    })
                })
                .unwrap_or_else(|| {
                    println!("minivisor: VM `{name}` made unknown hypercall {nr:#x}: refused");
                    hypercall::NOT_SUPPORTED
                });
            // Only a running vCPU refuses this, and this one is stopped in its exit.
            let _ = vcpu.set_return_value(value);
        }
        if let AxVCpuExitReason::ExternalInterrupt { vector } = *exit {
            crate::irq::handle(vector);
        }
        let handled = matches!(
            exit,
            AxVCpuExitReason::Hypercall { .. }
                | AxVCpuExitReason::ExternalInterrupt { .. }
                | AxVCpuExitReason::Nothing
        );
        if handled && budget > 0 {
            ExitAction::Resume
        } else {
            ExitAction::Return
        }
    });
    match result {
        Ok(AxVCpuExitReason::Hypercall {
            nr: hypercall::SYSTEM_OFF,
            ..
        })
        | Ok(AxVCpuExitReason::SystemDown) => {
            vm.shutdown();
            guest.outcome = Outcome::PoweredOff;
        }
        // Answered in the loop; the quantum is over.
        Ok(AxVCpuExitReason::Hypercall { .. } | AxVCpuExitReason::ExternalInterrupt { .. })
        | Ok(AxVCpuExitReason::Nothing | AxVCpuExitReason::Halt) => {}
        Ok(AxVCpuExitReason::CpuUp {
            target_cpu,
            entry_point,
            arg,
        }) => {
            let status = start_vcpu(guest, vm, target_cpu, entry_point, arg);
            set_return(vm, vcpu, status);
        }
        Ok(AxVCpuExitReason::CpuDown { .. }) => {
            if let Some(flag) = guest.runnable.get_mut(vcpu) {
                *flag = false;
            }
        }
        Ok(other) => {
            vm.shutdown();
            guest.outcome = Outcome::Failed(format!("unexpected exit {other:?}"));
        }
        Err(AxVmError::PermissionDenied) => {
            guest.outcome = vm
                .fault()
                .map_or_else(|| Outcome::Failed("stopped".into()), Outcome::Faulted);
            if let Outcome::Faulted(fault) = &guest.outcome {
                println!("minivisor: VM `{}` stopped: {fault}", guest.name);
            }
        }
        Err(error) => {
            vm.shutdown();
            guest.outcome = Outcome::Failed(format!("vCPU {vcpu}: {error:?}"));
        }
    }
}

fn set_return(vm: &Vm, vcpu: usize, value: u64) {
    if let Ok(mut vcpu) = vm.vcpu(vcpu) {
        let _ = vcpu.set_return_value(value);
    }
}

/// PSCI CPU_ON, SBI HSM hart_start or an x86 start-up IPI: starts the vCPU whose
/// MPIDR affinity, hart id or APIC id is `target` at `entry` with `arg` in its first
/// argument register (none on x86). The status goes back to the caller's return
/// register; the x86 backend ignores it (the IPI was a store, not a call).
fn start_vcpu(
    guest: &mut Guest,
    vm: &Vm,
    target: u64,
    entry: axvm_types::GuestPhysAddr,
    arg: u64,
) -> u64 {
    let id = arch::vcpu_of_affinity(target);
    let Some(flag) = id.and_then(|id| guest.runnable.get_mut(id)) else {
        return INVALID_PARAMETERS;
    };
    if *flag {
        return ALREADY_ON;
    }
    let Some(id) = id else {
        return INVALID_PARAMETERS;
    };
    let Ok(mut vcpu) = vm.vcpu(id) else {
        return INVALID_PARAMETERS;
    };
    if vcpu.set_entry(entry).is_err() {
        return INVALID_PARAMETERS;
    }
    for (reg, value) in arch::start_registers(id, arg) {
        if vcpu.set_gpr(reg, value).is_err() {
            return INVALID_PARAMETERS;
        }
    }
    *flag = true;
    SUCCESS
}
