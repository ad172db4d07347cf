//! The Multiboot v1 hand-off of an x86_64 VM whose config says
//! `boot_protocol = "multiboot"`: the information structure its kernel finds through
//! EBX, and where in guest RAM it goes.
//!
//! The structure (Multiboot 0.6.96, 116 bytes) sets `flags` bits 0 and 6:
//! `mem_lower` / `mem_upper` (KiB of RAM without a hole from 0, at most 640, and
//! from 1 MiB) and a memory map with one "available" entry per RAM region, right
//! after the structure in the same page. Every other field is 0.
//!
//! It goes into one 4 KiB page of RAM that no loaded image touches: the page just
//! below the kernel's load address, else the lowest such page in conventional
//! memory (0x1000..0xA_0000; page 0 is never used, so EBX is never 0).

use alloc::vec::Vec;

use axvm_types::VmMemConfig;

/// EAX at a Multiboot kernel's entry.
pub const MULTIBOOT_MAGIC: u32 = 0x2bad_b002;
/// The size of the information structure.
pub const INFO_SIZE: usize = 116;
/// The page the structure and its memory map share.
pub const INFO_PAGE: usize = 0x1000;

/// `flags` bit 0: `mem_lower` and `mem_upper` are valid.
const FLAG_MEM: u32 = 1 << 0;
/// `flags` bit 6: `mmap_length` and `mmap_addr` are valid.
const FLAG_MMAP: u32 = 1 << 6;
/// The offset of `mmap_length` (`mmap_addr` follows it).
const MMAP_LENGTH_OFFSET: usize = 44;
/// The size of one memory-map entry, with its leading `size` field.
const MMAP_ENTRY_SIZE: usize = 24;
/// `size` of a memory-map entry (not counting the field itself).
const MMAP_ENTRY_BODY: u32 = 20;
/// Memory-map entry type of available RAM.
const MMAP_AVAILABLE: u32 = 1;
/// The end of conventional memory (640 KiB).
const LOW_END: usize = 0xa_0000;
/// Where upper memory starts (1 MiB).
const HIGH_START: usize = 0x10_0000;

/// The end of the RAM that runs without a hole from `from` (`from` itself when no
/// region holds it).
fn contiguous_end(regions: &[VmMemConfig], from: usize) -> usize {
    let mut end = from;
    while let Some(next) = regions
        .iter()
        .filter(|region| region.contains(end))
        .filter_map(VmMemConfig::end)
        .max()
        .filter(|&next| next > end)
    {
        end = next;
    }
    end
}

/// KiB between `from` and `to`, saturated to 32 bits.
fn kib(from: usize, to: usize) -> u32 {
    u32::try_from(to.saturating_sub(from) / 1024).unwrap_or(u32::MAX)
}

/// `(mem_lower, mem_upper)` in KiB: RAM without a hole from 0 (at most 640 KiB) and
/// from 1 MiB.
#[must_use]
pub fn memory_sizes(regions: &[VmMemConfig]) -> (u32, u32) {
    let lower = contiguous_end(regions, 0).min(LOW_END);
    let upper = contiguous_end(regions, HIGH_START);
    (kib(0, lower), kib(HIGH_START, upper))
}

/// The information structure, followed by its memory map, for a structure at guest
/// address `info_gpa`; at most [`INFO_PAGE`] bytes (regions beyond what fits in the
/// page are left out of the map).
#[must_use]
pub fn info_bytes(info_gpa: usize, regions: &[VmMemConfig]) -> Vec<u8> {
    let (mem_lower, mem_upper) = memory_sizes(regions);
    let fit = INFO_PAGE.saturating_sub(INFO_SIZE) / MMAP_ENTRY_SIZE;
    let mut map = Vec::new();
    for region in regions.iter().filter(|region| region.size != 0).take(fit) {
        map.extend_from_slice(&MMAP_ENTRY_BODY.to_le_bytes());
        map.extend_from_slice(&(region.gpa as u64).to_le_bytes());
        map.extend_from_slice(&(region.size as u64).to_le_bytes());
        map.extend_from_slice(&MMAP_AVAILABLE.to_le_bytes());
    }
    let map_length = u32::try_from(map.len()).unwrap_or(u32::MAX);
    let map_addr = u32::try_from(info_gpa.saturating_add(INFO_SIZE)).unwrap_or(u32::MAX);
    let mut bytes = Vec::with_capacity(INFO_SIZE.saturating_add(map.len()));
    for field in [FLAG_MEM | FLAG_MMAP, mem_lower, mem_upper] {
        bytes.extend_from_slice(&field.to_le_bytes());
    }
    bytes.resize(MMAP_LENGTH_OFFSET, 0);
    bytes.extend_from_slice(&map_length.to_le_bytes());
    bytes.extend_from_slice(&map_addr.to_le_bytes());
    bytes.resize(INFO_SIZE, 0);
    bytes.extend_from_slice(&map);
    bytes
}

