//! The arch-neutral vCPU: identity, placement and the life-cycle state machine.

use axvm_types::{
    AccessWidth, AxVmError, AxVmResult, GuestPhysAddr, NestedPagingConfig, VCpuId, VCpuSet, VMId,
    VirtualIrq,
};

use crate::{AxArchVCpu, AxVCpuExitReason};

/// Where a vCPU is in its life cycle.
///
/// ```text
/// Created --setup--> Free --bind--> Ready --run--> Running --exit--> Ready
///                     ^               |  \                             
///                     +----unbind-----+   block/unblock <-> Blocked
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VCpuState {
    /// Constructed; entry point and nested paging not yet set.
    Created,
    /// Set up, not loaded on any physical CPU.
    Free,
    /// Loaded on the current physical CPU and runnable.
    Ready,
    /// Executing guest code.
    Running,
    /// Loaded but waiting (for an interrupt, or to be started by another vCPU).
    Blocked,
}

/// A virtual CPU: an architecture backend `A` plus identity, placement and state.
///
/// Every transition checks the current state; a call in the wrong state returns
/// [`AxVmError::BadState`] and changes nothing.
pub struct AxVCpu<A: AxArchVCpu> {
    id: VCpuId,
    vm_id: VMId,
    favor_phys_cpu: usize,
    phys_cpu_set: Option<VCpuSet>,
    state: VCpuState,
    arch: A,
}

impl<A: AxArchVCpu> AxVCpu<A> {
    /// Creates vCPU `id` of VM `vm_id`, preferring physical CPU `favor_phys_cpu` and
    /// restricted to `phys_cpu_set` when given.
    ///
    /// # Errors
    ///
    /// Whatever the backend's [`AxArchVCpu::new`] returns.
    pub fn new(
        vm_id: VMId,
        id: VCpuId,
        favor_phys_cpu: usize,
        phys_cpu_set: Option<VCpuSet>,
        config: A::CreateConfig,
    ) -> AxVmResult<Self> {
        Ok(Self {
            id,
            vm_id,
            favor_phys_cpu,
            phys_cpu_set,
            state: VCpuState::Created,
            arch: A::new(vm_id, id, config)?,
        })
    }

    /// Sets the entry point and nested paging, then the backend: Created → Free.
    ///
    /// # Errors
    ///
    /// `BadState` unless Created; otherwise the backend's error (state unchanged).
    pub fn setup(
        &mut self,
        entry: GuestPhysAddr,
        paging: NestedPagingConfig,
        config: A::SetupConfig,
    ) -> AxVmResult {
        self.expect(VCpuState::Created)?;
        self.arch.set_entry(entry)?;
        self.arch.set_ept_root(paging)?;
        self.arch.setup(config)?;
        self.state = VCpuState::Free;
        Ok(())
    }

    /// The vCPU's index in its VM.
    #[must_use]
    pub const fn id(&self) -> VCpuId {
        self.id
    }

    /// The VM this vCPU belongs to.
    #[must_use]
    pub const fn vm_id(&self) -> VMId {
        self.vm_id
    }

    /// The physical CPU this vCPU prefers.
    #[must_use]
    pub const fn favor_phys_cpu(&self) -> usize {
        self.favor_phys_cpu
    }

    /// The physical CPUs this vCPU may run on (`None`: any).
    #[must_use]
    pub const fn phys_cpu_set(&self) -> Option<VCpuSet> {
        self.phys_cpu_set
    }

    /// Whether this is the bootstrap vCPU (vCPU 0).
    #[must_use]
    pub const fn is_bsp(&self) -> bool {
        self.id == 0
    }

    /// The current state.
    #[must_use]
    pub const fn state(&self) -> VCpuState {
        self.state
    }

    /// Whether the vCPU is bound to the physical CPU the caller runs on (Ready,
    /// Running or Blocked there).
    #[must_use]
    pub fn is_loaded_here(&self) -> bool {
        self.arch.is_loaded_here()
    }

    /// Loads the vCPU on the current physical CPU and ties it there: Free → Ready.
    ///
    /// # Errors
    ///
    /// `BadState` unless Free; `ResourceBusy` when another vCPU is loaded on this
    /// CPU; otherwise the backend's error (state unchanged).
    pub fn bind(&mut self) -> AxVmResult {
        self.expect(VCpuState::Free)?;
        self.arch.bind()?;
        self.state = VCpuState::Ready;
        Ok(())
    }

    /// Saves the vCPU off the current physical CPU: Ready or Blocked → Free.
    ///
    /// # Errors
    ///
    /// `BadState` unless Ready or Blocked and bound to the calling CPU; otherwise
    /// the backend's error.
    pub fn unbind(&mut self) -> AxVmResult {
        if !matches!(self.state, VCpuState::Ready | VCpuState::Blocked) {
            return Err(AxVmError::BadState);
        }
        self.arch.unbind()?;
        self.state = VCpuState::Free;
        Ok(())
    }

