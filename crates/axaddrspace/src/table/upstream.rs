//! Cross-check against `ax-page-table-multiarch`'s engine, for the formats it can
//! express (512-entry roots: EPT, stage-2 with 4 levels and 48 bits). Its walker
//! is driven with this crate's entry encodings; both engines apply the same
//! random linear maps and whole-mapping unmaps, and must agree with each other
//! and with a model on every probed translation, flags and leaf size included.
//!
//! Maps never reuse a range mapped before: the upstream engine keeps the tables
//! an unmap empties, and then refuses a block where one of them sits.

use alloc::vec::Vec;
use core::marker::PhantomData;

use ax_memory_addr_06::{PhysAddr as PhysAddr06, VirtAddr as VirtAddr06};
use ax_page_table_multiarch::{
    GenericPTE, MappingFlags as UpstreamFlags, PageSize as UpstreamSize, PageTable64,
    PagingHandler, PagingMetaData,
};
use axvm_types::{GuestPhysAddr, HostPhysAddr, MappingFlags};
use proptest::prelude::*;

use crate::{
    AddrSpace, AxMmHal,
    format::{Ept, NestedFormat, PageSize, Stage2},
    testing::{ArenaConfig, ArenaHal, RecordingTlb},
};

const GIB: usize = 0x4000_0000;
const MIB2: usize = 0x20_0000;
const PAGE: usize = 0x1000;
const SPACE: usize = 4 * GIB;
const HOST: usize = 0x40_0000_0000;

/// An entry of format `F`, seen through `GenericPTE`.
#[derive(Debug, Clone, Copy)]
struct Entry<F>(u64, PhantomData<F>);

fn ours(flags: UpstreamFlags) -> MappingFlags {
    MappingFlags::from_bits_truncate(flags.bits())
}

fn theirs(flags: MappingFlags) -> UpstreamFlags {
    UpstreamFlags::from_bits_truncate(flags.bits())
}

impl<F: NestedFormat + Default + Copy + core::fmt::Debug> GenericPTE for Entry<F> {
    fn new_page(paddr: PhysAddr06, flags: UpstreamFlags, is_huge: bool) -> Self {
        let format = F::default();
        let size = if is_huge {
            PageSize::Size2M
        } else {
            PageSize::Size4K
        };
        Self(
            format.leaf_attrs(ours(flags), size) | format.encode_pa(paddr.as_usize() as u64),
            PhantomData,
        )
    }

    fn new_table(paddr: PhysAddr06) -> Self {
        Self(
            F::default().table_entry(paddr.as_usize() as u64),
            PhantomData,
        )
    }

    fn paddr(&self) -> PhysAddr06 {
        PhysAddr06::from(F::default().decode_pa(self.0) as usize)
    }

    fn flags(&self) -> UpstreamFlags {
        theirs(F::default().leaf_flags(self.0))
    }

    fn set_paddr(&mut self, paddr: PhysAddr06) {
        let format = F::default();
        let attrs = self.0 ^ format.encode_pa(format.decode_pa(self.0));
        self.0 = attrs | format.encode_pa(paddr.as_usize() as u64);
    }

    fn set_flags(&mut self, flags: UpstreamFlags, is_huge: bool) {
        *self = Self::new_page(self.paddr(), flags, is_huge);
    }

    fn bits(self) -> usize {
        self.0 as usize
    }

    fn is_unused(&self) -> bool {
        self.0 == 0
    }

    fn is_present(&self) -> bool {
        F::default().is_present(self.0)
    }

    fn is_huge(&self) -> bool {
        // Asked of entries above the leaf tables only.
        self.is_present() && !F::default().is_table(self.0, 1)
    }

    fn clear(&mut self) {
        self.0 = 0;
    }
}

/// 4 levels, 48-bit input, `PA_BITS`-bit output, no TLB to flush.
struct Meta<const PA_BITS: usize>;

impl<const PA_BITS: usize> PagingMetaData for Meta<PA_BITS> {
    const LEVELS: usize = 4;
    const PA_MAX_BITS: usize = PA_BITS;
    const VA_MAX_BITS: usize = 48;
    type VirtAddr = usize;

    fn vaddr_is_valid(vaddr: usize) -> bool {
        vaddr >> 48 == 0
    }

    fn flush_tlb(_vaddr: Option<usize>) {}
}

/// The upstream engine's frames come from the same arena.
struct Frames;

impl PagingHandler for Frames {
    fn alloc_frames(num: usize, align: usize) -> Option<PhysAddr06> {
        let frame = if num == 1 {
            ArenaHal::alloc_frame()
        } else {
            ArenaHal::alloc_contiguous_frames(num, align.trailing_zeros())
        };
        frame.map(|pa| PhysAddr06::from(pa.as_usize()))
    }

    fn dealloc_frames(paddr: PhysAddr06, num: usize) {
        ArenaHal::dealloc_contiguous_frames(HostPhysAddr::from(paddr.as_usize()), num);
    }

    fn phys_to_virt(paddr: PhysAddr06) -> VirtAddr06 {
        VirtAddr06::from(ArenaHal::phys_to_virt(HostPhysAddr::from(paddr.as_usize())).as_usize())
    }
}

#[derive(Debug, Clone)]
enum Op {
    Map {
        start: usize,
        len: usize,
        host_offset: usize,
        flags: usize,
    },
    Unmap {
        which: usize,
    },
}

