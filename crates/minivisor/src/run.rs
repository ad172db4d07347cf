//! Building the embedded VMs, and running one vCPU for a quantum on the calling
//! physical CPU. The VMs are shared by every CPU ([`crate::sched`] decides which
//! CPU runs which vCPU), so a guest's run state is atomic or locked.

use alloc::{format, string::String, sync::Arc, vec::Vec};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axdevice::{AxVmDeviceConfig, DeviceRegistry, SerialBackend};
use axvcpu::AxVCpuExitReason;
use axvm::{AxVMConfig, AxVMHal, ExitAction, GuestFault, VMState};
use axvm_types::AxVmError;
use axvmconfig::AxVMCrateConfig;
use spin::Mutex;

use crate::{
    arch::{
        self, Vm,
        cpu_up::{ALREADY_ON, INVALID_PARAMETERS, SUCCESS},
    },
    console::GuestConsole,
    firmware::FirmwareCall,
    hal::Hal,
    hypercall, println,
    vms::{EmbeddedVm, Expect},
};

/// Exits a vCPU may take before another gets the CPU (the host timer ends a
/// quantum of a vCPU that does not exit).
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

/// A VM with its run state, shared by the CPUs that run its vCPUs.
pub struct Guest {
    /// Where it came from and what it must end with.
    pub embedded: &'static EmbeddedVm,
    /// The VM, when it could be built.
    pub vm: Option<Arc<Vm>>,
    /// Its name.
    pub name: String,
    /// How it ended; the first CPU to see the end records it.
    outcome: Mutex<Outcome>,
    /// Which vCPUs run (vCPU 0 from the start; others once started by the guest).
    runnable: Vec<AtomicBool>,
    /// Per vCPU, the physical CPUs it ran on (bit n: CPU n).
    ran_on: Vec<AtomicU64>,
    /// The host end of the VM's console, for firmware console calls too.
    console: Option<Arc<GuestConsole>>,
}

impl Guest {
    fn failed(embedded: &'static EmbeddedVm, why: String) -> Self {
        Self {
            embedded,
            vm: None,
            name: String::from(embedded.source),
            outcome: Mutex::new(Outcome::Failed(why)),
            runnable: Vec::new(),
            ran_on: Vec::new(),
            console: None,
        }
    }

    /// How the VM ended (or `Running`).
    pub fn outcome(&self) -> Outcome {
        self.outcome.lock().clone()
    }

    /// Whether the VM still runs.
    pub fn is_running(&self) -> bool {
        *self.outcome.lock() == Outcome::Running
    }

    /// Records how the VM ended, unless another CPU already did, and stops it.
    pub fn end(&self, outcome: Outcome) {
        let mut current = self.outcome.lock();
        if *current == Outcome::Running {
            *current = outcome;
        }
        if let Some(vm) = &self.vm {
            vm.shutdown();
        }
    }

    /// Whether the outcome is the expected one.
    pub fn passed(&self) -> bool {
        matches!(
            (self.outcome(), self.embedded.expect),
            (Outcome::PoweredOff, Expect::PowerOff) | (Outcome::Faulted(_), Expect::Fault)
        )
    }

    /// The number of vCPUs.
    pub fn vcpu_num(&self) -> usize {
        self.runnable.len()
    }

    /// Whether vCPU `vcpu` is to run.
    pub fn is_runnable(&self, vcpu: usize) -> bool {
        self.runnable
            .get(vcpu)
            .is_some_and(|flag| flag.load(Ordering::Acquire))
    }

    /// Marks vCPU `vcpu` stopped (it asked to be, and is unbound).
    pub fn stop_vcpu(&self, vcpu: usize) {
        if let Some(flag) = self.runnable.get(vcpu) {
            flag.store(false, Ordering::Release);
        }
    }

    /// The host end of the VM's console, when it was built.
    pub fn console(&self) -> Option<&GuestConsole> {
        self.console.as_deref()
    }