/// Whether `[start, start + len)` and `[page, page + INFO_PAGE)` overlap.
fn overlaps(page: usize, &(start, len): &(usize, usize)) -> bool {
    let page_end = page.saturating_add(INFO_PAGE);
    start < page_end && page < start.saturating_add(len)
}

/// Whether the page at `page` is RAM (below 4 GiB, as EBX holds its address) that
/// none of the `occupied` `(start, length)` ranges touches.
fn usable(regions: &[VmMemConfig], occupied: &[(usize, usize)], page: usize) -> bool {
    page != 0
        && u32::try_from(page.saturating_add(INFO_PAGE)).is_ok()
        && contiguous_end(regions, page) >= page.saturating_add(INFO_PAGE)
        && !occupied.iter().any(|range| overlaps(page, range))
}

/// Where the information goes: the page below the kernel's load address
/// `kernel_load` when it is RAM that no `occupied` range (the loaded images) touches,
/// else the lowest such page in 0x1000..0xA_0000; `None` when there is none.
#[must_use]
pub fn place_info(
    regions: &[VmMemConfig],
    kernel_load: usize,
    occupied: &[(usize, usize)],
) -> Option<usize> {
    let below_kernel = (kernel_load & !(INFO_PAGE - 1)).checked_sub(INFO_PAGE);
    below_kernel
        .filter(|&page| usable(regions, occupied, page))
        .or_else(|| {
            (INFO_PAGE..LOW_END)
                .step_by(INFO_PAGE)
                .find(|&page| usable(regions, occupied, page))
        })
}

#[cfg(test)]
mod tests {
    use axvm_types::VmMemMappingType;

    use super::*;

    fn ram(gpa: usize, size: usize) -> VmMemConfig {
        VmMemConfig {
            gpa,
            size,
            flags: 0x7,
            map_type: VmMemMappingType::MapAlloc,
        }
    }

    fn word(bytes: &[u8], offset: usize) -> u32 {
        u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap())
    }

    #[test]
    fn memory_sizes_follow_contiguous_ram() {
        assert_eq!(memory_sizes(&[ram(0, 0x100_0000)]), (640, 15 * 1024));
        // Two adjacent regions count as one; a hole ends upper memory.
        let split = [
            ram(0, 0x8_0000),
            ram(0x10_0000, 0x10_0000),
            ram(0x20_0000, 0x10_0000),
            ram(0x40_0000, 0x10_0000),
        ];
        assert_eq!(memory_sizes(&split), (512, 2048));
        assert_eq!(memory_sizes(&[ram(0x4000_0000, 0x1000)]), (0, 0));
    }

    #[test]
    fn info_has_flags_sizes_and_a_memory_map() {
        let regions = [ram(0, 0x100_0000), ram(0x4000_0000, 0x20_0000)];
        let bytes = info_bytes(0xf_f000, &regions);
        assert_eq!(bytes.len(), INFO_SIZE + 2 * MMAP_ENTRY_SIZE);
        assert_eq!(word(&bytes, 0), 0x41);
        assert_eq!((word(&bytes, 4), word(&bytes, 8)), (640, 15 * 1024));
        assert_eq!(word(&bytes, 44), 48);
        assert_eq!(word(&bytes, 48), 0xf_f000 + 116);
        let second = INFO_SIZE + MMAP_ENTRY_SIZE;
        assert_eq!(word(&bytes, second), 20);
        assert_eq!(word(&bytes, second + 4), 0x4000_0000);
        assert_eq!(word(&bytes, second + 12), 0x20_0000);
        assert_eq!(word(&bytes, second + 20), 1);
    }

    #[test]
    fn the_memory_map_stays_in_its_page() {
        let many: Vec<_> = (0..500).map(|i| ram(i * 0x2000, 0x1000)).collect();
        assert!(info_bytes(0x1000, &many).len() <= INFO_PAGE);
    }

    #[test]
    fn info_goes_below_the_kernel_else_low() {
        let regions = [ram(0, 0x100_0000)];
        assert_eq!(place_info(&regions, 0x10_0000, &[]), Some(0xf_f000));
        assert_eq!(place_info(&regions, 0x10_0800, &[]), Some(0xf_f000));
        // The page below is taken by an image: the lowest free page below 640 KiB.
        let bios = [(0xf_8000, 0x8000), (0x1000, 0x2000)];
        assert_eq!(place_info(&regions, 0x10_0000, &bios), Some(0x3000));
        // The kernel at the bottom of RAM: nothing below it.
        let high = [ram(0x10_0000, 0x10_0000), ram(0x1000, 0x1000)];
        assert_eq!(place_info(&high, 0x10_0000, &[]), Some(0x1000));
        assert_eq!(
            place_info(&[ram(0x10_0000, 0x10_0000)], 0x10_0000, &[]),
            None
        );
        // Page 0 is never chosen, nor a page above 4 GiB.
        assert_eq!(place_info(&[ram(0, 0x1000)], 0x1000, &[]), None);
        let above = [ram(0x1_0000_0000, 0x10_0000)];
        assert_eq!(place_info(&above, 0x1_0008_0000, &[]), None);
    }
}
