//! G-stage invalidation on the other harts with SBI RFENCE
//! `remote_hfence_gvma_vmid`: OpenSBI interrupts the target harts in M-mode (an
//! M-mode software interrupt is taken whatever the hart does in HS- or VS-mode,
//! interrupts masked or not), fences there and returns once every target did. So
//! nothing on minivisor's side needs an interrupt, which matters because the
//! caller holds the VM's address-space lock and another hart may be spinning on
//! it with interrupts masked.

use axvcpu::arch::riscv64::sbi;
use axvm_types::{GuestPhysAddrRange, NestedPagingConfig};

use super::{ecall, this_cpu};
use crate::cpus;

/// RFENCE function `remote_hfence_gvma_vmid`.
const REMOTE_HFENCE_GVMA_VMID: u64 = 3;
/// `size` = -1: every address (the SBI specification's "flush all").
const ALL_ADDRESSES: u64 = u64::MAX;
/// Harts one hart mask covers, from its base.
const MASK_BITS: u64 = 64;

/// Fences every G-stage translation of `config`'s VMID on every other hart that
/// is up and returns once they did; how many harts were fenced.
///
/// The whole VMID, not `range`: as the local `hfence.gvma`, because a fence by
/// address need not drop cached non-leaf entries and unmapping may free tables.
pub fn invalidate_remote(config: &NestedPagingConfig, _range: GuestPhysAddrRange) -> usize {
    let own = this_cpu();
    let vmid = u64::from(config.vmid);
    let mut fenced = 0;
    // Hart ids in groups of 64 under one base: one SBI call per group met in turn.
    let mut group: Option<(u64, u64)> = None;
    for hart in (0..cpus::count())
        .filter(|&index| index != own)
        .filter_map(|index| cpus::get(index).map(|cpu| cpu.hw_id()))
    {
        let base = hart - hart % MASK_BITS;
        let bit = 1u64 << (hart % MASK_BITS);
        group = match group {
            Some((current, mask)) if current == base => Some((base, mask | bit)),
            Some((current, mask)) => {
                fenced += fence(current, mask, vmid);
                Some((base, bit))
            }
            None => Some((base, bit)),
        };
    }
    if let Some((base, mask)) = group {
        fenced += fence(base, mask, vmid);
    }
    fenced
}

/// Fences VMID `vmid` on the harts `mask` names from `base`; how many. A refused
/// fence ends the run: the harts may still hold translations of freed memory.
fn fence(base: u64, mask: u64, vmid: u64) -> usize {
    let args = [mask, base, 0, ALL_ADDRESSES, vmid];
    match ecall::call5(sbi::RFENCE, REMOTE_HFENCE_GVMA_VMID, args) {
        (0, _) => mask.count_ones() as usize,
        (error, _) => {
            crate::println!(
                "minivisor: SBI remote_hfence_gvma_vmid (harts {mask:#x} from {base}) failed: {error}"
            );
            super::fail_exit()
        }
    }
}