    /// The physical CPUs vCPU `vcpu` ran on, as a bit set.
    pub fn ran_on(&self, vcpu: usize) -> u64 {
        self.ran_on
            .get(vcpu)
            .map_or(0, |cpus| cpus.load(Ordering::Relaxed))
    }
}

/// Builds every embedded VM; one that cannot be built is recorded as failed.
pub fn build_all(vms: &'static [EmbeddedVm]) -> Vec<Guest> {
    vms.iter()
        .enumerate()
        .map(|(index, embedded)| {
            build(embedded, index).unwrap_or_else(|why| Guest::failed(embedded, why))
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
        .build(
            &AxVmDeviceConfig::new(crate_config.devices.emu_devices.clone())
                .with_vcpus(crate_config.base.cpu_num),
        )
        .map_err(|e| format!("devices: {e}"))?;
    let mut config =
        AxVMConfig::new(crate_config, arch::ARCH).map_err(|e| format!("config: {e:?}"))?;
    config.set_fdt_options(arch::fdt_options(embedded));
    // VMID 0 stays the hypervisor's; each VM gets its own tag for its TLB entries.
    let vmid = u16::try_from(index.saturating_add(1)).map_err(|_| String::from("too many VMs"))?;
    let space = arch::new_address_space(vmid).map_err(|e| format!("address space: {e:?}"))?;
    let cpu_num = config.cpu_num();
    let vcpus = arch::vcpu_configs(&config, embedded);
    let vm = Vm::new(config, space, devices, vcpus).map_err(|e| format!("VM: {e:?}"))?;
    arch::attach_interrupts(&vm);
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
    Ok(Guest {
        embedded,
        vm: Some(vm),
        name,
        outcome: Mutex::new(Outcome::Running),
        // vCPU 0 runs from the start; the guest starts the others.
        runnable: (0..cpu_num)
            .map(|vcpu| AtomicBool::new(vcpu == 0))
            .collect(),
        ran_on: (0..cpu_num).map(|_| AtomicU64::new(0)).collect(),
        console: Some(console),
    })
}

/// What the scheduler does with a vCPU after its quantum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterQuantum {
    /// Keep it bound here; it may run again.
    Keep,
    /// It stopped itself (CPU_OFF): unbind it, then mark it stopped, so another
    /// vCPU may start it again from any CPU.
    Stopped,
}

/// Runs vCPU `vcpu` of `guest` on the calling CPU for up to [`QUANTUM`] exits
/// that reach the hypervisor, or until the host timer ends its slice. Hypercalls
/// are answered inside the VM's run loop (the cheap path); everything else ends the
/// loop and is handled here.
///
/// Never inlined: it holds the VM's run loop, whose register allocation, inlined
/// into the scheduler's loop, followed that loop's code, so that an unrelated change
/// there cost every exit (`docs/performance.md`, exit costs).
#[inline(never)]
pub fn run_quantum(guest: &Guest, vm: &Vm, vcpu: usize, cpu: usize) -> AfterQuantum {
    if let Some(cpus) = guest.ran_on.get(vcpu) {
        cpus.fetch_or(1u64.checked_shl(cpu as u32).unwrap_or(0), Ordering::Relaxed);
    }
    arch::before_quantum(vm, vcpu);
    let mut budget = QUANTUM;
    let name = guest.name.as_str();
    let runnable = guest.runnable.as_slice();
    let console = guest.console.as_deref();
    let this_cpu = crate::cpus::this();
    this_cpu.set_running(Some((vm.id(), vcpu)));
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
            return if budget > 0 {
                ExitAction::Resume
            } else {
                ExitAction::Return
            };
        }
        let timer = if let AxVCpuExitReason::ExternalInterrupt { vector } = *exit {
            crate::irq::handle(vector)
        } else {
            false
        };
        // What the architecture adds (aarch64: the virtual timer's interrupt; riscv64:
        // the host timer for the guest's; both: a halt until the guest's timer is due).
        let handled = arch::after_exit(vm, vcpu, exit)
            || matches!(
                exit,
                AxVCpuExitReason::ExternalInterrupt { .. } | AxVCpuExitReason::Nothing
            );
        // The host timer ends the slice: another vCPU of this CPU gets its turn.
        if handled && budget > 0 && !timer {
            ExitAction::Resume
        } else {
            ExitAction::Return
        }
    });
    this_cpu.set_running(None);
    match result {
        Ok(AxVCpuExitReason::Hypercall {
            nr: hypercall::SYSTEM_OFF,
            ..
        })
        | Ok(AxVCpuExitReason::SystemDown) => guest.end(Outcome::PoweredOff),
        // Answered in the loop; the quantum is over.
        Ok(AxVCpuExitReason::Hypercall { .. } | AxVCpuExitReason::ExternalInterrupt { .. })
        | Ok(AxVCpuExitReason::Nothing | AxVCpuExitReason::Halt) => {}
        Ok(AxVCpuExitReason::CpuUp {
            target_cpu,
            entry_point,
            arg,
        }) => {
            let status = start_vcpu(guest, vm, target_cpu, entry_point, arg);
            if let Ok(mut vcpu) = vm.vcpu(vcpu) {
                let _ = vcpu.set_return_value(status);
            }
        }
        Ok(AxVCpuExitReason::CpuDown { .. }) => return AfterQuantum::Stopped,
        Ok(other) => guest.end(Outcome::Failed(format!("unexpected exit {other:?}"))),
        Err(AxVmError::PermissionDenied) => {
            let fault = vm.fault();
            if let Some(fault) = &fault {
                println!("minivisor: VM `{name}` stopped: {fault}");
            }
            guest.end(fault.map_or_else(|| Outcome::Failed("stopped".into()), Outcome::Faulted));
        }
        // The VM ended on another CPU while this vCPU ran: nothing to record.
        Err(AxVmError::BadState) if vm.state() == VMState::Stopped => {}
        Err(error) => guest.end(Outcome::Failed(format!("vCPU {vcpu}: {error:?}"))),
    }
    AfterQuantum::Keep
}

