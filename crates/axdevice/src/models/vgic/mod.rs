//! An emulated GICv3 (no ITS, no LPIs): distributor, one redistributor per vCPU, the SGI
//! system registers, and the interrupt model the run loop queries per vCPU.
//!
//! [`VGic`] holds the state of every interrupt behind one `spin::Mutex` (accesses are
//! short; a VM's vCPUs serialize on it, which keeps the model simple and obviously
//! consistent). It is shared by four kinds of user:
//!
//! - the guest, through [`GicDistributor`] (GICD, 64 KiB), [`GicRedistributors`] (all
//!   vCPUs' GICR frames, 128 KiB each) and [`GicSgiRegister`] (ICC_SGI1R_EL1,
//!   ICC_ASGI1R_EL1, ICC_SGI0R_EL1 as trapped system registers);
//! - devices, through [`IrqSink`] (SPIs by INTID) and [`VGic::set_ppi_level`];
//! - the run loop, through [`VirtualInterruptController`]: before each entry
//!   [`irqs_for_vcpu`](VirtualInterruptController::irqs_for_vcpu) lists what the vCPU
//!   should hold (see `lists.rs` for the rules), after each exit
//!   [`sync_from_vcpu`](VirtualInterruptController::sync_from_vcpu) takes back what the
//!   guest did;
//! - the host, through the [`VcpuNotifier`] given at construction: it is called, after
//!   the lock is dropped (so it may call back into the model), for each vCPU whose
//!   interrupts changed in a way it should act on: a pending interrupt became
//!   deliverable (raised, enabled, re-prioritised, regrouped, re-routed, GICD_CTLR
//!   enabled), or an interrupt it holds in its list changed.
//!
//! Architecture choices, as Linux sees them under KVM: a single security state
//! (GICD_CTLR.DS = 1), affinity routing always on (ARE reads 1, so the GICD registers of
//! INTIDs 0-31 are reserved), every interrupt resets to group 1 and only group 1 is
//! delivered (EnableGrp0 reads 0). vCPU `n` has affinity Aff0 = `n`, Aff1-Aff3 = 0, the
//! same as axvcpu's default MPIDR for up to 256 vCPUs. An SPI routed with IRM = 1 ("any
//! PE") goes to vCPU 0; one routed to an affinity no vCPU has is never delivered.
//! Priorities keep all 8 bits; the virtual CPU interface compares its implemented top
//! bits. The model does not see the guest's priority mask (ICC_PMR_EL1 lives in the
//! virtual CPU interface), so "deliverable" ignores it.

mod config;
mod distributor;
mod irq_state;
mod lists;
mod redistributor;
mod registers;
mod regs;
mod sgi;
mod state;
#[cfg(test)]
mod tests;

use alloc::{string::String, sync::Arc, vec::Vec};

use axvm_types::VirtualIrq;
use spin::Mutex;

pub use self::{
    config::VGicConfig,
    distributor::GicDistributor,
    redistributor::GicRedistributors,
    sgi::{GicSgiRegister, SgiRegister, SgiTargets, aarch64_sysreg_addr},
};
use self::{
    regs::{PRIVATE_COUNT, SGI_COUNT},
    state::{GicState, Notify},
};
use crate::{
    addr::MmioRange,
    devices::AxVmDevices,
    error::DeviceError,
    irq::{IrqSink, VcpuNotifier, VirtualInterruptController},
    models::relist::Relist,
};

/// An emulated GICv3: the shared state behind its MMIO and system-register devices.
///
/// ```
/// use std::sync::Arc;
///
/// use axdevice::{AxVmDevices, IrqSink, VGic, VGicConfig, VirtualInterruptController};
/// use axvm_types::{AccessWidth, GuestPhysAddr, VirqState, VirtualIrq};
///
/// let config = VGicConfig::new(0x0800_0000.into(), 0x080a_0000.into(), 1, 32);
/// let gic = Arc::new(VGic::new("gic", config, None)?);
/// let mut devices = AxVmDevices::empty();
/// gic.attach(&mut devices)?;
///
/// // The guest enables group 1 and SPI 33 (ISENABLER1 bit 1).
/// let gicd = |offset: usize| GuestPhysAddr::from(0x0800_0000 + offset);
/// devices.handle_mmio_write(gicd(0x0), AccessWidth::Dword, 0x2)?;
/// devices.handle_mmio_write(gicd(0x104), AccessWidth::Dword, 0x2)?;
///
/// // A UART raises its line; before the next entry the vCPU is given SPI 33.
/// gic.set_level(33, true);
/// let mut list = Vec::new();
/// assert!(!gic.irqs_for_vcpu(0, 4, &mut list));
/// assert_eq!((list[0].intid, list[0].state), (33, VirqState::Pending));
///
/// // The guest took it and, the UART serviced, ended it; the line is low again.
/// gic.set_level(33, false);
/// gic.sync_from_vcpu(0, &[VirtualIrq { state: VirqState::Inactive, ..list[0] }]);
/// assert!(!gic.has_deliverable(0));
/// # Ok::<(), axdevice::DeviceError>(())
/// ```
pub struct VGic {
    name: String,
    config: VGicConfig,
    gicd: MmioRange,
    gicr: MmioRange,
    state: Mutex<GicState>,
    /// Per vCPU, whether a change since its last list may have changed what the list
    /// should hold: marked, under the state lock, for every vCPU a change notes (the
    /// target of an interrupt it made deliverable, whoever held the interrupt), cleared
    /// when the vCPU's list is computed; and the notifier that kicks them.
    relist: Relist,
}

