//! Random map / unmap / protect / fault / write sequences, per format, checked
//! against a model: a list of mapped segments, each translated page by page.

use alloc::{collections::BTreeMap, vec::Vec};

use axvm_types::{AxVmError, GuestPhysAddr, HostPhysAddr, MappingFlags};
use proptest::prelude::*;

use super::AddrSpace;
use crate::{
    format::{Ept, NestedFormat, Stage2, Sv4x, Sv4xMode},
    testing::{ArenaConfig, ArenaHal, RecordingTlb},
};

const PAGE: u64 = 0x1000;
const MIB2: u64 = 0x20_0000;
const GIB: u64 = 0x4000_0000;
const SPACE: u64 = 4 * GIB;
/// Host base of linear mappings (never accessed).
const HOST: u64 = 0x40_0000_0000;

const FLAG_CHOICES: [MappingFlags; 6] = [
    MappingFlags::READ,
    MappingFlags::READ.union(MappingFlags::WRITE),
    MappingFlags::READ
        .union(MappingFlags::WRITE)
        .union(MappingFlags::EXECUTE),
    MappingFlags::READ.union(MappingFlags::EXECUTE),
    MappingFlags::READ
        .union(MappingFlags::WRITE)
        .union(MappingFlags::DEVICE),
    MappingFlags::READ
        .union(MappingFlags::WRITE)
        .union(MappingFlags::UNCACHED),
];

#[derive(Debug, Clone)]
enum Op {
    Linear {
        start: u64,
        len: u64,
        host_offset: u64,
        flags: usize,
    },
    Alloc {
        start: u64,
        len: u64,
        populate: bool,
        flags: usize,
    },
    Unmap {
        start: u64,
        len: u64,
    },
    Protect {
        start: u64,
        len: u64,
        flags: usize,
    },
    Fault {
        gpa: u64,
        write: bool,
    },
    Write {
        gpa: u64,
        tag: u64,
    },
}

/// A range in units of 4 KiB, 2 MiB or 1 GiB, inside the space.
fn range(max_units_1g: u64) -> impl Strategy<Value = (u64, u64)> {
    prop_oneof![
        (0..SPACE / PAGE, 1..600u64).prop_map(|(a, b)| (a * PAGE, b * PAGE)),
        (0..SPACE / MIB2, 1..6u64).prop_map(|(a, b)| (a * MIB2, b * MIB2)),
        (0..SPACE / GIB, 1..=max_units_1g.max(1)).prop_map(|(a, b)| (a * GIB, b * GIB)),
        // Near the blocks of others, to split them.
        (0..SPACE / GIB, 0..600u64, 1..4u64).prop_map(|(g, a, b)| (g * GIB + a * PAGE, b * PAGE)),
    ]
    .prop_filter("inside the space", |(start, len)| start + len <= SPACE)
}

fn op() -> impl Strategy<Value = Op> {
    let alloc_range = prop_oneof![
        (0..SPACE / PAGE, 1..300u64).prop_map(|(a, b)| (a * PAGE, b * PAGE)),
        (0..SPACE / MIB2, 1..3u64).prop_map(|(a, b)| (a * MIB2, b * MIB2)),
    ]
    .prop_filter("inside the space", |(start, len)| start + len <= SPACE);
    prop_oneof![
        (
            range(2),
            prop_oneof![Just(0), Just(PAGE)],
            0..FLAG_CHOICES.len()
        )
            .prop_map(|((start, len), host_offset, flags)| Op::Linear {
                start,
                len,
                host_offset,
                flags
            }),
        (alloc_range, any::<bool>(), 0..FLAG_CHOICES.len()).prop_map(
            |((start, len), populate, flags)| Op::Alloc {
                start,
                len,
                populate,
                flags
            }
        ),
        range(1).prop_map(|(start, len)| Op::Unmap { start, len }),
        (range(1), 0..FLAG_CHOICES.len()).prop_map(|((start, len), flags)| Op::Protect {
            start,
            len,
            flags
        }),
        (0..SPACE / 8, any::<bool>()).prop_map(|(gpa, write)| Op::Fault {
            gpa: gpa * 8,
            write
        }),
        (0..SPACE / 8, any::<u64>()).prop_map(|(gpa, tag)| Op::Write { gpa: gpa * 8, tag }),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Host address of the segment's first byte.
    Linear(u64),
    Alloc,
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    start: u64,
    end: u64,
    kind: Kind,
    flags: MappingFlags,
}

/// What should be mapped: segments, and the 8-byte tags written into allocated pages.
#[derive(Default)]
struct Model {
    segments: Vec<Segment>,
    tags: BTreeMap<u64, u64>,
}

impl Model {
    fn find(&self, gpa: u64) -> Option<Segment> {
        self.segments
            .iter()
            .copied()
            .find(|seg| seg.start <= gpa && gpa < seg.end)
    }

    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.segments
            .iter()
            .any(|seg| seg.start < end && start < seg.end)
    }

    /// Splits segments at `start` and `end`, then applies `f` to the pieces inside.
    fn edit(&mut self, start: u64, end: u64, f: impl Fn(Segment) -> Option<Segment>) {
        let mut out = Vec::new();
        for seg in self.segments.drain(..) {
            let cuts = [
                seg.start,
                start.clamp(seg.start, seg.end),
                end.clamp(seg.start, seg.end),
                seg.end,
            ];
            for pair in cuts.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                if a >= b {
                    continue;
                }
                let kind = match seg.kind {
                    Kind::Linear(host) => Kind::Linear(host + (a - seg.start)),
                    Kind::Alloc => Kind::Alloc,
                };
                let piece = Segment {
                    start: a,
                    end: b,
                    kind,
                    flags: seg.flags,
                };
                if a >= start && b <= end {
                    out.extend(f(piece));
                } else {
                    out.push(piece);
                }
            }
        }
        self.segments = out;
        if start < end {
            let gone: Vec<u64> = self
                .tags
                .range(start..end)
                .map(|(gpa, _)| *gpa)
                .filter(|gpa| self.find(*gpa).is_none())
                .collect();
            for gpa in gone {
                self.tags.remove(&gpa);
            }
        }
    }
}

