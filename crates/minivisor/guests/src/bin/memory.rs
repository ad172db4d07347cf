//! Touches a lazily mapped region across 2 MiB and 1 GiB boundaries (each first touch
//! is a nested page fault the hypervisor populates) and verifies a checksum.

#![no_std]
#![no_main]

use minivisor_guests::{println, psci};

/// The region the config maps with `map_type = alloc`: 8 MiB around the 1 GiB
/// boundary at 0x8000_0000, with 2 MiB boundaries inside.
const REGION: u64 = 0x7fc0_0000;
const REGION_SIZE: u64 = 0x80_0000;

/// Offsets to touch: both sides of every 2 MiB boundary and of the 1 GiB one, plus a
/// stride through the region.
fn offsets() -> impl Iterator<Item = u64> {
    let edges = (1..4u64).flat_map(|mib2| [mib2 * 0x20_0000 - 8, mib2 * 0x20_0000]);
    let stride = (0..REGION_SIZE).step_by(0x1_1000);
    edges.chain(stride).chain([0, REGION_SIZE - 8])
}

fn value(offset: u64) -> u64 {
    (REGION + offset).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5a5a
}

#[unsafe(no_mangle)]
extern "C" fn guest_main(_dtb: u64) -> ! {
    let mut written = 0u64;
    let mut expected = 0u64;
    for offset in offsets() {
        // SAFETY: the VM maps [REGION, REGION + REGION_SIZE) as RAM; offsets are in range and 8-aligned.
        unsafe { core::ptr::write_volatile((REGION + offset) as *mut u64, value(offset)) };
        expected = expected.wrapping_add(value(offset));
        written += 1;
    }
    let mut sum = 0u64;
    for offset in offsets() {
        // SAFETY: as above.
        sum =
            sum.wrapping_add(unsafe { core::ptr::read_volatile((REGION + offset) as *const u64) });
    }
    if sum == expected {
        println!(
            "memory: checksum {sum:#x} over {written} words across 2 MiB and 1 GiB boundaries OK"
        );
    } else {
        println!("memory: checksum {sum:#x} != {expected:#x} FAILED");
    }
    psci::system_off()
}