impl core::fmt::Debug for VGic {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VGic")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("notifier", &self.relist.has_notifier())
            .finish_non_exhaustive()
    }
}

impl VGic {
    /// A GIC shaped by `config`, in its reset state, telling `notifier` (if any) when a
    /// vCPU should re-evaluate its interrupts.
    ///
    /// # Errors
    ///
    /// [`DeviceError::InvalidConfig`] or [`DeviceError::WindowOutOfSpace`], see
    /// [`VGicConfig::validate`].
    pub fn new(
        name: &str,
        config: VGicConfig,
        notifier: Option<Arc<dyn VcpuNotifier>>,
    ) -> Result<Self, DeviceError> {
        config.validate(name)?;
        Ok(Self {
            name: name.into(),
            gicd: config.gicd_range(name)?,
            gicr: config.gicr_range(name)?,
            state: Mutex::new(GicState::new(&config)),
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
    pub const fn config(&self) -> &VGicConfig {
        &self.config
    }

    /// The number of vCPUs.
    #[must_use]
    pub const fn vcpu_num(&self) -> usize {
        self.config.vcpu_num
    }

    /// The distributor's window.
    #[must_use]
    pub const fn gicd_range(&self) -> MmioRange {
        self.gicd
    }

    /// The redistributors' window (vCPU `n`'s frames at `n` × 0x20000).
    #[must_use]
    pub const fn gicr_range(&self) -> MmioRange {
        self.gicr
    }

    /// Registers the GIC's devices in `devices`: the distributor and redistributors on
    /// the MMIO bus, the three SGI registers on the system-register bus (asking
    /// `devices`' [`CurrentVcpu`](crate::CurrentVcpu) link who writes them), and the GIC as the VM's
    /// interrupt controller and line sink.
    ///
    /// # Errors
    ///
    /// [`DeviceError::Overlap`] if a window is taken, or
    /// [`DeviceError::DuplicateInterruptController`] if the VM has one already. Devices
    /// registered before the failure stay registered.
    pub fn attach(self: &Arc<Self>, devices: &mut AxVmDevices) -> Result<(), DeviceError> {
        devices.add_mmio_dev(Arc::new(GicDistributor::new(self.clone())))?;
        devices.add_mmio_dev(Arc::new(GicRedistributors::new(self.clone())))?;
        let sender = devices.current_vcpu();
        for register in SgiRegister::ALL {
            devices.add_sys_reg_dev(Arc::new(GicSgiRegister::new(
                self.clone(),
                register,
                sender.clone(),
            )?))?;
        }
        devices.set_vgic(self.clone())
    }

    /// Runs `op` on the state, then notifies (lock dropped) every vCPU it noted except
    /// `skip`.
    fn with_state<R>(
        &self,
        skip: Option<usize>,
        op: impl FnOnce(&mut GicState, &mut Notify) -> R,
    ) -> R {
        let mut notify = Notify::default();
        let result = {
            let mut state = self.state.lock();
            let result = op(&mut state, &mut notify);
            self.relist.mark(notify, None);
            result
        };
        self.relist.notify(notify, skip);
        result
    }

    /// Runs `op`, which only reads the state (a register read).
    fn read_state<R>(&self, op: impl FnOnce(&GicState) -> R) -> R {
        op(&self.state.lock())
    }

    /// Drives PPI `intid` (16-31) of `vcpu`. Other INTIDs and vCPUs are ignored (logged).
    pub fn set_ppi_level(&self, vcpu: usize, intid: u32, asserted: bool) {
        if self.is_ppi(vcpu, intid) {
            self.with_state(None, |state, notify| {
                state.set_line(vcpu, intid, asserted, notify)
            });
        }
    }

    /// [`set_ppi_level`](Self::set_ppi_level) by the physical CPU that runs `vcpu`,
    /// between an exit of `vcpu` and its next entry (a host handing it the physical
    /// interrupt that ended its run, as the virtual timer's): `vcpu` itself is not
    /// notified, since its run loop looks for a new list before the entry anyway.
    pub fn set_own_ppi_level(&self, vcpu: usize, intid: u32, asserted: bool) {
        if !self.is_ppi(vcpu, intid) {
            return;
        }
        let mut state = self.state.lock();
        // A change of a private interrupt concerns its own vCPU alone (see
        // `set_private_line`), which is marked stale here and not notified.
        if state.set_private_line(vcpu, intid, asserted) {
            let mut stale = Notify::default();
            stale.add(vcpu);
            self.relist.mark(stale, None);
        }
    }

    /// Whether `intid` is a PPI of an existing `vcpu` (logged if not).
    fn is_ppi(&self, vcpu: usize, intid: u32) -> bool {
        let known = (SGI_COUNT..PRIVATE_COUNT).contains(&intid) && vcpu < self.vcpu_num();
        if !known {
            log::debug!("{}: no PPI {intid} on vCPU {vcpu}", self.name);
        }
        known
    }

    /// Links PPI or SGI `intid` (0-31) of `vcpu` to the physical interrupt of the same
    /// INTID (or unlinks it): lists then carry `hw_intid = Some(intid)` and no EOI
    /// notification, and each assertion through [`set_ppi_level`](Self::set_ppi_level)
    /// latches it pending (the host sees the physical interrupt fire, never its line
    /// fall). The virtual timer, PPI 27, is linked this way.
    ///
    /// # Errors
    ///
    /// [`DeviceError::InvalidConfig`] if `vcpu` or `intid` names no private interrupt.
    pub fn set_hw_linked(&self, vcpu: usize, intid: u32, linked: bool) -> Result<(), DeviceError> {
        if self.with_state(None, |state, notify| {
            state.set_hw(vcpu, intid, linked, notify)
        }) {
            Ok(())
        } else {
            Err(config::invalid(
                &self.name,
                "a hardware link needs a vCPU's PPI or SGI",
            ))
        }
    }

    /// Sends the SGIs an ICC_SGI1R_EL1 write of `value` by vCPU `sender` asks for (see
    /// [`SgiTargets`]). `sender` is only needed for IRM = 1 ("all but self"); `None`
    /// (unknown) then sends to every vCPU, since a spurious IPI is harmless and a lost
    /// one can hang a guest.
    pub fn send_sgi(&self, sender: Option<usize>, value: u64) {
        let sgi = SgiTargets::decode(value);
        let targets = sgi.targets(sender, self.vcpu_num());
        self.with_state(None, |state, notify| {
            for vcpu in &targets {
                state.update(vcpu, sgi.intid, notify, |irq| irq.set_latch());
            }
        });
    }
}

impl IrqSink for VGic {
    /// Drives SPI `line` (an INTID from 32). Lines the GIC does not implement (private
    /// INTIDs, past the SPI count) are ignored, logged at debug level.
    fn set_level(&self, line: u32, asserted: bool) {
        if line < PRIVATE_COUNT || line >= self.config.intid_count() {
            log::debug!("{}: no SPI {line}", self.name);
            return;
        }
        self.with_state(None, |state, notify| {
            state.set_line(0, line, asserted, notify)
        });
    }
}

impl VirtualInterruptController for VGic {
    fn sync_from_vcpu(&self, vcpu: usize, loaded: &[VirtualIrq]) {
        self.with_state(Some(vcpu), |state, notify| state.sync(vcpu, loaded, notify));
    }

    /// Computing a list records who holds what but changes no interrupt's state: the
    /// list stays current until a change notes this vCPU.
    fn irqs_for_vcpu(&self, vcpu: usize, slots: usize, out: &mut Vec<VirtualIrq>) -> bool {
        let mut notify = Notify::default();
        let more = {
            let mut state = self.state.lock();
            let more = state.list(vcpu, slots, out, &mut notify);
            // Listing notes this vCPU as the holder of what it lists: that is the list
            // just made, not a change.
            self.relist.mark(notify, Some(vcpu));
            self.relist.listed(vcpu);
            more
        };
        self.relist.notify(notify, Some(vcpu));
        more
    }

    fn needs_relist(&self, vcpu: usize) -> bool {
        self.relist.needs_relist(vcpu)
    }

    fn has_deliverable(&self, vcpu: usize) -> bool {
        self.state.lock().has_deliverable(vcpu)
    }
}

/// The SPI count a GIC needs for `irq_ids` (devices' lines; 0 means none): enough for
/// the highest, at least 32, rounded up to 32.
#[must_use]
pub fn spis_for_lines(irq_ids: impl IntoIterator<Item = usize>) -> usize {
    let highest = irq_ids.into_iter().max().unwrap_or(0);
    highest
        .saturating_add(1)
        .saturating_sub(32)
        .max(32)
        .div_ceil(32)
        .saturating_mul(32)
}
