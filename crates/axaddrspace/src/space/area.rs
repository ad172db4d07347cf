//! The address space's record of what it mapped: non-overlapping areas keyed by
//! start address, each with its flags and where its memory comes from.

use alloc::{collections::BTreeMap, vec::Vec};

use axvm_types::MappingFlags;

/// Where the memory of an area comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// Host memory chosen by the caller: host address = guest address + `offset`
    /// (wrapping, so offsets below zero work); `ram` when the host vouched for it
    /// as guest RAM that the hypervisor may access.
    Linear { offset: usize, ram: bool },
    /// Frames the space allocates and owns: eagerly, or on first fault (`lazy`).
    Alloc { lazy: bool },
}

impl Backend {
    /// Whether the space gives this area's frames back when they are unmapped.
    pub(crate) fn owns_frames(self) -> bool {
        matches!(self, Backend::Alloc { .. })
    }

    /// Whether the hypervisor may access the memory: allocated frames, or host
    /// RAM the host vouched for.
    pub(crate) fn host_accessible(self) -> bool {
        matches!(
            self,
            Backend::Alloc { .. } | Backend::Linear { ram: true, .. }
        )
    }
}

/// One mapped area `[start, end)`; the start is its key in [`Areas`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Area {
    pub(crate) end: usize,
    pub(crate) flags: MappingFlags,
    pub(crate) backend: Backend,
}

/// Non-overlapping areas ordered by start address.
#[derive(Debug, Default)]
pub(crate) struct Areas {
    by_start: BTreeMap<usize, Area>,
}

impl Areas {
    /// Whether any area intersects `[start, end)`.
    pub(crate) fn overlaps(&self, start: usize, end: usize) -> bool {
        self.by_start
            .range(..end)
            .next_back()
            .is_some_and(|(_, area)| area.end > start)
    }

    /// The area containing `gpa`, with its start.
    pub(crate) fn find(&self, gpa: usize) -> Option<(usize, Area)> {
        self.by_start
            .range(..=gpa)
            .next_back()
            .filter(|(_, area)| area.end > gpa)
            .map(|(start, area)| (*start, *area))
    }

    pub(crate) fn insert(&mut self, start: usize, area: Area) {
        self.by_start.insert(start, area);
    }

    /// The parts of areas inside `[start, end)`, clipped to it, as `(start, area)`.
    pub(crate) fn clipped(&self, start: usize, end: usize) -> Vec<(usize, Area)> {
        let first = self.find(start).map_or(start, |(area_start, _)| area_start);
        self.by_start
            .range(first..end)
            .map(|(area_start, area)| {
                (
                    (*area_start).max(start),
                    Area {
                        end: area.end.min(end),
                        ..*area
                    },
                )
            })
            .filter(|(clip_start, area)| *clip_start < area.end)
            .collect()
    }

    /// Cuts the areas at `start` and `end` so that no area straddles either.
    fn cut(&mut self, start: usize, end: usize) {
        for at in [start, end] {
            if let Some((area_start, area)) =
                self.find(at).filter(|(area_start, _)| *area_start < at)
            {
                self.by_start.insert(area_start, Area { end: at, ..area });
                self.by_start.insert(at, area);
            }
        }
    }

    /// Forgets `[start, end)`, shortening or splitting the areas it touches.
    pub(crate) fn remove(&mut self, start: usize, end: usize) {
        self.cut(start, end);
        let inside: Vec<usize> = self
            .by_start
            .range(start..end)
            .map(|(area_start, _)| *area_start)
            .collect();
        for area_start in inside {
            self.by_start.remove(&area_start);
        }
    }

    /// Gives `[start, end)` the flags `flags`, splitting the areas it touches.
    pub(crate) fn set_flags(&mut self, start: usize, end: usize, flags: MappingFlags) {
        self.cut(start, end);
        for (_, area) in self.by_start.range_mut(start..end) {
            area.flags = flags;
        }
    }

    /// Every area, in address order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, Area)> + '_ {
        self.by_start.iter().map(|(start, area)| (*start, *area))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RW: MappingFlags = MappingFlags::READ.union(MappingFlags::WRITE);

    fn area(end: usize) -> Area {
        Area {
            end,
            flags: RW,
            backend: Backend::Alloc { lazy: false },
        }
    }

    #[test]
    fn overlap_and_lookup_are_half_open() {
        let mut areas = Areas::default();
        areas.insert(0x1000, area(0x3000));
        assert!(areas.overlaps(0x2000, 0x4000));
        assert!(areas.overlaps(0, 0x1001));
        assert!(!areas.overlaps(0x3000, 0x4000));
        assert!(!areas.overlaps(0, 0x1000));
        assert_eq!(areas.find(0x2fff).map(|(start, _)| start), Some(0x1000));
        assert_eq!(areas.find(0x3000), None);
        assert_eq!(areas.find(0xfff), None);
    }

    #[test]
    fn removing_the_middle_splits_an_area() {
        let mut areas = Areas::default();
        areas.insert(
            0x1000,
            Area {
                backend: Backend::Linear {
                    offset: 0x10,
                    ram: true,
                },
                ..area(0x5000)
            },
        );
        areas.insert(0x6000, area(0x7000));
        let clipped = areas.clipped(0x2000, 0x6800);
        assert_eq!(clipped.len(), 2);
        assert_eq!(
            clipped.first().map(|(start, area)| (*start, area.end)),
            Some((0x2000, 0x5000))
        );
        assert_eq!(
            clipped.get(1).map(|(start, area)| (*start, area.end)),
            Some((0x6000, 0x6800))
        );
        areas.remove(0x2000, 0x3000);
        let left: Vec<(usize, usize)> = areas
            .iter()
            .map(|(start, area)| (start, area.end))
            .collect();
        assert_eq!(left, [(0x1000, 0x2000), (0x3000, 0x5000), (0x6000, 0x7000)]);
        assert_eq!(
            areas.find(0x3000).map(|(_, area)| area.backend),
            Some(Backend::Linear {
                offset: 0x10,
                ram: true
            })
        );
        areas.set_flags(0x4000, 0x6800, MappingFlags::READ);
        let flags: Vec<(usize, MappingFlags)> = areas
            .iter()
            .map(|(start, area)| (start, area.flags))
            .collect();
        assert_eq!(
            flags,
            [
                (0x1000, RW),
                (0x3000, RW),
                (0x4000, MappingFlags::READ),
                (0x6000, MappingFlags::READ),
                (0x6800, RW)
            ]
        );
    }
}
