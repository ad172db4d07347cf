//! Which physical CPU a vCPU's state is loaded on, and the rule that a physical CPU
//! holds at most one loaded vCPU.
//!
//! A bound vCPU's live state (VMCS, EL1 and stage-2 registers, VS CSRs and
//! `hgatp`) is in one CPU's hardware. Every backend keeps a [`PhysCpuBinding`]:
//! `bind` claims the calling CPU for the vCPU, and every operation on live state
//! asks [`PhysCpuBinding::is_loaded_here`] first, so safe code can neither run a
//! vCPU on another vCPU's hardware state nor write one vCPU's state into the
//! hardware of another CPU.

use core::sync::atomic::{AtomicU64, Ordering};

use axvm_types::{AxVmError, AxVmResult};

use crate::AxVCpuHal;

/// The number of physical CPUs a vCPU can be bound to: CPU ids from
/// [`AxVCpuHal::current_cpu_id`] must be below it.
pub const MAX_PHYS_CPUS: usize = 1024;

/// One bit per physical CPU: set while a vCPU is loaded there.
static LOADED: [AtomicU64; MAX_PHYS_CPUS / 64] = [const { AtomicU64::new(0) }; MAX_PHYS_CPUS / 64];

/// The word of [`LOADED`] and the bit of `cpu`, or `None` past [`MAX_PHYS_CPUS`].
fn slot(cpu: usize) -> Option<(&'static AtomicU64, u64)> {
    Some((LOADED.get(cpu / 64)?, 1 << (cpu % 64)))
}

/// Whether some vCPU is loaded on physical CPU `cpu`.
#[must_use]
pub fn cpu_has_loaded_vcpu(cpu: usize) -> bool {
    slot(cpu).is_some_and(|(word, bit)| word.load(Ordering::Acquire) & bit != 0)
}

/// The physical CPU a vCPU is bound to, if any.
///
/// Not `Clone`: one binding stands for one claim of a CPU. Dropping a binding gives
/// its CPU back (a backend whose hardware state needs more, such as a VMCS that
/// must be cleared on its CPU, handles that in its own `Drop` first).
#[derive(Debug, Default)]
pub struct PhysCpuBinding {
    cpu: Option<usize>,
}

impl PhysCpuBinding {
    /// Not bound.
    #[must_use]
    pub const fn new() -> Self {
        Self { cpu: None }
    }

    /// The CPU the vCPU is bound to.
    #[must_use]
    pub const fn cpu(&self) -> Option<usize> {
        self.cpu
    }

    /// Whether the vCPU is bound to any CPU.
    #[must_use]
    pub const fn is_bound(&self) -> bool {
        self.cpu.is_some()
    }

    /// Whether the vCPU is bound to the CPU the caller runs on.
    #[must_use]
    pub fn is_loaded_here<H: AxVCpuHal>(&self) -> bool {
        self.cpu.is_some_and(|cpu| cpu == H::current_cpu_id())
    }

    /// A binding to the calling CPU, which it claims: another vCPU cannot be
    /// bound there until this binding is released or dropped. A backend's `bind`
    /// claims first, then loads the vCPU's state, and keeps the binding only if
    /// that succeeds (dropping it gives the CPU back).
    ///
    /// # Errors
    ///
    /// `ResourceBusy` when another vCPU is loaded on this CPU; `InvalidInput`
    /// when the HAL's CPU id is not below [`MAX_PHYS_CPUS`].
    pub fn claim_here<H: AxVCpuHal>() -> AxVmResult<Self> {
        let cpu = H::current_cpu_id();
        let (word, bit) = slot(cpu).ok_or(AxVmError::InvalidInput)?;
        if word.fetch_or(bit, Ordering::AcqRel) & bit != 0 {
            return Err(AxVmError::ResourceBusy);
        }
        Ok(Self { cpu: Some(cpu) })
    }

    /// Gives the CPU back, on that CPU, once the vCPU's state is saved.
    ///
    /// # Errors
    ///
    /// `BadState` unless the vCPU is bound to the calling CPU.
    pub fn release<H: AxVCpuHal>(&mut self) -> AxVmResult {
        if !self.is_loaded_here::<H>() {
            return Err(AxVmError::BadState);
        }
        self.free_slot();
        Ok(())
    }

    fn free_slot(&mut self) {
        if let Some((word, bit)) = self.cpu.take().and_then(slot) {
            word.fetch_and(!bit, Ordering::AcqRel);
        }
    }
}

impl Drop for PhysCpuBinding {
    fn drop(&mut self) {
        self.free_slot();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::test_hal::{FIRST_CHOSEN_CPU, TestHal, on_cpu};

    type Hal = TestHal<0>;

    #[test]
    fn a_cpu_holds_one_vcpu_and_only_its_own_cpu_sees_it_loaded() {
        let one = FIRST_CHOSEN_CPU + 1;
        let two = FIRST_CHOSEN_CPU + 2;
        let mut first = on_cpu(one, PhysCpuBinding::claim_here::<Hal>).unwrap();
        on_cpu(one, || {
            assert_eq!(first.cpu(), Some(one));
            assert!(first.is_loaded_here::<Hal>());
            assert!(cpu_has_loaded_vcpu(one));
            assert_eq!(
                PhysCpuBinding::claim_here::<Hal>().err(),
                Some(AxVmError::ResourceBusy)
            );
        });
        let second = on_cpu(two, || {
            assert!(first.is_bound());
            assert!(!first.is_loaded_here::<Hal>());
            assert_eq!(first.release::<Hal>(), Err(AxVmError::BadState));
            PhysCpuBinding::claim_here::<Hal>().unwrap()
        });
        on_cpu(one, || {
            assert_eq!(first.release::<Hal>(), Ok(()));
            assert!(!cpu_has_loaded_vcpu(one));
            assert_eq!(first.cpu(), None);
            assert_eq!(first.release::<Hal>(), Err(AxVmError::BadState));
        });
        assert!(cpu_has_loaded_vcpu(two));
        drop(second);
        assert!(!cpu_has_loaded_vcpu(two));
    }

    #[test]
    fn the_backends_can_move_between_cpus_when_unbound() {
        fn shareable<T: Send + Sync>() {}
        shareable::<crate::Aarch64VCpu<Hal>>();
        shareable::<crate::Riscv64VCpu<Hal>>();
        shareable::<crate::X86VCpu<Hal>>();
    }

    #[test]
    fn cpu_ids_past_the_table_are_refused() {
        let claimed = on_cpu(MAX_PHYS_CPUS, PhysCpuBinding::claim_here::<Hal>);
        assert_eq!(claimed.err(), Some(AxVmError::InvalidInput));
        assert!(!cpu_has_loaded_vcpu(usize::MAX));
    }
}
