//! The SGI-generation system registers (ICC_SGI1R_EL1, ICC_ASGI1R_EL1, ICC_SGI0R_EL1):
//! decoding a write into target vCPUs, and the system-register device a trapped write
//! reaches.
//!
//! With HCR_EL2.IMO/FMO set, a guest's writes to these registers trap to EL2 as MSR
//! exits; the backend reports them as `SysRegWrite` with the encoding below, and axvm
//! sends them to the system-register bus. The guest uses only group 1, so the three
//! registers act alike: the SGI is made pending and its configured group decides whether
//! it is delivered (a guest that uses group 0 SGIs would see SGI0R pend its group-1 SGIs).

use alloc::{format, string::String, sync::Arc};

use axvm_types::{
    AccessWidth, AxVmErrorKind, AxVmResult, EmulatedDeviceType, MAX_VCPU_NUM, SysRegAddr, VCpuSet,
};

use super::VGic;
use crate::{addr::SysRegRange, error::DeviceError, links::CurrentVcpu, traits::BaseDeviceOps};

/// The address a trapped MSR/MRS of `S<op0>_<op1>_C<crn>_C<crm>_<op2>` has on the
/// system-register bus: the ISS layout of ESR_EL2 for EC 0x18 without Rt and the
/// direction (Op0 \[21:20\], Op2 \[19:17\], Op1 \[16:14\], CRn \[13:10\], CRm \[4:1\]),
/// the encoding axvcpu's aarch64 backend reports.
#[must_use]
pub const fn aarch64_sysreg_addr(op0: u8, op1: u8, crn: u8, crm: u8, op2: u8) -> SysRegAddr {
    SysRegAddr(
        ((op0 as usize & 0x3) << 20)
            | ((op2 as usize & 0x7) << 17)
            | ((op1 as usize & 0x7) << 14)
            | ((crn as usize & 0xf) << 10)
            | ((crm as usize & 0xf) << 1),
    )
}

/// One of the SGI-generation registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SgiRegister {
    /// ICC_SGI1R_EL1 (S3_0_C12_C11_5): group 1 SGIs.
    Sgi1r,
    /// ICC_ASGI1R_EL1 (S3_0_C12_C11_6): SGIs for the other security state's group 1.
    Asgi1r,
    /// ICC_SGI0R_EL1 (S3_0_C12_C11_7): group 0 SGIs.
    Sgi0r,
}

impl SgiRegister {
    /// All three.
    pub const ALL: [Self; 3] = [Self::Sgi1r, Self::Asgi1r, Self::Sgi0r];

    /// The register's system-register address.
    #[must_use]
    pub const fn addr(self) -> SysRegAddr {
        let op2 = match self {
            Self::Sgi1r => 5,
            Self::Asgi1r => 6,
            Self::Sgi0r => 7,
        };
        aarch64_sysreg_addr(3, 0, 12, 11, op2)
    }

    /// The register's architectural name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sgi1r => "ICC_SGI1R_EL1",
            Self::Asgi1r => "ICC_ASGI1R_EL1",
            Self::Sgi0r => "ICC_SGI0R_EL1",
        }
    }
}

/// The fields of an SGI-generation register write (GICv3 12.11.21).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SgiTargets {
    /// The SGI, INTID 0-15 (\[27:24\]).
    pub intid: u32,
    /// Bit `n` targets the PE with Aff0 = `range_selector` × 16 + `n` (\[15:0\]).
    pub target_list: u16,
    /// Aff1 \[23:16\], Aff2 \[39:32\], Aff3 \[55:48\] of the targets.
    pub aff: [u8; 3],
    /// RS \[47:44\]: which block of 16 Aff0 values `target_list` covers.
    pub range_selector: u8,
    /// IRM \[40\]: every PE but the sender, ignoring the other fields.
    pub all_but_self: bool,
}

