//! What a vPLIC is built from, checked before anything is built.

use axvm_types::{GuestPhysAddr, MAX_VCPU_NUM};

use super::regs::{CONTEXT_BASE, CONTEXT_STRIDE, MAX_SOURCES, MAX_WINDOW, PRIORITY_MAX, WORD_BITS};
use crate::{addr::MmioRange, error::DeviceError};

/// Which PLIC contexts the guest's harts have, in context order; it decides the guest
/// device tree's `interrupts-extended` list (see [`VPlicConfig::context_interrupts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlicContexts {
    /// One context per hart, its S-mode one: context `n` is hart `n`'s, listed as
    /// `<&cpuN_intc 9>`. The guest has no M-mode, so this is all it can use.
    #[default]
    Supervisor,
    /// Two per hart, as on QEMU `virt`: context `2n` is hart `n`'s M-mode context
    /// (`<&cpuN_intc 11>`: registers only, it interrupts nobody), `2n + 1` its S-mode one
    /// (`<&cpuN_intc 9>`). A guest device tree copied from QEMU's fits it.
    MachineAndSupervisor,
}

impl PlicContexts {
    /// The contexts per hart.
    #[must_use]
    pub const fn per_hart(self) -> usize {
        match self {
            Self::Supervisor => 1,
            Self::MachineAndSupervisor => 2,
        }
    }

    /// The layout with `contexts` contexts for `vcpu_num` harts: one each (S-mode) or
    /// two each (M and S); `None` for any other count.
    #[must_use]
    pub fn for_count(contexts: usize, vcpu_num: usize) -> Option<Self> {
        if contexts == vcpu_num {
            Some(Self::Supervisor)
        } else if Some(contexts) == vcpu_num.checked_mul(2) {
            Some(Self::MachineAndSupervisor)
        } else {
            None
        }
    }
}

/// The shape of an emulated PLIC: its window, its sources, and its contexts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VPlicConfig {
    /// Base of the register window (4 KiB aligned; QEMU `virt`: 0x0c00_0000).
    pub base: GuestPhysAddr,
    /// Length of the window: at least the last context's threshold page (0x20_0000 +
    /// 0x1000 per context), at most the PLIC's 64 MiB; usually 0x60_0000 as on QEMU.
    pub size: usize,
    /// The number of vCPUs (harts), 1 to [`MAX_VCPU_NUM`].
    pub vcpu_num: usize,
    /// The highest source number N: sources 1 to N exist (the device tree's
    /// `riscv,ndev`), 1 to [`MAX_SOURCES`](Self::MAX_SOURCES). Source 0 means "no interrupt".
    pub sources: u32,
    /// The contexts of each hart.
    pub contexts: PlicContexts,
}

impl VPlicConfig {
    /// The window QEMU `virt` gives its PLIC.
    pub const DEFAULT_SIZE: usize = 0x60_0000;
    /// The largest window the PLIC register map defines.
    pub const MAX_SIZE: usize = MAX_WINDOW;
    /// The most sources a PLIC has (1-1023).
    pub const MAX_SOURCES: u32 = MAX_SOURCES;
    /// The highest priority (3 bits, as QEMU `virt`'s 7 levels); 0 never interrupts.
    pub const PRIORITY_MAX: u32 = PRIORITY_MAX;

    /// A config of the default window size with one S-mode context per vCPU;
    /// [`VPlic::new`](super::VPlic::new) checks it.
    #[must_use]
    pub const fn new(base: GuestPhysAddr, vcpu_num: usize, sources: u32) -> Self {
        Self {
            base,
            size: Self::DEFAULT_SIZE,
            vcpu_num,
            sources,
            contexts: PlicContexts::Supervisor,
        }
    }

    /// The same config with window length `size`.
    #[must_use]
    pub const fn with_size(mut self, size: usize) -> Self {
        self.size = size;
        self
    }

    /// The same config with the context layout `contexts`.
    #[must_use]
    pub const fn with_contexts(mut self, contexts: PlicContexts) -> Self {
        self.contexts = contexts;
        self
    }

