//! vCPU count and physical CPU placement.

use axvm_types::MAX_VCPU_NUM;

use crate::{
    ErrorKind, VMBaseConfig,
    diag::{Sink, Span},
    path::Path,
    spans::ConfigSpans,
};

pub(super) fn check_cpus(base: &VMBaseConfig, spans: &ConfigSpans, sink: &mut Sink<'_>) {
    if !(1..=MAX_VCPU_NUM).contains(&base.cpu_num) {
        let kind = ErrorKind::OutOfRange {
            value: i64::try_from(base.cpu_num).unwrap_or(i64::MAX),
            min: 1,
            max: MAX_VCPU_NUM as u64,
        };
        sink.error(Path::key("base", "cpu_num"), spans.cpu_num, kind);
    }
    let lists = [
        (
            "phys_cpu_ids",
            base.phys_cpu_ids.as_deref(),
            spans.phys_cpu_ids,
        ),
        (
            "phys_cpu_sets",
            base.phys_cpu_sets.as_deref(),
            spans.phys_cpu_sets,
        ),
    ];
    for (key, list, span) in lists {
        let Some(list) = list else { continue };
        if list.len() != base.cpu_num {
            let kind = ErrorKind::CpuListLength {
                len: list.len(),
                cpu_num: base.cpu_num,
            };
            sink.error(Path::key("base", key), span, kind);
        }
    }
    let sets = base.phys_cpu_sets.as_deref().unwrap_or_default();
    for (i, _) in sets.iter().enumerate().filter(|(_, set)| **set == 0) {
        let span = spans
            .phys_cpu_set_items
            .get(i)
            .copied()
            .unwrap_or(Span::NONE);
        let path = Path::key("base", "phys_cpu_sets").item(i);
        sink.error(path, span, ErrorKind::EmptyCpuSet);
    }
}
