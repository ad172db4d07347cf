//! A backend that replays a script of exits: for tests of code built on vCPUs
//! (feature `testing`). It runs on any host and records what the caller did.

use alloc::{collections::VecDeque, vec::Vec};

use axvm_types::{
    AxVmError, AxVmErrorKind, AxVmResult, GuestPhysAddr, NestedPagingConfig, VCpuId, VMId,
    VirtualIrq,
};

use crate::{AxArchVCpu, AxVCpuExitReason};

/// What a [`ScriptedVCpu`] was asked to do, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptedEvent {
    /// `set_entry`.
    Entry(GuestPhysAddr),
    /// `set_ept_root`.
    Paging(NestedPagingConfig),
    /// `bind`.
    Bind,
    /// `unbind`.
    Unbind,
    /// `set_gpr(reg, value)`.
    Gpr(usize, u64),
    /// `inject_interrupt`.
    Interrupt(usize),
    /// `set_return_value`.
    ReturnValue(u64),
    /// `skip_instruction`.
    Skip,
    /// `set_irq_list` with this many interrupts and this `more_pending`.
    IrqList(usize, bool),
}

/// One step of a script: the result `run` returns.
pub type ScriptStep = AxVmResult<AxVCpuExitReason>;

/// A vCPU backend whose `run` returns the next step of its script; once the script is
/// exhausted every run returns `SystemDown`.
#[derive(Debug, Clone)]
pub struct ScriptedVCpu {
    /// The VM id it was created with.
    pub vm_id: VMId,
    /// The vCPU id it was created with.
    pub vcpu_id: VCpuId,
    /// The steps still to replay.
    pub script: VecDeque<ScriptStep>,
    /// Everything done to the vCPU other than `run`.
    pub events: Vec<ScriptedEvent>,
    /// How many times `run` was called.
    pub runs: usize,
    /// The physical CPU the caller pretends to be on (0 at first): set it to
    /// test calls from another CPU.
    pub current_cpu: usize,
    /// The CPU `bind` tied the vCPU to.
    pub bound_cpu: Option<usize>,
    /// How many interrupt slots it offers (0 at first: set it to test interrupt
    /// delivery).
    pub irq_slot_count: usize,
    /// The interrupts last loaded by `set_irq_list`; a test edits their states to
    /// play the guest.
    pub irqs: Vec<VirtualIrq>,
    /// Plays the guest inside `run`: called with the loaded interrupts and the run's
    /// number (1 for the first), before the step is returned.
    pub guest: Option<fn(&mut [VirtualIrq], usize)>,
}

impl AxArchVCpu for ScriptedVCpu {
    type CreateConfig = Vec<ScriptStep>;
    type SetupConfig = ();

    fn new(vm_id: VMId, vcpu_id: VCpuId, script: Self::CreateConfig) -> AxVmResult<Self> {
        Ok(Self {
            vm_id,
            vcpu_id,
            script: script.into(),
            events: Vec::new(),
            runs: 0,
            current_cpu: 0,
            bound_cpu: None,
            irq_slot_count: 0,
            irqs: Vec::new(),
            guest: None,
        })
    }

    fn set_entry(&mut self, entry: GuestPhysAddr) -> AxVmResult {
        self.events.push(ScriptedEvent::Entry(entry));
        Ok(())
    }

    fn set_ept_root(&mut self, paging: NestedPagingConfig) -> AxVmResult {
        self.events.push(ScriptedEvent::Paging(paging));
        Ok(())
    }

    fn setup(&mut self, (): ()) -> AxVmResult {
        Ok(())
    }

    fn run(&mut self) -> AxVmResult<AxVCpuExitReason> {
        if !self.is_loaded_here() {
            return Err(AxVmError::BadState);
        }
        self.runs = self.runs.saturating_add(1);
        if let Some(guest) = self.guest {
            guest(&mut self.irqs, self.runs);
        }
        self.script
            .pop_front()
            .unwrap_or(Ok(AxVCpuExitReason::SystemDown))
    }

    fn bind(&mut self) -> AxVmResult {
        if self.bound_cpu.is_some() {
            return Err(AxVmError::BadState);
        }
        self.bound_cpu = Some(self.current_cpu);
        self.events.push(ScriptedEvent::Bind);
        Ok(())
    }

    fn unbind(&mut self) -> AxVmResult {
        if !self.is_loaded_here() {
            return Err(AxVmError::BadState);
        }
        self.bound_cpu = None;
        self.events.push(ScriptedEvent::Unbind);
        Ok(())
    }

    fn is_loaded_here(&self) -> bool {
        self.bound_cpu == Some(self.current_cpu)
    }

    fn set_gpr(&mut self, reg: usize, value: u64) {
        self.events.push(ScriptedEvent::Gpr(reg, value));
    }

    fn inject_interrupt(&mut self, vector: usize) -> AxVmResult {
        if vector > usize::from(u8::MAX) {
            return Err(AxVmError::InvalidInput);
        }
        self.events.push(ScriptedEvent::Interrupt(vector));
        Ok(())
    }

    fn irq_slots(&self) -> usize {
        self.irq_slot_count
    }

    fn set_irq_list(&mut self, irqs: &[VirtualIrq], more_pending: bool) -> AxVmResult {
        if irqs.len() > self.irq_slot_count {
            return Err(AxVmErrorKind::InvalidInput.into());
        }
        self.irqs = irqs.to_vec();
        self.events
            .push(ScriptedEvent::IrqList(irqs.len(), more_pending));
        Ok(())
    }

    fn irq_list(&self) -> &[VirtualIrq] {
        &self.irqs
    }

    fn set_return_value(&mut self, value: u64) {
        self.events.push(ScriptedEvent::ReturnValue(value));
    }

    fn skip_instruction(&mut self) {
        self.events.push(ScriptedEvent::Skip);
    }
}