const FLAGS: [MappingFlags; 4] = [
    MappingFlags::READ,
    MappingFlags::READ.union(MappingFlags::WRITE),
    MappingFlags::READ
        .union(MappingFlags::WRITE)
        .union(MappingFlags::EXECUTE),
    MappingFlags::READ
        .union(MappingFlags::WRITE)
        .union(MappingFlags::DEVICE),
];

fn op() -> impl Strategy<Value = Op> {
    let range = prop_oneof![
        (0..SPACE / PAGE, 1..600usize).prop_map(|(a, b)| (a * PAGE, b * PAGE)),
        (0..SPACE / MIB2, 1..6usize).prop_map(|(a, b)| (a * MIB2, b * MIB2)),
        (0..SPACE / GIB, 1..3usize).prop_map(|(a, b)| (a * GIB, b * GIB)),
    ]
    .prop_filter("inside the space", |(start, len)| start + len <= SPACE);
    prop_oneof![
        3 => (range, prop_oneof![Just(0), Just(PAGE), Just(MIB2)], 0..FLAGS.len())
            .prop_map(|((start, len), host_offset, flags)| Op::Map { start, len, host_offset, flags }),
        1 => any::<usize>().prop_map(|which| Op::Unmap { which }),
    ]
}

fn upstream_size(size: UpstreamSize) -> Option<PageSize> {
    match size {
        UpstreamSize::Size4K => Some(PageSize::Size4K),
        UpstreamSize::Size2M => Some(PageSize::Size2M),
        UpstreamSize::Size1G => Some(PageSize::Size1G),
        UpstreamSize::Size1M => None,
    }
}

fn check<F: NestedFormat + Default + Copy + core::fmt::Debug, const PA_BITS: usize>(
    format: F,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    ArenaHal::install(ArenaConfig {
        bytes: 64 << 20,
        contiguous: true,
        poison: true,
    });
    let mut space = AddrSpace::<ArenaHal, F, RecordingTlb>::with_format(
        format,
        RecordingTlb::default(),
        0.into(),
        SPACE,
    )
    .map_err(|e| TestCaseError::fail(alloc::format!("{e:?}")))?;
    let mut upstream = PageTable64::<Meta<PA_BITS>, Entry<F>, Frames>::try_new()
        .map_err(|e| TestCaseError::fail(alloc::format!("{e:?}")))?;
    // (start, len, host, flags) of each live mapping.
    let mut model: Vec<(usize, usize, usize, MappingFlags)> = Vec::new();
    let mut ever: Vec<(usize, usize)> = Vec::new();
    for op in ops {
        match *op {
            Op::Map {
                start,
                len,
                host_offset,
                flags,
            } => {
                if ever.iter().any(|(s, l)| *s < start + len && start < s + l) {
                    continue;
                }
                ever.push((start, len));
                let (host, flags) = (HOST + start + host_offset, FLAGS[flags]);
                prop_assert_eq!(
                    space.map_linear(
                        GuestPhysAddr::from(start),
                        HostPhysAddr::from(host),
                        len,
                        flags
                    ),
                    Ok(())
                );
                let mut cursor = upstream.cursor();
                let mapped = cursor.map_region(
                    start,
                    |va| PhysAddr06::from(va - start + host),
                    len,
                    theirs(flags),
                    true,
                );
                prop_assert!(mapped.is_ok(), "upstream map: {:?}", mapped);
                drop(cursor);
                model.push((start, len, host, flags));
            }
            Op::Unmap { which } => {
                if model.is_empty() {
                    continue;
                }
                let (start, len, _, _) = model.remove(which % model.len());
                prop_assert_eq!(space.unmap(GuestPhysAddr::from(start), len), Ok(()));
                let mut cursor = upstream.cursor();
                prop_assert!(cursor.unmap_region(start, len).is_ok());
            }
        }
        let mut probes: Vec<usize> = Vec::new();
        for (start, len, _, _) in &model {
            probes.extend([
                *start,
                start + len - 1,
                start + len / 2,
                start + len,
                start.wrapping_sub(1),
            ]);
        }
        for at in probes.into_iter().filter(|at| *at < SPACE) {
            let mine = space
                .query(GuestPhysAddr::from(at))
                .map(|(hpa, flags, size)| (hpa.as_usize(), flags, size));
            let theirs = upstream.query(at).ok().and_then(|(pa, flags, size)| {
                Some((pa.as_usize(), ours(flags), upstream_size(size)?))
            });
            prop_assert_eq!(mine, theirs, "engines disagree at {:#x}", at);
            let expected = model
                .iter()
                .find(|(s, l, _, _)| *s <= at && at < s + l)
                .map(|(s, _, host, flags)| (host + (at - s), *flags));
            prop_assert_eq!(
                mine.map(|(hpa, flags, _)| (hpa, flags)),
                expected,
                "model disagrees at {:#x}",
                at
            );
        }
    }
    drop((space, upstream));
    prop_assert_eq!((ArenaHal::frames_in_use(), ArenaHal::misuses()), (0, 0));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    #[cfg_attr(miri, ignore)]
    fn ept_agrees_with_ax_page_table_multiarch(ops in proptest::collection::vec(op(), 1..24)) {
        check::<Ept, 52>(Ept::new(), &ops)?;
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn stage2_agrees_with_ax_page_table_multiarch(ops in proptest::collection::vec(op(), 1..24)) {
        let format = Stage2::new(48, 4, 0).map_err(|e| TestCaseError::fail(alloc::format!("{e:?}")))?;
        check::<Stage2, 48>(format, &ops)?;
    }
}
