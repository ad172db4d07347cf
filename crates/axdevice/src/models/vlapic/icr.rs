//! Interrupt command register values (SDM 11.6.1) and whom they address (SDM 11.6.2):
//! physical and logical (flat and cluster) destinations and the shorthands.

use alloc::vec::Vec;

/// How an IPI is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryMode {
    /// To the vector, on every target.
    Fixed,
    /// To the vector, on one target (the lowest-priority one; this model picks the
    /// lowest-numbered vCPU of the set).
    LowestPriority,
    /// A system management interrupt (not emulated).
    Smi,
    /// A non-maskable interrupt.
    Nmi,
    /// INIT (with level assert; a de-assert is the obsolete INIT level de-assert).
    Init,
    /// Start-up, at `vector << 12`.
    StartUp,
    /// An external interrupt (not sent as an IPI by Linux).
    ExtInt,
}

/// The destination shorthand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shorthand {
    /// The destination field.
    None,
    /// The sender.
    SelfOnly,
    /// Every APIC, the sender included.
    AllIncludingSelf,
    /// Every APIC but the sender.
    AllExcludingSelf,
}

/// A decoded ICR value, `(high << 32) | low`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icr {
    /// The vector.
    pub vector: u8,
    /// The delivery mode.
    pub mode: DeliveryMode,
    /// Logical rather than physical destination.
    pub logical: bool,
    /// Level assert (INIT de-assert has it clear).
    pub assert: bool,
    /// Level- rather than edge-triggered.
    pub level: bool,
    /// The shorthand.
    pub shorthand: Shorthand,
    /// The destination field (ICR bits 63:56).
    pub destination: u8,
}

impl Icr {
    /// Decodes `value`; `None` for the reserved delivery mode 0b011.
    #[must_use]
    pub fn decode(value: u64) -> Option<Self> {
        let low = (value & 0xffff_ffff) as u32;
        let mode = match (low >> 8) & 0b111 {
            0b000 => DeliveryMode::Fixed,
            0b001 => DeliveryMode::LowestPriority,
            0b010 => DeliveryMode::Smi,
            0b100 => DeliveryMode::Nmi,
            0b101 => DeliveryMode::Init,
            0b110 => DeliveryMode::StartUp,
            0b111 => DeliveryMode::ExtInt,
            _ => return None,
        };
        let shorthand = match (low >> 18) & 0b11 {
            0b00 => Shorthand::None,
            0b01 => Shorthand::SelfOnly,
            0b10 => Shorthand::AllIncludingSelf,
            _ => Shorthand::AllExcludingSelf,
        };
        Some(Self {
            vector: (low & 0xff) as u8,
            mode,
            logical: low & (1 << 11) != 0,
            assert: low & (1 << 14) != 0,
            level: low & (1 << 15) != 0,
            shorthand,
            destination: (value >> 56) as u8,
        })
    }
}

/// What a destination is matched against: one APIC's id and logical registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApicAddress {
    /// The APIC id (bits 31:24 of the ID register, as a byte).
    pub id: u8,
    /// The logical destination register's id (LDR bits 31:24).
    pub logical_id: u8,
    /// Whether DFR selects the cluster model (DFR bits 31:28 = 0b0000) rather than flat
    /// (0b1111).
    pub cluster: bool,
}

impl ApicAddress {
    /// Whether a destination field `destination` names this APIC.
    #[must_use]
    pub const fn matches(&self, destination: u8, logical: bool) -> bool {
        if !logical {
            return destination == 0xff || destination == self.id;
        }
        if self.cluster {
            // Bits 7:4 the cluster (15: all), bits 3:0 one bit per APIC in it.
            let cluster = destination >> 4;
            (cluster == 0xf || cluster == self.logical_id >> 4)
                && destination & self.logical_id & 0x0f != 0
        } else {
            destination & self.logical_id != 0
        }
    }
}