/// Runs `ops` on a space of `format` and checks it against the model after each.
fn check<F: NestedFormat>(format: F, ops: &[Op]) -> Result<(), TestCaseError> {
    ArenaHal::install(ArenaConfig {
        bytes: 256 << 20,
        contiguous: true,
        poison: true,
    });
    let root_frames = format.geometry().root_frames();
    let mut space = AddrSpace::<ArenaHal, F, RecordingTlb>::with_format(
        format,
        RecordingTlb::default(),
        0.into(),
        SPACE as usize,
    )
    .map_err(|e| TestCaseError::fail(alloc::format!("{e:?}")))?;
    let mut model = Model::default();
    // Lazily populated pages may or may not be mapped; these are known to be.
    for (step, op) in ops.iter().enumerate() {
        let invalidations = space.tlb().invalidations();
        let mut touched = None;
        match *op {
            Op::Linear {
                start,
                len,
                host_offset,
                flags,
            } => {
                let flags = FLAG_CHOICES[flags];
                let result = space.map_linear(
                    gpa(start),
                    HostPhysAddr::from((HOST + start + host_offset) as usize),
                    len as usize,
                    flags,
                );
                if model.overlaps(start, start + len) {
                    prop_assert_eq!(result, Err(AxVmError::AlreadyExists));
                } else {
                    prop_assert_eq!(result, Ok(()));
                    model.segments.push(Segment {
                        start,
                        end: start + len,
                        kind: Kind::Linear(HOST + start + host_offset),
                        flags,
                    });
                }
            }
            Op::Alloc {
                start,
                len,
                populate,
                flags,
            } => {
                let flags = FLAG_CHOICES[flags];
                let result = space.map_alloc(gpa(start), len as usize, flags, populate);
                if model.overlaps(start, start + len) {
                    prop_assert_eq!(result, Err(AxVmError::AlreadyExists));
                } else {
                    prop_assert_eq!(result, Ok(()));
                    model.segments.push(Segment {
                        start,
                        end: start + len,
                        kind: Kind::Alloc,
                        flags,
                    });
                    if populate {
                        for page in (start..start + len).step_by(PAGE as usize) {
                            prop_assert!(
                                space.translate(gpa(page)).is_some(),
                                "eager page {:#x} unmapped",
                                page
                            );
                        }
                    }
                }
            }
            Op::Unmap { start, len } => {
                touched = Some((start, start + len));
                prop_assert_eq!(space.unmap(gpa(start), len as usize), Ok(()));
                model.edit(start, start + len, |_| None);
            }
            Op::Protect { start, len, flags } => {
                touched = Some((start, start + len));
                let flags = FLAG_CHOICES[flags];
                prop_assert_eq!(space.protect(gpa(start), len as usize, flags), Ok(()));
                model.edit(start, start + len, |seg| Some(Segment { flags, ..seg }));
            }
            Op::Fault { gpa: at, write } => {
                let access = if write {
                    MappingFlags::WRITE
                } else {
                    MappingFlags::READ
                };
                let expected = model.find(at).is_some_and(|seg| seg.flags.contains(access));
                prop_assert_eq!(
                    space.handle_page_fault(gpa(at), access),
                    expected,
                    "fault at {:#x}",
                    at
                );
            }
            Op::Write { gpa: at, tag } => {
                let page = at & !(PAGE - 1);
                let seg = model.find(page);
                let mapped = space.translate(gpa(page)).is_some();
                // Linear RAM points at host memory that does not exist here.
                if seg.is_some_and(|seg| {
                    matches!(seg.kind, Kind::Linear(_)) && !seg.flags.contains(MappingFlags::DEVICE)
                }) {
                    continue;
                }
                let result = space.write(gpa(page), &tag.to_le_bytes());
                match seg {
                    Some(seg)
                        if seg.kind == Kind::Alloc
                            && mapped
                            && !seg.flags.contains(MappingFlags::DEVICE) =>
                    {
                        prop_assert_eq!(result, Ok(()));
                        model.tags.insert(page, tag);
                    }
                    _ => prop_assert_eq!(result, Err(AxVmError::BadAddress)),
                }
            }
        }
        if let Some((start, end)) = touched {
            if model_had_pages(&model, start, end) || space.tlb().invalidations() > invalidations {
                prop_assert!(
                    space.tlb().invalidations() > invalidations,
                    "step {}: no invalidation",
                    step
                );
            }
        }
        compare(&space, &model, step)?;
        prop_assert_eq!(ArenaHal::misuses(), 0);
    }
    let segments: Vec<Segment> = model.segments.clone();
    for seg in segments {
        prop_assert_eq!(
            space.unmap(gpa(seg.start), (seg.end - seg.start) as usize),
            Ok(())
        );
    }
    prop_assert_eq!(
        ArenaHal::frames_in_use(),
        root_frames,
        "tables or frames left after unmapping everything"
    );
    drop(space);
    prop_assert_eq!((ArenaHal::frames_in_use(), ArenaHal::misuses()), (0, 0));
    Ok(())
}

