//! An emulated RISC-V PLIC (platform-level interrupt controller) and the interrupt model
//! the run loop queries per vCPU.
//!
//! Register map (PLIC specification 1.0.0, as on QEMU `virt`): source priorities at
//! 0x0 + 4 × id, the read-only pending bits at 0x1000, each context's enable bits at
//! 0x2000 + 0x80 × context, its priority threshold at 0x20_0000 + 0x1000 × context and its
//! claim/complete register 4 bytes above. Registers take aligned 32-bit accesses; any
//! other access, and every offset without a register, reads 0 and ignores writes
//! (logged at debug level), so a guest cannot fault the hypervisor through it.
//!
//! The model:
//!
//! - sources 1 to N ([`VPlicConfig::sources`], the device tree's `riscv,ndev`); source 0
//!   means "none". Priorities and thresholds keep 3 bits (WARL: levels 1-7 as on QEMU
//!   `virt`); priority 0 never interrupts;
//! - each source's gateway is level-based: it is pending while its line is asserted,
//!   claimed it is not signalled again until completed, and still asserted at the
//!   completion it is pending again. An edge ([`IrqSink::pulse`]) latches pending once;
//! - a claim returns the highest-priority pending source the context enables whose
//!   priority is above the context's threshold (on a tie the lowest number), claims it
//!   and clears its pending bit; 0 if there is none. (The specification leaves the
//!   threshold out of the claim; QEMU applies it, and so does this model: a context at
//!   threshold 7 claims nothing.) A completion is ignored unless the source is claimed
//!   and enabled for the completing context;
//! - contexts belong to harts ([`PlicContexts`]): by default context `n` is vCPU `n`'s
//!   S-mode context, which the guest device tree lists as `<&cpuN_intc 9>`; with
//!   [`PlicContexts::MachineAndSupervisor`] (QEMU's layout) context `2n` is hart `n`'s
//!   M-mode context, which has registers but interrupts nobody.
//!
//! The run loop's side ([`VirtualInterruptController`]): a vCPU's list holds at most one
//! [`VirtualIrq`], its context's best deliverable source (state `Pending`, priority
//! `7 - level` so that lower is more urgent as the trait expects), which the riscv
//! backend turns into `hvip.VSEIP`. A vCPU's list goes stale (`needs_relist`) whenever
//! its context's best source changes, which every line change, claim, completion, enable,
//! threshold or priority write can do; the [`VcpuNotifier`] is called, after the lock is
//! dropped, for each vCPU that had no deliverable source and now has one.
//!
//! One `spin::Mutex` holds the state, as in the vGIC. MMIO accesses allocate nothing.

mod config;
mod gateway;
mod mmio;
mod regs;
mod state;
#[cfg(test)]
mod tests;

use alloc::{string::String, sync::Arc, vec::Vec};

use axvm_types::{VirqState, VirtualIrq};
use spin::Mutex;

pub use self::config::{PlicContexts, VPlicConfig};
use self::{
    regs::PRIORITY_MAX,
    state::{Changes, PlicState},
};
use crate::{
    addr::MmioRange,
    devices::AxVmDevices,
    error::DeviceError,
    irq::{IrqSink, VcpuNotifier, VirtualInterruptController},
    models::relist::Relist,
};

/// An emulated PLIC: one MMIO device and the VM's interrupt controller.
///
/// ```
/// use std::sync::Arc;
///
/// use axdevice::{AxVmDevices, IrqSink, VPlic, VPlicConfig, VirtualInterruptController};
/// use axvm_types::{AccessWidth, GuestPhysAddr, VirqState};
///
/// let plic = Arc::new(VPlic::new("plic", VPlicConfig::new(0x0c00_0000.into(), 1, 31), None)?);
/// let mut devices = AxVmDevices::empty();
/// plic.attach(&mut devices)?;
/// let reg = |offset: usize| GuestPhysAddr::from(0x0c00_0000 + offset);
///
/// // The guest gives the UART's source 10 priority 1 and enables it in its context.
/// devices.handle_mmio_write(reg(4 * 10), AccessWidth::Dword, 1)?;
/// devices.handle_mmio_write(reg(0x2000), AccessWidth::Dword, 1 << 10)?;
///
/// // The UART raises its line: the vCPU is given source 10 (the backend sets VSEIP).
/// plic.set_level(10, true);
/// let mut list = Vec::new();
/// plic.irqs_for_vcpu(0, 1, &mut list);
/// assert_eq!((list[0].intid, list[0].state), (10, VirqState::Pending));
///
/// // The guest claims it; nothing is left to deliver until it completes.
/// assert_eq!(devices.handle_mmio_read(reg(0x20_0004), AccessWidth::Dword)?, 10);
/// assert!(!plic.has_deliverable(0));
/// plic.set_level(10, false);
/// devices.handle_mmio_write(reg(0x20_0004), AccessWidth::Dword, 10)?;
/// assert!(!plic.has_deliverable(0));
/// # Ok::<(), axdevice::DeviceError>(())
/// ```
pub struct VPlic {
    name: String,
    config: VPlicConfig,
    range: MmioRange,
    state: Mutex<PlicState>,
    /// Per vCPU, whether its context's best source changed since its last list, and
    /// the notifier told when a vCPU gains a deliverable source.
    relist: Relist,
}

