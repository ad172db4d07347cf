//! What an architecture backend implements.

use axvm_types::{
    AccessWidth, AxVmErrorKind, AxVmResult, GuestPhysAddr, NestedPagingConfig, VCpuId, VMId,
    VirtualIrq,
};

use crate::AxVCpuExitReason;

/// An architecture's virtual CPU: the hardware state of one guest CPU and the code
/// that enters and leaves it.
///
/// [`AxVCpu`](crate::AxVCpu) wraps a backend with the life-cycle state machine; a
/// hypervisor normally uses that wrapper rather than calling these methods directly.
///
/// # One physical CPU at a time
///
/// A bound vCPU's live state is in the hardware of the physical CPU that bound it.
/// A backend keeps a [`PhysCpuBinding`](crate::PhysCpuBinding): `bind` claims the
/// calling CPU (refused while another vCPU is loaded there), `run` and `unbind`
/// fail with `BadState` on any other CPU, and the setters write the hardware only
/// on the vCPU's own CPU; elsewhere they change the saved state that the next
/// `bind` or `run` loads (or, for what only the hardware holds, nothing). No call
/// from safe code touches the hardware state of another vCPU.
pub trait AxArchVCpu: Sized {
    /// Architecture-specific parameters for [`new`](Self::new).
    type CreateConfig;
    /// Architecture-specific parameters for [`setup`](Self::setup).
    type SetupConfig;

    /// Creates the vCPU `vcpu_id` of VM `vm_id`.
    ///
    /// # Errors
    ///
    /// When the backend cannot allocate or initialise its state.
    fn new(vm_id: VMId, vcpu_id: VCpuId, config: Self::CreateConfig) -> AxVmResult<Self>;

    /// Sets where the guest starts (or restarts, for a secondary vCPU brought up later).
    ///
    /// # Errors
    ///
    /// When the address cannot be an entry point on this architecture.
    fn set_entry(&mut self, entry: GuestPhysAddr) -> AxVmResult;

    /// Points the vCPU at its VM's nested page table.
    ///
    /// # Errors
    ///
    /// When the table's geometry is not one the hardware supports.
    fn set_ept_root(&mut self, paging: NestedPagingConfig) -> AxVmResult;

    /// Prepares the hardware state after entry and nested paging are known.
    ///
    /// # Errors
    ///
    /// When the configuration is not supported.
    fn setup(&mut self, config: Self::SetupConfig) -> AxVmResult;

    /// Runs the guest until it exits to the hypervisor.
    ///
    /// # Errors
    ///
    /// `BadState` unless the vCPU is bound to the calling CPU; otherwise when the
    /// guest did something the backend cannot express as an exit (for example an
    /// abort without a usable syndrome): the VM should be stopped.
    fn run(&mut self) -> AxVmResult<AxVCpuExitReason>;

    /// Loads this vCPU's state into the current physical CPU before it runs there,
    /// and ties the vCPU to that CPU until [`unbind`](Self::unbind).
    ///
    /// # Errors
    ///
    /// `BadState` when the vCPU is bound already; `ResourceBusy` when another vCPU
    /// is loaded on this CPU; otherwise when the hardware refuses the state.
    fn bind(&mut self) -> AxVmResult;

    /// Saves this vCPU's state from the current physical CPU, so another vCPU can run.
    ///
    /// # Errors
    ///
    /// `BadState` unless the vCPU is bound to the calling CPU; otherwise when the
    /// hardware refuses.
    fn unbind(&mut self) -> AxVmResult;

    /// Whether the vCPU is bound to the physical CPU the caller runs on.
    fn is_loaded_here(&self) -> bool;

    /// Sets general-purpose register `reg` (the architecture's numbering). Writes to
    /// registers that do not exist or are hard-wired (aarch64 `xzr`) are ignored.
    fn set_gpr(&mut self, reg: usize, value: u64);

    /// Writes the result of a load of `width` (an MMIO read with its register width,
    /// an I/O read with its access width) into register `reg`, as the architecture's
    /// load instructions do. The default replaces the register (the value is already
    /// extended); x86 keeps the upper bits for 8- and 16-bit loads and zero-extends
    /// 32-bit ones.
    fn write_load_result(&mut self, reg: usize, value: u64, width: AccessWidth) {
        let _ = width;
        self.set_gpr(reg, value);
    }

    /// Makes interrupt `vector` pending for the guest.
    ///
    /// # Errors
    ///
    /// When the vector cannot be injected.
    fn inject_interrupt(&mut self, vector: usize) -> AxVmResult;

    /// How many interrupts the backend can hold for the guest at once (aarch64: the
    /// number of list registers). 0, the default, means the backend injects only through
    /// [`inject_interrupt`](Self::inject_interrupt).
    fn irq_slots(&self) -> usize {
        0
    }

    /// Replaces the interrupts loaded for the guest with `irqs` (at most
    /// [`irq_slots`](Self::irq_slots), most urgent first); they reach the hardware at the
    /// next entry. `more_pending` says the controller holds more than fit, so the backend
    /// should exit as soon as a slot frees (aarch64: ICH_HCR_EL2.NPIE/UIE) and never drop
    /// one.
    ///
    /// # Errors
    ///
    /// `Unsupported` (the default) when the backend has no interrupt slots; `InvalidInput`
    /// when `irqs` holds more than fit.
    fn set_irq_list(&mut self, irqs: &[VirtualIrq], more_pending: bool) -> AxVmResult {
        let _ = (irqs, more_pending);
        Err(AxVmErrorKind::Unsupported.into())
    }

    /// The interrupts loaded by [`set_irq_list`](Self::set_irq_list), each with the state
    /// the hardware holds for it after the last exit ([`VirqState::Inactive`] once the
    /// guest finished it). Empty by default.
    ///
    /// [`VirqState::Inactive`]: axvm_types::VirqState::Inactive
    fn irq_list(&self) -> &[VirtualIrq] {
        &[]
    }

    /// Sets the value the guest sees as the result of its last hypercall.
    fn set_return_value(&mut self, value: u64);

    /// Moves the guest past the instruction of the last access exit, after the caller
    /// emulated the access (see [`AxVCpuExitReason`]).
    fn skip_instruction(&mut self);
}