    /// The number of contexts.
    #[must_use]
    pub const fn context_count(&self) -> usize {
        self.vcpu_num.saturating_mul(self.contexts.per_hart())
    }

    /// The context whose interrupts reach vCPU `vcpu` (its S-mode context).
    #[must_use]
    pub fn context_of(&self, vcpu: usize) -> Option<usize> {
        if vcpu >= self.vcpu_num {
            return None;
        }
        match self.contexts {
            PlicContexts::Supervisor => Some(vcpu),
            PlicContexts::MachineAndSupervisor => vcpu.checked_mul(2)?.checked_add(1),
        }
    }

    /// The vCPU context `context` interrupts, if any (an M-mode context interrupts
    /// nobody).
    #[must_use]
    pub fn vcpu_of(&self, context: usize) -> Option<usize> {
        if context >= self.context_count() {
            return None;
        }
        match self.contexts {
            PlicContexts::Supervisor => Some(context),
            PlicContexts::MachineAndSupervisor => (context % 2 == 1).then_some(context / 2),
        }
    }

    /// The guest device tree's `interrupts-extended` of the PLIC node, in context
    /// order: for each context, the hart whose `riscv,cpu-intc` it targets and the
    /// interrupt cause there (9: supervisor external, 11: machine external).
    pub fn context_interrupts(&self) -> impl Iterator<Item = (usize, u32)> + use<> {
        let config = *self;
        (0..config.context_count()).map(move |context| match config.vcpu_of(context) {
            Some(vcpu) => (vcpu, 9),
            None => (context / 2, 11),
        })
    }

    /// The smallest window that holds every context's threshold and claim page.
    #[must_use]
    pub const fn required_size(&self) -> usize {
        CONTEXT_BASE.saturating_add(CONTEXT_STRIDE.saturating_mul(self.context_count()))
    }

    /// The source count N a PLIC needs for `irq_ids` (devices' lines; 0 means none):
    /// enough for the highest, rounded up so that sources 0 to N fill whole 32-bit
    /// words, at least 31, at most 1023 (the highest 95 gives 95, QEMU `virt`'s
    /// `riscv,ndev`).
    #[must_use]
    pub fn sources_for_lines(irq_ids: impl IntoIterator<Item = usize>) -> u32 {
        let highest = irq_ids.into_iter().max().unwrap_or(0);
        let words = highest.saturating_add(1).div_ceil(WORD_BITS).max(1);
        let count = words.saturating_mul(WORD_BITS).saturating_sub(1);
        u32::try_from(count).map_or(MAX_SOURCES, |count| count.min(MAX_SOURCES))
    }

    /// The register window.
    pub(super) fn range(&self, name: &str) -> Result<MmioRange, DeviceError> {
        MmioRange::new(self.base, self.size).map_err(|_| DeviceError::WindowOutOfSpace {
            kind: "MMIO",
            name: name.into(),
            base: self.base.as_usize(),
            length: self.size,
            limit: usize::MAX,
        })
    }

    /// Checks every field.
    ///
    /// # Errors
    ///
    /// [`DeviceError::InvalidConfig`] for a vCPU count outside 1..=64, a source count
    /// outside 1..=1023, a base that is not 4 KiB aligned, or a window that misses a
    /// context's page or is larger than 64 MiB; [`DeviceError::WindowOutOfSpace`] for a
    /// window past the end of the address space.
    pub fn validate(&self, name: &str) -> Result<(), DeviceError> {
        if self.vcpu_num == 0 || self.vcpu_num > MAX_VCPU_NUM {
            return Err(invalid(name, "the vCPU count must be 1 to 64"));
        }
        if self.sources == 0 || self.sources > MAX_SOURCES {
            return Err(invalid(name, "a PLIC has 1 to 1023 sources"));
        }
        if self.base.as_usize() % 0x1000 != 0 {
            return Err(invalid(name, "the PLIC base must be 4 KiB aligned"));
        }
        if self.size < self.required_size() {
            return Err(invalid(
                name,
                "the PLIC window must cover every context (0x200000 + 0x1000 per context)",
            ));
        }
        if self.size > MAX_WINDOW {
            return Err(invalid(name, "the PLIC window is at most 0x4000000 bytes"));
        }
        self.range(name).map(|_| ())
    }
}