impl core::fmt::Debug for VPlic {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VPlic")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("notifier", &self.relist.has_notifier())
            .finish_non_exhaustive()
    }
}

impl VPlic {
    /// A PLIC shaped by `config`, in its reset state, telling `notifier` (if any) when a
    /// vCPU gains a deliverable interrupt.
    ///
    /// # Errors
    ///
    /// [`DeviceError::InvalidConfig`] or [`DeviceError::WindowOutOfSpace`], see
    /// [`VPlicConfig::validate`].
    pub fn new(
        name: &str,
        config: VPlicConfig,
        notifier: Option<Arc<dyn VcpuNotifier>>,
    ) -> Result<Self, DeviceError> {
        config.validate(name)?;
        Ok(Self {
            name: name.into(),
            range: config.range(name)?,
            state: Mutex::new(PlicState::new(&config)),
            relist: Relist::new(config.vcpu_num, notifier),
            config,
        })
    }

    /// The name given at construction.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The shape it was built with.
    #[must_use]
    pub const fn config(&self) -> &VPlicConfig {
        &self.config
    }

    /// The register window.
    #[must_use]
    pub const fn range(&self) -> MmioRange {
        self.range
    }

    /// Registers the PLIC's window on `devices`' MMIO bus and makes it the VM's
    /// interrupt controller and line sink.
    ///
    /// # Errors
    ///
    /// [`DeviceError::Overlap`] if the window is taken, or
    /// [`DeviceError::DuplicateInterruptController`] if the VM has a controller already
    /// (the window then stays registered).
    pub fn attach(self: &Arc<Self>, devices: &mut AxVmDevices) -> Result<(), DeviceError> {
        devices.add_mmio_dev(self.clone())?;
        devices.set_vplic(self.clone())
    }

    /// Runs `op` on the state, marks the vCPUs whose context changed as stale, and
    /// notifies (lock dropped) those that gained a deliverable source.
    fn with_state<R>(&self, op: impl FnOnce(&mut PlicState, &mut Changes) -> R) -> R {
        let mut changes = Changes::default();
        let result = {
            let mut state = self.state.lock();
            let result = op(&mut state, &mut changes);
            self.relist.mark(changes.stale, None);
            result
        };
        self.relist.notify(changes.gained, None);
        result
    }

    /// Drives or latches source `line`, ignoring (logged) lines the PLIC does not have.
    fn signal(&self, line: u32, signal: Signal) {
        self.with_state(|state, changes| {
            if !state.has_source(line) {
                log::debug!(
                    "{}: no source {line} (sources 1-{})",
                    self.name,
                    state.source_count()
                );
                return;
            }
            match signal {
                Signal::Level(asserted) => state.set_level(line, asserted, changes),
                Signal::Edge => state.latch_edge(line, changes),
            }
        });
    }
}

/// What a device does to its line.
#[derive(Debug, Clone, Copy)]
enum Signal {
    Level(bool),
    Edge,
}

impl IrqSink for VPlic {
    /// Drives the line of source `line` (1 to N); others are ignored, logged at debug
    /// level.
    fn set_level(&self, line: u32, asserted: bool) {
        self.signal(line, Signal::Level(asserted));
    }

    /// Latches one edge on source `line`: it is pending until claimed, whatever its
    /// line does.
    fn pulse(&self, line: u32) {
        self.signal(line, Signal::Edge);
    }
}

impl VirtualInterruptController for VPlic {
    /// Nothing to take back: `hvip.VSEIP` only says "some interrupt", the guest learns
    /// which by reading the claim register, and claims and completions are MMIO accesses
    /// the model has already seen.
    fn sync_from_vcpu(&self, vcpu: usize, loaded: &[VirtualIrq]) {
        let _ = (vcpu, loaded);
    }

    /// The vCPU's context's best deliverable source, if any, as one pending interrupt.
    /// Never reports more: one bit (VSEIP) stands for them all, and the claim that takes
    /// one recomputes the next.
    fn irqs_for_vcpu(&self, vcpu: usize, slots: usize, out: &mut Vec<VirtualIrq>) -> bool {
        out.clear();
        let best = {
            let state = self.state.lock();
            self.relist.listed(vcpu);
            self.config
                .context_of(vcpu)
                .and_then(|context| state.best(context))
        };
        if slots == 0 {
            return best.is_some();
        }
        if let Some((id, priority)) = best {
            out.push(VirtualIrq {
                intid: id,
                priority: u8::try_from(PRIORITY_MAX)
                    .unwrap_or(u8::MAX)
                    .saturating_sub(priority),
                state: VirqState::Pending,
                hw_intid: None,
                notify_eoi: false,
            });
        }
        false
    }

    fn has_deliverable(&self, vcpu: usize) -> bool {
        self.config
            .context_of(vcpu)
            .is_some_and(|context| self.state.lock().best(context).is_some())
    }

    fn needs_relist(&self, vcpu: usize) -> bool {
        self.relist.needs_relist(vcpu)
    }
}