/// PSCI CPU_ON, SBI HSM hart_start or an x86 start-up IPI: starts the vCPU whose
/// MPIDR affinity, hart id or APIC id is `target` at `entry` with `arg` in its first
/// argument register (none on x86). The status goes back to the caller's return
/// register; the x86 backend ignores it (the IPI was a store, not a call).
///
/// The target may belong to another CPU's queue: it is not bound anywhere while it
/// is stopped (its CPU unbinds it before marking it stopped), so its registers are
/// saved state any CPU may set.
fn start_vcpu(
    guest: &Guest,
    vm: &Vm,
    target: u64,
    entry: axvm_types::GuestPhysAddr,
    arg: u64,
) -> u64 {
    let Some((id, flag)) =
        arch::vcpu_of_affinity(target).and_then(|id| guest.runnable.get(id).map(|flag| (id, flag)))
    else {
        return INVALID_PARAMETERS;
    };
    // The target's lock orders two CPUs starting it at once.
    let Ok(mut vcpu) = vm.vcpu(id) else {
        return INVALID_PARAMETERS;
    };
    if flag.load(Ordering::Acquire) {
        return ALREADY_ON;
    }
    if vcpu.set_entry(entry).is_err() {
        return INVALID_PARAMETERS;
    }
    for (reg, value) in axvm::start_registers(arch::ARCH, id, arg) {
        if vcpu.set_gpr(reg, value).is_err() {
            return INVALID_PARAMETERS;
        }
    }
    flag.store(true, Ordering::Release);
    // Its CPU may be waiting for something to run.
    <Hal as AxVMHal>::notify_vcpu(vm.id(), id);
    SUCCESS
}
