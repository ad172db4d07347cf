//! A start-up self-test of TLB invalidation on the other CPUs, run once every CPU
//! is up and before any VM exists: the boot CPU asks every other CPU to drop the
//! translations of a fresh address space, the way [`crate::hal`]'s
//! `invalidate_remote` does for a VM's, and says how many did. The other CPUs are
//! then spinning in host code with interrupts masked (waiting for the scheduler's
//! plan), the state a shootdown must get through.

use axaddrspace::{ArchTlb, NestedTlb};
use axvm_types::GuestPhysAddrRange;

use crate::{arch, cpus, println};

/// The VMID of the test's space: 0 is the hypervisor's (VMs get index + 1), and
/// the space is gone before any VM is built.
const TEST_VMID: u16 = 0;

/// Runs the test and prints its result, which the system tests check.
pub fn self_test() {
    let others = cpus::count().saturating_sub(1);
    if <ArchTlb as NestedTlb>::BROADCAST {
        println!(
            "minivisor: remote TLB invalidation: the inner-shareable broadcast covers the {others} other CPUs"
        );
        return;
    }
    let space = match arch::new_address_space(TEST_VMID) {
        Ok(space) => space,
        Err(error) => {
            println!("minivisor: remote TLB invalidation not tested: address space: {error:?}");
            return;
        }
    };
    let range = GuestPhysAddrRange {
        start: space.base(),
        end: space.end(),
    };
    let reached = arch::invalidate_remote(&space.paging_config(), range);
    if reached == others {
        println!("minivisor: remote TLB invalidation reached {reached} other CPUs");
    } else {
        println!("minivisor: remote TLB invalidation reached {reached} of {others} other CPUs");
    }
    // Dropping the space invalidates it once more, through `Hal::invalidate_remote`.
}
