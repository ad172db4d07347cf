//! What the guest's `CPUID` returns: the host's answer, filtered.
//!
//! Hidden: VMX (no nested virtualisation), MONITOR/MWAIT and WAITPKG (the guest
//! would wait on the host's behalf), x2APIC and the TSC deadline timer (the virtual
//! local APIC is a minimal xAPIC, [`super::lapic`]), MTRR, MCE/MCA, the thermal/debug-store/PDCM features and
//! `IA32_TSC_ADJUST` (their MSRs are not emulated and would fault), and the
//! architectural PMU (leaf 0xA). Added: the hypervisor bit and the hypervisor
//! leaves 0x4000_0000 ("AxVMAxVMAxVM", highest leaf 0x4000_0001, no features yet).
//! Leaf 1 reports the vCPU id as the initial APIC id and the (xAPIC) local APIC.

use crate::arch::x86_64::context::switched::XCR0_MANAGED;

/// The hypervisor vendor leaf.
pub const HYPERVISOR_LEAF: u32 = 0x4000_0000;
/// The highest hypervisor leaf.
pub const HYPERVISOR_MAX_LEAF: u32 = 0x4000_0001;
/// "AxVM" as a little-endian register value.
pub const SIGNATURE: u32 = u32::from_le_bytes(*b"AxVM");

/// Leaf 1 ECX bits hidden: DTES64 (2), MONITOR (3), DS-CPL (4), VMX (5), EST (7),
/// TM2 (8), PDCM (15), x2APIC (21), TSC-deadline (24).
pub const LEAF1_ECX_HIDDEN: u32 = (1 << 2)
    | (1 << 3)
    | (1 << 4)
    | (1 << 5)
    | (1 << 7)
    | (1 << 8)
    | (1 << 15)
    | (1 << 21)
    | (1 << 24);
/// Leaf 1 ECX bit 31: running under a hypervisor.
pub const LEAF1_ECX_HYPERVISOR: u32 = 1 << 31;
/// Leaf 1 EDX bits hidden: MCE (7), MTRR (12), MCA (14), DS (21), ACPI thermal (22),
/// TM (29).
pub const LEAF1_EDX_HIDDEN: u32 =
    (1 << 7) | (1 << 12) | (1 << 14) | (1 << 21) | (1 << 22) | (1 << 29);
/// Leaf 1 EDX bit 9: an on-chip local APIC (the virtual xAPIC).
pub const LEAF1_EDX_APIC: u32 = 1 << 9;
/// Leaf 7 EBX bit 1: `IA32_TSC_ADJUST`.
pub const LEAF7_EBX_HIDDEN: u32 = 1 << 1;
/// Leaf 0xD subleaf 1 EAX bit 3: XSAVES/XRSTORS and `IA32_XSS`.
pub const LEAF_D1_EAX_XSAVES: u32 = 1 << 3;
/// Leaf 7 ECX bit 5: WAITPKG (UMONITOR/UMWAIT).
pub const LEAF7_ECX_HIDDEN: u32 = 1 << 5;

/// The guest's answer to `CPUID(leaf, subleaf)` given the host's `host` answer
/// (`[eax, ebx, ecx, edx]`), for vCPU `vcpu_id`.
#[must_use]
pub fn filter(leaf: u32, subleaf: u32, host: [u32; 4], vcpu_id: u8) -> [u32; 4] {
    let [eax, ebx, ecx, edx] = host;
    match leaf {
        1 => [
            eax,
            (ebx & 0x00ff_ffff) | (u32::from(vcpu_id) << 24),
            (ecx & !LEAF1_ECX_HIDDEN) | LEAF1_ECX_HYPERVISOR,
            (edx & !LEAF1_EDX_HIDDEN) | LEAF1_EDX_APIC,
        ],
        5 | 6 | 0xa => [0; 4],
        7 if subleaf == 0 => [eax, ebx & !LEAF7_EBX_HIDDEN, ecx & !LEAF7_ECX_HIDDEN, edx],
        0xd if subleaf == 0 => [eax & XCR0_MANAGED as u32, ebx, ecx, 0],
        0xd if subleaf == 1 => [eax & !LEAF_D1_EAX_XSAVES, ebx, 0, 0],
        // Components the guest cannot enable have no layout to report.
        0xd if subleaf < 64 && XCR0_MANAGED & (1 << subleaf) == 0 => [0; 4],
        HYPERVISOR_LEAF => [HYPERVISOR_MAX_LEAF, SIGNATURE, SIGNATURE, SIGNATURE],
        0x4000_0001..=0x4000_00ff => [0; 4],
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_switched_xsave_components_are_offered() {
        assert_eq!(
            filter(0xd, 0, [0x2ff, 2696, 2696, 0x1], 0),
            [0xe7, 2696, 2696, 0]
        );
        assert_eq!(filter(0xd, 1, [0xf, 0, 0x1900, 0], 0), [0x7, 0, 0, 0]);
        assert_eq!(filter(0xd, 9, [8, 2688, 0, 0], 0), [0; 4]);
        assert_eq!(filter(0xd, 2, [256, 576, 0, 0], 0), [256, 576, 0, 0]);
        assert_eq!(filter(0xd, 64, [1, 2, 3, 4], 0), [1, 2, 3, 4]);
    }

    #[test]
    fn vmx_is_hidden_and_the_hypervisor_shown() {
        let [_, ebx, ecx, edx] = filter(1, 0, [0x906ea, 0x0110_0800, 0xfffa_3223, 0xbfeb_fbff], 3);
        assert_eq!(ecx & (1 << 5), 0);
        assert_eq!(ecx & (1 << 3), 0);
        assert_eq!(ecx & (1 << 21), 0);
        assert_ne!(ecx & LEAF1_ECX_HYPERVISOR, 0);
        assert_eq!(ecx & 1, 1, "SSE3 stays");
        assert_eq!(ebx >> 24, 3);
        assert_eq!(edx & (1 << 12), 0);
        assert_eq!(edx & 1, 1, "FPU stays");
        let [_, _, _, edx] = filter(1, 0, [0; 4], 1);
        assert_eq!(edx, LEAF1_EDX_APIC);
    }

    #[test]
    fn hypervisor_leaves() {
        let [max, b, c, d] = filter(HYPERVISOR_LEAF, 0, [7; 4], 0);
        assert_eq!(max, HYPERVISOR_MAX_LEAF);
        let mut name = [0u8; 12];
        name[..4].copy_from_slice(&b.to_le_bytes());
        name[4..8].copy_from_slice(&c.to_le_bytes());
        name[8..].copy_from_slice(&d.to_le_bytes());
        assert_eq!(&name, b"AxVMAxVMAxVM");
        assert_eq!(filter(0x4000_0001, 0, [7; 4], 0), [0; 4]);
        assert_eq!(filter(0xa, 0, [7; 4], 0), [0; 4]);
        assert_eq!(filter(7, 0, [1, 3, 0x20, 4], 0), [1, 1, 0, 4]);
        assert_eq!(filter(7, 1, [1, 3, 0x20, 4], 0), [1, 3, 0x20, 4]);
        assert_eq!(filter(0, 0, [0x16, 1, 2, 3], 0), [0x16, 1, 2, 3]);
    }
}