    /// Runs the guest until its next exit: Ready → Running → Ready.
    ///
    /// # Errors
    ///
    /// `BadState` unless Ready and bound to the calling CPU (nothing runs then);
    /// otherwise the backend's error (the vCPU is back in Ready, and the caller
    /// should stop the VM).
    pub fn run(&mut self) -> AxVmResult<AxVCpuExitReason> {
        self.expect(VCpuState::Ready)?;
        if !self.arch.is_loaded_here() {
            return Err(AxVmError::BadState);
        }
        self.state = VCpuState::Running;
        let exit = self.arch.run();
        self.state = VCpuState::Ready;
        exit
    }

    /// Marks a Ready vCPU as waiting: Ready → Blocked.
    ///
    /// # Errors
    ///
    /// `BadState` unless Ready.
    pub fn block(&mut self) -> AxVmResult {
        self.expect(VCpuState::Ready)?;
        self.state = VCpuState::Blocked;
        Ok(())
    }

    /// Makes a waiting vCPU runnable again: Blocked → Ready.
    ///
    /// # Errors
    ///
    /// `BadState` unless Blocked.
    pub fn unblock(&mut self) -> AxVmResult {
        self.expect(VCpuState::Blocked)?;
        self.state = VCpuState::Ready;
        Ok(())
    }

    /// Sets where the guest (re)starts, e.g. a secondary vCPU started by CPU_ON.
    ///
    /// # Errors
    ///
    /// `BadState` while Running or bound to another CPU; otherwise the backend's
    /// error.
    pub fn set_entry(&mut self, entry: GuestPhysAddr) -> AxVmResult {
        self.writable()?;
        self.arch.set_entry(entry)
    }

    /// Sets a general-purpose register.
    ///
    /// # Errors
    ///
    /// `BadState` while Running or bound to another CPU.
    pub fn set_gpr(&mut self, reg: usize, value: u64) -> AxVmResult {
        self.writable()?;
        self.arch.set_gpr(reg, value);
        Ok(())
    }

    /// Makes an interrupt pending for the guest.
    ///
    /// # Errors
    ///
    /// The backend's error.
    pub fn inject_interrupt(&mut self, vector: usize) -> AxVmResult {
        self.arch.inject_interrupt(vector)
    }

    /// How many interrupts the backend holds for the guest at once (0: it injects only
    /// through [`inject_interrupt`](Self::inject_interrupt)).
    #[must_use]
    pub fn irq_slots(&self) -> usize {
        self.arch.irq_slots()
    }

    /// Replaces the interrupts loaded for the guest (see [`AxArchVCpu::set_irq_list`]).
    ///
    /// # Errors
    ///
    /// `BadState` while Running or bound to another CPU; otherwise the backend's
    /// error.
    pub fn set_irq_list(&mut self, irqs: &[VirtualIrq], more_pending: bool) -> AxVmResult {
        self.writable()?;
        self.arch.set_irq_list(irqs, more_pending)
    }

    /// The interrupts loaded for the guest, with their states after the last exit.
    #[must_use]
    pub fn irq_list(&self) -> &[VirtualIrq] {
        self.arch.irq_list()
    }

    /// Sets the result of the guest's last hypercall.
    ///
    /// # Errors
    ///
    /// `BadState` while Running or bound to another CPU.
    pub fn set_return_value(&mut self, value: u64) -> AxVmResult {
        self.writable()?;
        self.arch.set_return_value(value);
        Ok(())
    }

    /// Completes a read exit (`MmioRead`, `SysRegRead`, `IoRead`) with the value the
    /// emulated device returned: the value is cut to the access width, sign- or
    /// zero-extended to the register width as the exit says, written to the
    /// destination register (through [`AxArchVCpu::write_load_result`], so an x86
    /// 8- or 16-bit load keeps the register's other bits), and the guest moves past
    /// the instruction. An `IoRead` result goes to register 0 (the x86 accumulator).
    ///
    /// # Errors
    ///
    /// `InvalidInput` when `exit` is not a read exit; `BadState` while Running or
    /// bound to another CPU.
    pub fn complete_read(&mut self, exit: &AxVCpuExitReason, value: u64) -> AxVmResult {
        self.writable()?;
        let (reg, result, reg_width) = match *exit {
            AxVCpuExitReason::MmioRead {
                width,
                reg,
                reg_width,
                signed_ext,
                ..
            } => (reg, extend(value, width, reg_width, signed_ext), reg_width),
            AxVCpuExitReason::SysRegRead { reg, .. } => (reg, value, AccessWidth::Qword),
            AxVCpuExitReason::IoRead { width, .. } => (0, value & width.mask(), width),
            _ => return Err(AxVmError::InvalidInput),
        };
        self.arch.write_load_result(reg, result, reg_width);
        self.arch.skip_instruction();
        Ok(())
    }

