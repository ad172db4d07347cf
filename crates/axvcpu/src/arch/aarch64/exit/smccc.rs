//! The SMC Calling Convention's Arm Architecture Calls (DEN 0028, owner 0): the
//! version and feature queries a guest kernel makes at boot, answered by the backend.
//!
//! Linux 6.1 asks `PSCI_FEATURES(SMCCC_VERSION)`, then `SMCCC_VERSION`, and with 1.1
//! or later `SMCCC_ARCH_FEATURES` for the Spectre workaround calls. The backend
//! implements none of the workarounds (it has no firmware mitigation to offer), so it
//! reports them NOT_SUPPORTED and the guest chooses its own mitigation.

/// SMCCC_VERSION.
pub const VERSION: u32 = 0x8000_0000;
/// SMCCC_ARCH_FEATURES.
pub const ARCH_FEATURES: u32 = 0x8000_0001;
/// The version reported: SMCCC 1.1 (major in bits \[30:16\]), the first with
/// ARCH_FEATURES.
pub const VERSION_1_1: u64 = 0x0001_0001;
/// Return code SUCCESS (also "implemented" for ARCH_FEATURES).
const SUCCESS: u64 = 0;
/// Return code NOT_SUPPORTED (-1).
const NOT_SUPPORTED: u64 = u64::MAX;

/// Whether `fid` is an Arm Architecture Call (fast call, owner 0, SMC32 or SMC64).
#[must_use]
pub const fn is_arch_call(fid: u64) -> bool {
    matches!(fid, 0x8000_0000..=0x8000_ffff | 0xc000_0000..=0xc000_ffff)
}

/// The answer to Arm Architecture Call `fid` with first argument `arg`; every call
/// but the two queries is NOT_SUPPORTED.
#[must_use]
pub fn answer(fid: u64, arg: u64) -> u64 {
    match u32::try_from(fid) {
        Ok(VERSION) => VERSION_1_1,
        Ok(ARCH_FEATURES) => match u32::try_from(arg & u64::from(u32::MAX)) {
            Ok(VERSION | ARCH_FEATURES) => SUCCESS,
            _ => NOT_SUPPORTED,
        },
        _ => NOT_SUPPORTED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_and_feature_queries_are_answered() {
        assert_eq!(answer(0x8000_0000, 0), 0x1_0001);
        assert_eq!(answer(0x8000_0001, 0x8000_0000), 0);
        assert_eq!(answer(0x8000_0001, 0x8000_0001), 0);
        // The Spectre workarounds 1, 2 and 3 are not offered.
        for workaround in [0x8000_8000u64, 0x8000_7fff, 0x8000_3fff] {
            assert_eq!(answer(0x8000_0001, workaround), u64::MAX);
            assert_eq!(answer(workaround, 0), u64::MAX);
        }
        // SMCCC_ARCH_SOC_ID and an SMC64 architecture call.
        assert_eq!(answer(0x8000_0002, 0), u64::MAX);
        assert_eq!(answer(0xc000_0000, 0), u64::MAX);
    }

    #[test]
    fn only_owner_zero_fast_calls_are_architecture_calls() {
        assert!(is_arch_call(0x8000_0000) && is_arch_call(0x8000_ffff));
        assert!(is_arch_call(0xc000_0001));
        assert!(!is_arch_call(0x8400_0000)); // PSCI: the standard service owner
        assert!(!is_arch_call(0x4d56_0001)); // a yielding call (minivisor's)
        assert!(!is_arch_call(0x8001_0000));
    }
}