/// The vCPUs (index = vCPU id) of `apics` that `icr`, sent by vCPU `sender`, addresses,
/// in ascending order.
#[must_use]
pub fn targets(icr: &Icr, sender: usize, apics: &[ApicAddress]) -> Vec<usize> {
    let hits = apics
        .iter()
        .enumerate()
        .filter(|(vcpu, apic)| match icr.shorthand {
            Shorthand::None => apic.matches(icr.destination, icr.logical),
            Shorthand::SelfOnly => *vcpu == sender,
            Shorthand::AllIncludingSelf => true,
            Shorthand::AllExcludingSelf => *vcpu != sender,
        });
    let take = if icr.mode == DeliveryMode::LowestPriority {
        1
    } else {
        usize::MAX
    };
    hits.map(|(vcpu, _)| vcpu).take(take).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(id: u8, logical_id: u8) -> ApicAddress {
        ApicAddress {
            id,
            logical_id,
            cluster: false,
        }
    }

    fn icr(low: u32, destination: u8) -> Icr {
        Icr::decode(u64::from(destination) << 56 | u64::from(low)).unwrap()
    }

    fn ids(set: Vec<usize>) -> Vec<usize> {
        set
    }

    #[test]
    fn decodes_linux_ipis() {
        // A fixed IPI to APIC 2, physical; Linux's INIT and SIPI to an AP.
        let fixed = icr(0x0000_40fd, 2);
        assert_eq!(
            (fixed.vector, fixed.mode, fixed.logical),
            (0xfd, DeliveryMode::Fixed, false)
        );
        assert_eq!(icr(0x0000_c500, 1).mode, DeliveryMode::Init);
        let sipi = icr(0x0000_0698, 1);
        assert_eq!((sipi.mode, sipi.vector), (DeliveryMode::StartUp, 0x98));
        assert_eq!(icr(0x000c_4400, 0).shorthand, Shorthand::AllExcludingSelf);
        assert_eq!(icr(0x0004_40fd, 0).shorthand, Shorthand::SelfOnly);
        assert_eq!(Icr::decode(0x300), None, "reserved delivery mode");
    }

    #[test]
    fn physical_flat_and_cluster_destinations() {
        let apics = [flat(0, 0x01), flat(1, 0x02), flat(2, 0x04), flat(3, 0x08)];
        assert_eq!(ids(targets(&icr(0x40fd, 2), 0, &apics)), [2]);
        assert_eq!(
            ids(targets(&icr(0x40fd, 0xff), 0, &apics)),
            [0, 1, 2, 3],
            "broadcast"
        );
        assert_eq!(ids(targets(&icr(0x40fd, 9), 0, &apics)), [] as [usize; 0]);
        assert_eq!(
            ids(targets(&icr(0x48fd, 0x0a), 0, &apics)),
            [1, 3],
            "flat bitmap"
        );
        let clustered: Vec<ApicAddress> = [0x11, 0x12, 0x21, 0x22]
            .into_iter()
            .enumerate()
            .map(|(id, logical_id)| ApicAddress {
                id: id as u8,
                logical_id,
                cluster: true,
            })
            .collect();
        assert_eq!(ids(targets(&icr(0x48fd, 0x23), 0, &clustered)), [2, 3]);
        assert_eq!(
            ids(targets(&icr(0x48fd, 0xf1), 0, &clustered)),
            [0, 2],
            "all clusters"
        );
    }

    #[test]
    fn shorthands_and_lowest_priority() {
        let apics = [flat(0, 1), flat(1, 2), flat(2, 4)];
        assert_eq!(ids(targets(&icr(0x0004_40fd, 7), 1, &apics)), [1]);
        assert_eq!(ids(targets(&icr(0x0008_40fd, 7), 1, &apics)), [0, 1, 2]);
        assert_eq!(ids(targets(&icr(0x000c_40fd, 7), 1, &apics)), [0, 2]);
        assert_eq!(
            ids(targets(&icr(0x0000_49fd, 0x06), 0, &apics)),
            [1],
            "one of 1 and 2"
        );
    }
}