    /// Completes a write exit (`MmioWrite`, `SysRegWrite`, `IoWrite`) once the write
    /// was emulated: the guest moves past the instruction.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when `exit` is not a write exit; `BadState` while Running or
    /// bound to another CPU.
    pub fn complete_write(&mut self, exit: &AxVCpuExitReason) -> AxVmResult {
        self.writable()?;
        match exit {
            AxVCpuExitReason::MmioWrite { .. }
            | AxVCpuExitReason::SysRegWrite { .. }
            | AxVCpuExitReason::IoWrite { .. } => {
                self.arch.skip_instruction();
                Ok(())
            }
            _ => Err(AxVmError::InvalidInput),
        }
    }

    /// The backend, for architecture-specific calls.
    #[must_use]
    pub const fn arch(&self) -> &A {
        &self.arch
    }

    /// The backend, mutably.
    pub const fn arch_mut(&mut self) -> &mut A {
        &mut self.arch
    }

    fn expect(&self, state: VCpuState) -> AxVmResult {
        if self.state == state {
            Ok(())
        } else {
            Err(AxVmError::BadState)
        }
    }

    /// Whether the caller may change the vCPU's registers: not while it runs, and
    /// not from another CPU while it is bound (its live state is in that CPU).
    fn writable(&self) -> AxVmResult {
        match self.state {
            VCpuState::Created | VCpuState::Free => Ok(()),
            VCpuState::Running => Err(AxVmError::BadState),
            VCpuState::Ready | VCpuState::Blocked if self.arch.is_loaded_here() => Ok(()),
            VCpuState::Ready | VCpuState::Blocked => Err(AxVmError::BadState),
        }
    }
}

