//! Test doubles for running address spaces on a development host (feature
//! `host-testing`): [`ArenaHal`], frames from a heap arena that counts them, and
//! [`RecordingTlb`], which records invalidations instead of executing them.

mod arena;
mod recording_tlb;

pub use arena::{ArenaConfig, ArenaHal};
pub use recording_tlb::RecordingTlb;