pub(super) use crate::error::invalid_config as invalid;

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;

    fn config(vcpus: usize, sources: u32) -> VPlicConfig {
        VPlicConfig::new(GuestPhysAddr::from(0x0c00_0000), vcpus, sources)
    }

    #[test]
    fn sources_cover_the_lines_in_whole_words() {
        assert_eq!(VPlicConfig::sources_for_lines([]), 31);
        assert_eq!(VPlicConfig::sources_for_lines([0, 10]), 31);
        assert_eq!(VPlicConfig::sources_for_lines([31]), 31);
        assert_eq!(VPlicConfig::sources_for_lines([32]), 63);
        assert_eq!(VPlicConfig::sources_for_lines([95, 1]), 95);
        assert_eq!(VPlicConfig::sources_for_lines([1023]), 1023);
        assert_eq!(VPlicConfig::sources_for_lines([usize::MAX]), 1023);
    }

    #[test]
    fn contexts_map_to_harts_in_either_layout() {
        let s = config(2, 31);
        assert_eq!(s.context_count(), 2);
        assert_eq!((s.context_of(1), s.vcpu_of(1)), (Some(1), Some(1)));
        assert_eq!((s.context_of(2), s.vcpu_of(2)), (None, None));
        assert_eq!(s.context_interrupts().collect::<Vec<_>>(), [(0, 9), (1, 9)]);
        let ms = s.with_contexts(PlicContexts::MachineAndSupervisor);
        assert_eq!(ms.context_count(), 4);
        assert_eq!(ms.context_of(1), Some(3));
        assert_eq!(
            [0, 1, 2, 3, 4].map(|context| ms.vcpu_of(context)),
            [None, Some(0), None, Some(1), None]
        );
        assert_eq!(
            ms.context_interrupts().collect::<Vec<_>>(),
            [(0, 11), (0, 9), (1, 11), (1, 9)]
        );
        assert_eq!(
            PlicContexts::for_count(2, 1),
            Some(PlicContexts::MachineAndSupervisor)
        );
        assert_eq!(
            PlicContexts::for_count(2, 2),
            Some(PlicContexts::Supervisor)
        );
        assert_eq!(PlicContexts::for_count(3, 2), None);
        assert_eq!(
            PlicContexts::for_count(usize::MAX, usize::MAX / 2 + 1),
            None
        );
    }

    #[test]
    fn validation_names_the_problem() {
        assert!(config(1, 95).validate("plic").is_ok());
        assert!(config(64, 1023).validate("plic").is_ok());
        assert!(
            config(64, 31)
                .with_contexts(PlicContexts::MachineAndSupervisor)
                .with_size(VPlicConfig::MAX_SIZE)
                .validate("plic")
                .is_ok()
        );
        let mut unaligned = config(1, 31);
        unaligned.base = GuestPhysAddr::from(0x0c00_0800);
        let bad = [
            config(0, 31),
            config(65, 31),
            config(1, 0),
            config(1, 1024),
            unaligned,
            config(1, 31).with_size(0x20_0fff),
            config(1, 31).with_size(VPlicConfig::MAX_SIZE + 0x1000),
            // 64 harts with M and S contexts need 0x280000 bytes: 0x200000 is too short.
            config(64, 31)
                .with_contexts(PlicContexts::MachineAndSupervisor)
                .with_size(0x20_0000),
        ];
        for config in bad {
            assert!(
                matches!(
                    config.validate("plic"),
                    Err(DeviceError::InvalidConfig { .. })
                ),
                "{config:?}"
            );
        }
        assert!(config(1, 31).with_size(0x20_1000).validate("plic").is_ok());
        let mut top = config(1, 31);
        top.base = GuestPhysAddr::from(usize::MAX & !0xfff);
        assert!(matches!(
            top.validate("plic"),
            Err(DeviceError::WindowOutOfSpace { .. })
        ));
    }
}