/// `value` cut to `width`, then sign-extended (when `signed`) or zero-extended, and cut
/// to `reg_width`: what a load of `width` bytes leaves in a `reg_width` register.
#[must_use]
pub fn extend(value: u64, width: AccessWidth, reg_width: AccessWidth, signed: bool) -> u64 {
    let loaded = value & width.mask();
    let extended = if signed {
        // Shift the sign bit of the access to bit 63, then arithmetic-shift back.
        let unused = 64u32.saturating_sub(width.bits());
        (((loaded << unused) as i64) >> unused) as u64
    } else {
        loaded
    };
    extended & reg_width.mask()
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use axvm_types::{HostPhysAddr, SysRegAddr};

    use super::*;
    use crate::scripted::{ScriptedEvent, ScriptedVCpu};

    fn paging() -> NestedPagingConfig {
        NestedPagingConfig {
            root: HostPhysAddr::from(0x1000),
            levels: 4,
            gpa_bits: 48,
            vmid: 1,
        }
    }

    fn vcpu(script: Vec<crate::scripted::ScriptStep>) -> AxVCpu<ScriptedVCpu> {
        AxVCpu::new(7, 0, 0, None, script).unwrap()
    }

    use alloc::vec::Vec;

    #[test]
    fn the_life_cycle_follows_the_state_machine() {
        let mut vcpu = vcpu(vec![Ok(AxVCpuExitReason::Halt)]);
        assert_eq!(vcpu.state(), VCpuState::Created);
        assert_eq!(vcpu.run(), Err(AxVmError::BadState));
        assert_eq!(vcpu.bind(), Err(AxVmError::BadState));
        vcpu.setup(GuestPhysAddr::from(0x4008_0000), paging(), ())
            .unwrap();
        assert_eq!(vcpu.state(), VCpuState::Free);
        assert_eq!(
            vcpu.setup(GuestPhysAddr::from(0), paging(), ()),
            Err(AxVmError::BadState)
        );
        vcpu.bind().unwrap();
        assert_eq!(vcpu.state(), VCpuState::Ready);
        assert_eq!(vcpu.run(), Ok(AxVCpuExitReason::Halt));
        assert_eq!(vcpu.state(), VCpuState::Ready);
        vcpu.block().unwrap();
        assert_eq!(vcpu.run(), Err(AxVmError::BadState));
        vcpu.unblock().unwrap();
        vcpu.unbind().unwrap();
        assert_eq!(vcpu.state(), VCpuState::Free);
        assert!(vcpu.is_bsp());
        assert_eq!(vcpu.vm_id(), 7);
        assert_eq!(
            vcpu.arch().events,
            vec![
                ScriptedEvent::Entry(GuestPhysAddr::from(0x4008_0000)),
                ScriptedEvent::Paging(paging()),
                ScriptedEvent::Bind,
                ScriptedEvent::Unbind,
            ]
        );
    }

    #[test]
    fn a_vcpu_bound_to_one_cpu_is_neither_run_nor_written_from_another() {
        let mut vcpu = vcpu(vec![Ok(AxVCpuExitReason::Halt)]);
        vcpu.setup(GuestPhysAddr::from(0x4008_0000), paging(), ())
            .unwrap();
        vcpu.bind().unwrap();
        assert!(vcpu.is_loaded_here());
        vcpu.arch_mut().current_cpu = 1;
        assert!(!vcpu.is_loaded_here());
        assert_eq!(vcpu.run(), Err(AxVmError::BadState));
        assert_eq!(vcpu.arch().runs, 0);
        assert_eq!(
            vcpu.set_entry(GuestPhysAddr::from(0x1000)),
            Err(AxVmError::BadState)
        );
        assert_eq!(vcpu.set_gpr(1, 2), Err(AxVmError::BadState));
        assert_eq!(vcpu.set_return_value(3), Err(AxVmError::BadState));
        let write = AxVCpuExitReason::MmioWrite {
            addr: GuestPhysAddr::from(0),
            width: AccessWidth::Byte,
            data: 0,
        };
        assert_eq!(vcpu.complete_write(&write), Err(AxVmError::BadState));
        assert_eq!(vcpu.unbind(), Err(AxVmError::BadState));
        assert_eq!(vcpu.state(), VCpuState::Ready);
        // Back on its own CPU everything works again.
        vcpu.arch_mut().current_cpu = 0;
        assert_eq!(vcpu.run(), Ok(AxVCpuExitReason::Halt));
        vcpu.unbind().unwrap();
        // Unbound, the registers are saved state any CPU may change.
        vcpu.arch_mut().current_cpu = 1;
        vcpu.set_gpr(1, 2).unwrap();
        assert_eq!(vcpu.arch().events.last(), Some(&ScriptedEvent::Gpr(1, 2)));
    }

    #[test]
    fn a_backend_error_leaves_the_vcpu_ready() {
        let mut vcpu = vcpu(vec![Err(AxVmError::BadAddress)]);
        vcpu.setup(GuestPhysAddr::from(0), paging(), ()).unwrap();
        vcpu.bind().unwrap();
        assert_eq!(vcpu.run(), Err(AxVmError::BadAddress));
        assert_eq!(vcpu.state(), VCpuState::Ready);
    }

    #[test]
    fn reads_complete_with_extension_and_a_skip() {
        let mut vcpu = vcpu(Vec::new());
        let read = AxVCpuExitReason::MmioRead {
            addr: GuestPhysAddr::from(0x900_0000),
            width: AccessWidth::Byte,
            reg: 3,
            reg_width: AccessWidth::Qword,
            signed_ext: true,
        };
        vcpu.complete_read(&read, 0x1ff).unwrap();
        let sysreg = AxVCpuExitReason::SysRegRead {
            addr: SysRegAddr(0x1234),
            reg: 5,
        };
        vcpu.complete_read(&sysreg, 42).unwrap();
        let write = AxVCpuExitReason::MmioWrite {
            addr: GuestPhysAddr::from(0),
            width: AccessWidth::Dword,
            data: 1,
        };
        assert_eq!(vcpu.complete_read(&write, 0), Err(AxVmError::InvalidInput));
        vcpu.complete_write(&write).unwrap();
        assert_eq!(vcpu.complete_write(&read), Err(AxVmError::InvalidInput));
        assert_eq!(
            vcpu.arch().events,
            vec![
                ScriptedEvent::Gpr(3, u64::MAX),
                ScriptedEvent::Skip,
                ScriptedEvent::Gpr(5, 42),
                ScriptedEvent::Skip,
                ScriptedEvent::Skip,
            ]
        );
    }

    #[test]
    fn extension_follows_width_register_width_and_sign() {
        use AccessWidth::{Byte, Dword, Qword, Word};
        assert_eq!(extend(0x80, Byte, Qword, true), 0xffff_ffff_ffff_ff80);
        assert_eq!(extend(0x80, Byte, Dword, true), 0xffff_ff80);
        assert_eq!(extend(0x80, Byte, Qword, false), 0x80);
        assert_eq!(extend(0x1_7fff, Word, Qword, true), 0x7fff);
        assert_eq!(
            extend(0xdead_beef_8000_0000, Dword, Qword, true),
            0xffff_ffff_8000_0000
        );
        assert_eq!(extend(u64::MAX, Qword, Qword, true), u64::MAX);
        assert_eq!(
            extend(0x1234_5678_9abc_def0, Qword, Dword, false),
            0x9abc_def0
        );
    }
}
