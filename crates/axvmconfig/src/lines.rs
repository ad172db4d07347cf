//! Byte offsets to line:column, with the line starts of a file computed once: every
//! diagnostic of a file is then located in O(log lines), however many there are.

use alloc::vec::Vec;

use crate::diag::Location;

/// Where each line of a source starts, and whether it is plain ASCII (then a
/// column is a byte difference, not a character count).
#[derive(Debug, Clone)]
pub(crate) struct LineIndex<'s> {
    source: &'s str,
    /// `(byte offset of the line's start, the line is ASCII)`, in order; never empty.
    lines: Vec<(usize, bool)>,
}

impl<'s> LineIndex<'s> {
    /// Indexes `source` in one pass.
    pub(crate) fn new(source: &'s str) -> Self {
        let mut lines = Vec::new();
        let mut start = 0usize;
        for line in source.split_inclusive('\n') {
            lines.push((start, line.is_ascii()));
            start = start.saturating_add(line.len());
        }
        // The (empty) line after a final newline, or the only line of an empty file.
        if lines.is_empty() || source.ends_with('\n') {
            lines.push((start, true));
        }
        Self { source, lines }
    }

    /// The location of byte `offset` (clamped to the source, and moved back to the
    /// start of the character it falls in).
    pub(crate) fn locate(&self, offset: usize) -> Location {
        let mut end = offset.min(self.source.len());
        while !self.source.is_char_boundary(end) {
            end = end.saturating_sub(1);
        }
        // The number of lines starting at or before `end`; at least 1 (line 0 starts at 0).
        let line = self
            .lines
            .partition_point(|&(start, _)| start <= end)
            .max(1);
        let (start, ascii) = self
            .lines
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or((0, false));
        let column = if ascii {
            end.saturating_sub(start)
        } else {
            self.source
                .get(start..end)
                .unwrap_or_default()
                .chars()
                .count()
        };
        Location {
            line,
            column: column.saturating_add(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_offset_agrees_with_a_plain_count() {
        let sources = ["", "\n", "a", "a\n", "a = 1\nbé = 2\n\nlast", "é\né\n"];
        for source in sources {
            let index = LineIndex::new(source);
            for offset in 0..=source.len().saturating_add(2) {
                let mut end = offset.min(source.len());
                while !source.is_char_boundary(end) {
                    end -= 1;
                }
                let before = &source[..end];
                let line_start = before.rfind('\n').map_or(0, |nl| nl + 1);
                let expected = Location {
                    line: before.matches('\n').count() + 1,
                    column: before[line_start..].chars().count() + 1,
                };
                assert_eq!(index.locate(offset), expected, "{source:?} @ {offset}");
            }
        }
    }
}