impl SgiTargets {
    /// Decodes a written value; reserved bits are ignored.
    #[must_use]
    pub const fn decode(value: u64) -> Self {
        Self {
            intid: ((value >> 24) & 0xf) as u32,
            target_list: (value & 0xffff) as u16,
            aff: [
                (value >> 16) as u8,
                (value >> 32) as u8,
                (value >> 48) as u8,
            ],
            range_selector: ((value >> 44) & 0xf) as u8,
            all_but_self: value & (1 << 40) != 0,
        }
    }

    /// The vCPUs among `vcpu_num` that the write targets: vCPU `n` has Aff0 = `n` and
    /// Aff1-Aff3 = 0. For IRM = 1 every vCPU but `sender`; when the sender is unknown,
    /// every vCPU.
    #[must_use]
    pub fn targets(&self, sender: Option<usize>, vcpu_num: usize) -> VCpuSet {
        let vcpu_num = vcpu_num.min(MAX_VCPU_NUM);
        let mut set = VCpuSet::new();
        if self.all_but_self {
            for vcpu in (0..vcpu_num).filter(|&vcpu| Some(vcpu) != sender) {
                set.set(vcpu, true);
            }
            return set;
        }
        if self.aff != [0; 3] {
            return set;
        }
        let base = usize::from(self.range_selector).saturating_mul(16);
        for bit in 0..16 {
            let aff0 = base.saturating_add(bit);
            if self.target_list & (1 << bit) != 0 && aff0 < vcpu_num {
                set.set(aff0, true);
            }
        }
        set
    }
}

/// One SGI-generation register of a [`VGic`], as a write-only system-register device.
/// A write sends the SGIs it names from the vCPU the [`CurrentVcpu`] link reports.
pub struct GicSgiRegister {
    vgic: Arc<VGic>,
    register: SgiRegister,
    range: SysRegRange,
    sender: Arc<dyn CurrentVcpu>,
    name: String,
}

impl core::fmt::Debug for GicSgiRegister {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GicSgiRegister")
            .field("name", &self.name)
            .field("register", &self.register)
            .finish_non_exhaustive()
    }
}

impl GicSgiRegister {
    /// `register` of `vgic`, asking `sender` which vCPU writes it.
    ///
    /// # Errors
    ///
    /// None in practice: [`DeviceError::WindowOutOfSpace`] if the register's one-address
    /// window did not fit the space.
    pub fn new(
        vgic: Arc<VGic>,
        register: SgiRegister,
        sender: Arc<dyn CurrentVcpu>,
    ) -> Result<Self, DeviceError> {
        let name = format!("{}-{}", vgic.name(), register.name());
        let addr = register.addr();
        let range = SysRegRange::new(addr, 1).map_err(|_| DeviceError::WindowOutOfSpace {
            kind: "system register",
            name: name.clone(),
            base: addr.addr(),
            length: 1,
            limit: usize::MAX,
        })?;
        Ok(Self {
            vgic,
            register,
            range,
            sender,
            name,
        })
    }

    /// Which register it is.
    #[must_use]
    pub const fn register(&self) -> SgiRegister {
        self.register
    }
}

impl BaseDeviceOps<SysRegAddr> for GicSgiRegister {
    fn emu_type(&self) -> EmulatedDeviceType {
        EmulatedDeviceType::InterruptController
    }

    fn address_range(&self) -> SysRegRange {
        self.range
    }

    fn name(&self) -> &str {
        &self.name
    }

    /// The registers are write-only: a read is refused (an MRS of them is undefined).
    fn handle_read(&self, _addr: SysRegAddr, _width: AccessWidth) -> AxVmResult<usize> {
        Err(AxVmErrorKind::Unsupported.into())
    }

    fn handle_write(&self, _addr: SysRegAddr, _width: AccessWidth, val: usize) -> AxVmResult {
        self.vgic.send_sgi(
            self.sender.current_vcpu(),
            u64::try_from(val).unwrap_or(u64::MAX),
        );
        Ok(())
    }
}
