//! What a vGIC is built from, checked before anything is built.

use axvm_types::{GuestPhysAddr, MAX_VCPU_NUM};

use super::regs::{GICD_SIZE, GICR_STRIDE, MAX_SPIS};
use crate::{addr::MmioRange, error::DeviceError};

/// The shape of an emulated GICv3: where its frames are, how many vCPUs and SPIs it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VGicConfig {
    /// Base of the distributor's 64 KiB frame.
    pub gicd_base: GuestPhysAddr,
    /// Base of the first redistributor; vCPU `n`'s is `n` × 0x20000 above it.
    pub gicr_base: GuestPhysAddr,
    /// The number of vCPUs, 1 to [`MAX_VCPU_NUM`]; vCPU `n` has affinity Aff0 = `n`.
    pub vcpu_num: usize,
    /// The number of SPIs, rounded up to a multiple of 32 when built; INTIDs past 1019
    /// are never implemented, so at most 988 are usable.
    pub spi_count: usize,
}

impl VGicConfig {
    /// The size of the distributor's window.
    pub const GICD_SIZE: usize = GICD_SIZE;
    /// The size of one vCPU's redistributor (RD frame + SGI frame).
    pub const GICR_STRIDE: usize = GICR_STRIDE;
    /// The most SPIs a GICv3 without extended SPIs has (INTIDs 32-1019).
    pub const MAX_SPIS: usize = MAX_SPIS;

    /// A config; [`VGic::new`](super::VGic::new) checks it.
    #[must_use]
    pub const fn new(
        gicd_base: GuestPhysAddr,
        gicr_base: GuestPhysAddr,
        vcpu_num: usize,
        spi_count: usize,
    ) -> Self {
        Self {
            gicd_base,
            gicr_base,
            vcpu_num,
            spi_count,
        }
    }

    /// The SPI count the distributor implements: `spi_count` rounded up to 32.
    #[must_use]
    pub const fn rounded_spis(&self) -> usize {
        self.spi_count.div_ceil(32).saturating_mul(32)
    }

    /// The number of INTIDs with state: the private 32 and the SPIs, never past 1019.
    pub(super) fn intid_count(&self) -> u32 {
        let lines = self.rounded_spis().saturating_add(32).min(1020);
        u32::try_from(lines).unwrap_or(1020)
    }

    /// The distributor's window.
    pub(super) fn gicd_range(&self, name: &str) -> Result<MmioRange, DeviceError> {
        window(name, self.gicd_base, GICD_SIZE)
    }

    /// The redistributors' window: one 128 KiB stride per vCPU.
    pub(super) fn gicr_range(&self, name: &str) -> Result<MmioRange, DeviceError> {
        let size = self
            .vcpu_num
            .checked_mul(GICR_STRIDE)
            .ok_or_else(|| invalid(name, "the redistributor window overflows"))?;
        window(name, self.gicr_base, size)
    }

    /// Checks every field.
    ///
    /// # Errors
    ///
    /// [`DeviceError::InvalidConfig`] for a vCPU count outside 1..=64, more than 988 SPIs,
    /// a frame base that is not 64 KiB aligned, or a window past the end of the address
    /// space; [`DeviceError::WindowOutOfSpace`] when a window does not fit.
    pub fn validate(&self, name: &str) -> Result<(), DeviceError> {
        if self.vcpu_num == 0 || self.vcpu_num > MAX_VCPU_NUM {
            return Err(invalid(name, "the vCPU count must be 1 to 64"));
        }
        if self.spi_count > MAX_SPIS {
            return Err(invalid(
                name,
                "a GICv3 has at most 988 SPIs (INTIDs 32-1019)",
            ));
        }
        let aligned = |base: GuestPhysAddr| base.as_usize() % GICD_SIZE == 0;
        if !aligned(self.gicd_base) || !aligned(self.gicr_base) {
            return Err(invalid(name, "GICD and GICR bases must be 64 KiB aligned"));
        }
        let gicd = self.gicd_range(name)?;
        let gicr = self.gicr_range(name)?;
        if gicd.overlaps(&gicr) {
            return Err(invalid(name, "the GICD and GICR windows overlap"));
        }
        Ok(())
    }
}

fn window(name: &str, base: GuestPhysAddr, size: usize) -> Result<MmioRange, DeviceError> {
    MmioRange::new(base, size).map_err(|_| DeviceError::WindowOutOfSpace {
        kind: "MMIO",
        name: name.into(),
        base: base.as_usize(),
        length: size,
        limit: usize::MAX,
    })
}

pub(super) use crate::error::invalid_config as invalid;

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vcpus: usize, spis: usize) -> VGicConfig {
        VGicConfig::new(
            GuestPhysAddr::from(0x0800_0000),
            GuestPhysAddr::from(0x080a_0000),
            vcpus,
            spis,
        )
    }

    #[test]
    fn spis_round_up_to_32_and_intids_stop_at_1019() {
        assert_eq!(config(1, 0).rounded_spis(), 0);
        assert_eq!(config(1, 1).rounded_spis(), 32);
        assert_eq!(config(1, 33).intid_count(), 96);
        assert_eq!(config(1, 988).rounded_spis(), 992);
        assert_eq!(config(1, 988).intid_count(), 1020);
    }

    #[test]
    fn validation_names_the_problem() {
        assert!(config(1, 32).validate("gic").is_ok());
        assert!(config(64, 988).validate("gic").is_ok());
        for bad in [config(0, 32), config(65, 32), config(1, 989)] {
            assert!(matches!(
                bad.validate("gic"),
                Err(DeviceError::InvalidConfig { .. })
            ));
        }
        let mut unaligned = config(1, 32);
        unaligned.gicr_base = GuestPhysAddr::from(0x080a_1000);
        assert!(unaligned.validate("gic").is_err());
        let mut overlapping = config(2, 32);
        overlapping.gicr_base = GuestPhysAddr::from(0x07ff_0000);
        assert!(overlapping.validate("gic").is_err());
        let mut top = config(1, 32);
        top.gicr_base = GuestPhysAddr::from(usize::MAX - 0xffff);
        assert!(matches!(
            top.validate("gic"),
            Err(DeviceError::WindowOutOfSpace { .. })
        ));
    }
}
