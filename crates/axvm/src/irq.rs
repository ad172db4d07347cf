//! Interrupts between the VM's controller model and its vCPUs' injection hardware.
//!
//! The controller model (from the VM's devices) is the authority on every interrupt.
//! Before each entry the run loop hands the vCPU's backend the interrupts it should
//! hold ([`load`]); after the exit it gives the backend's view back to the model
//! ([`sync`]). A vCPU whose interrupt state changed while it runs elsewhere is kicked
//! through [`AxVMHal::notify_vcpu`].

use alloc::{sync::Arc, vec::Vec};
use core::marker::PhantomData;

use axdevice::{AxVmDevices, SgiRegister, VcpuNotifier, VirtualInterruptController};
use axvcpu::{AxArchVCpu, AxVCpu};
use axvm_types::{AxVmResult, SysRegAddr, VCpuId, VMId, VirtualIrq};

use crate::AxVMHal;

/// Forwards a controller's "vCPU n has news" to the host.
pub(crate) struct HostNotifier<H: AxVMHal> {
    vm: VMId,
    host: PhantomData<fn() -> H>,
}

impl<H: AxVMHal> HostNotifier<H> {
    pub(crate) fn new(vm: VMId) -> Arc<Self> {
        Arc::new(Self {
            vm,
            host: PhantomData,
        })
    }
}

impl<H: AxVMHal> VcpuNotifier for HostNotifier<H> {
    fn notify(&self, vcpu: usize) {
        H::notify_vcpu(self.vm, vcpu);
    }
}

/// Loads the interrupts vCPU `id` should hold at its next entry; `scratch` is reused
/// between entries so the hot path does not allocate.
pub(crate) fn load<A: AxArchVCpu>(
    controller: &dyn VirtualInterruptController,
    vcpu: &mut AxVCpu<A>,
    id: VCpuId,
    scratch: &mut Vec<VirtualIrq>,
) -> AxVmResult {
    let slots = vcpu.irq_slots();
    if slots == 0 {
        return Ok(());
    }
    // Nothing changed in the model, and the guest did nothing with what it holds (the
    // backend still reports what was loaded): the loaded list is still right.
    if !controller.needs_relist(id) && vcpu.irq_list() == scratch.as_slice() {
        return Ok(());
    }
    let more = controller.irqs_for_vcpu(id, slots, scratch);
    // Nothing loaded and nothing to load: the common exit costs no backend call.
    if scratch.is_empty() && vcpu.irq_list().is_empty() {
        return Ok(());
    }
    vcpu.set_irq_list(scratch, more)
}

/// Gives the backend's view of vCPU `id`'s loaded interrupts back to the model, unless
/// it is still `handed` (what [`load`] gave it): then the guest acknowledged and ended
/// nothing, and the model already knows every state.
pub(crate) fn sync<A: AxArchVCpu>(
    controller: &dyn VirtualInterruptController,
    vcpu: &AxVCpu<A>,
    id: VCpuId,
    handed: &[VirtualIrq],
) {
    let loaded = vcpu.irq_list();
    if !loaded.is_empty() && loaded != handed {
        controller.sync_from_vcpu(id, loaded);
    }
}

/// Whether a guest write to system register `addr` sends SGIs through the VM's vGIC
/// (ICC_SGI1R_EL1 and its siblings): the run loop handles those itself, because the
/// model must know which vCPU sent them.
pub(crate) fn is_sgi_write(devices: &AxVmDevices, addr: SysRegAddr) -> bool {
    devices.vgic().is_some() && SgiRegister::ALL.iter().any(|reg| reg.addr() == addr)
}

/// Sends the SGIs of an ICC_SGI1R_EL1-style write `value` made by vCPU `sender`.
pub(crate) fn send_sgi(devices: &AxVmDevices, sender: VCpuId, value: u64) {
    if let Some(vgic) = devices.vgic() {
        vgic.send_sgi(Some(sender), value);
    }
}