/// Protect and unmap invalidate whenever the range had mappings; the model does
/// not track which lazy pages were populated, so this is only a lower bound.
fn model_had_pages(model: &Model, start: u64, end: u64) -> bool {
    model
        .segments
        .iter()
        .any(|seg| matches!(seg.kind, Kind::Linear(_)) && seg.start < end && start < seg.end)
}

/// Compares translations at every segment edge (and its neighbours) and at
/// pseudo-random addresses.
fn compare<F: NestedFormat>(
    space: &AddrSpace<ArenaHal, F, RecordingTlb>,
    model: &Model,
    step: usize,
) -> Result<(), TestCaseError> {
    let mut probes: Vec<u64> = Vec::new();
    for seg in &model.segments {
        for edge in [seg.start, seg.end] {
            probes.extend([
                edge.wrapping_sub(PAGE),
                edge,
                edge + PAGE,
                edge + MIB2 - PAGE,
                edge.wrapping_sub(1),
            ]);
        }
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ step as u64;
    for _ in 0..32 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        probes.push((seed >> 16) % SPACE);
    }
    probes.extend(model.tags.keys().copied());
    for at in probes.into_iter().filter(|at| *at < SPACE) {
        let got = space.query(gpa(at));
        match model.find(at) {
            None => prop_assert!(
                got.is_none(),
                "step {}: {:#x} mapped but should not be: {:?}",
                step,
                at,
                got
            ),
            Some(seg) => match (seg.kind, got) {
                (Kind::Linear(host), got) => {
                    let (hpa, flags, _) = got.ok_or_else(|| {
                        TestCaseError::fail(alloc::format!("step {step}: {at:#x} unmapped"))
                    })?;
                    prop_assert_eq!(
                        hpa.as_usize() as u64,
                        host + (at - seg.start),
                        "step {}: {:#x}",
                        step,
                        at
                    );
                    prop_assert_eq!(flags, seg.flags, "step {}: {:#x}", step, at);
                }
                (Kind::Alloc, Some((_, flags, _))) => {
                    prop_assert_eq!(flags, seg.flags, "step {}: {:#x}", step, at);
                    if !seg.flags.contains(MappingFlags::DEVICE) {
                        let page = at & !(PAGE - 1);
                        let mut word = [0u8; 8];
                        prop_assert_eq!(space.read(gpa(page), &mut word), Ok(()));
                        let expected = model.tags.get(&page).copied().unwrap_or(0);
                        prop_assert_eq!(
                            u64::from_le_bytes(word),
                            expected,
                            "step {}: content of {:#x}",
                            step,
                            page
                        );
                    }
                }
                (Kind::Alloc, None) => prop_assert!(!model.tags.contains_key(&(at & !(PAGE - 1)))),
            },
        }
    }
    Ok(())
}

fn gpa(at: u64) -> GuestPhysAddr {
    GuestPhysAddr::from(at as usize)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    #[cfg_attr(miri, ignore)]
    fn ept_matches_the_model(ops in proptest::collection::vec(op(), 1..32)) {
        check(Ept::new(), &ops)?;
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn stage2_matches_the_model(ops in proptest::collection::vec(op(), 1..32), four_levels in any::<bool>()) {
        let format = if four_levels { Stage2::new(44, 4, 7) } else { Stage2::new(40, 3, 7) };
        check(format.map_err(|e| TestCaseError::fail(alloc::format!("{e:?}")))?, &ops)?;
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn sv4x_matches_the_model(ops in proptest::collection::vec(op(), 1..32), sv48 in any::<bool>()) {
        let mode = if sv48 { Sv4xMode::Sv48x4 } else { Sv4xMode::Sv39x4 };
        let format = Sv4x::new(mode, 5).map_err(|e| TestCaseError::fail(alloc::format!("{e:?}")))?;
        check(format.with_svpbmt(), &ops)?;
    }
}
