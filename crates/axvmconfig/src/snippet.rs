//! Compiler-style rendering of a diagnostic: location, message, source line, caret.

use alloc::{format, string::String};
use core::fmt::Display;

use crate::{Diagnostic, Severity};

/// Renders a diagnostic as
///
/// ```text
/// FILE:LINE:COL: error: MESSAGE
///    5 | cpu_num = 0
///      |           ^
/// ```
///
/// `source` is the text the diagnostic was found in. Without a location, only the
/// first line (`FILE: error: MESSAGE`) is produced.
#[must_use]
pub fn render_diagnostic<K: Display>(
    file: &str,
    source: &str,
    severity: Severity,
    diagnostic: &Diagnostic<K>,
) -> String {
    let message = diagnostic.message();
    let (Some(location), Some(span)) = (diagnostic.location, &diagnostic.span) else {
        return format!("{file}: {severity}: {message}\n");
    };
    let mut out = format!("{file}:{location}: {severity}: {message}\n");
    // The line holding the span's start, found from the span (not by counting lines
    // from the top, which would make rendering every diagnostic of a file quadratic).
    let Some(line) = line_at(source, span.start) else {
        return out;
    };
    let number = format!("{}", location.line);
    let gutter = " ".repeat(number.len());
    // Keep tabs so the caret lines up however the terminal expands them.
    let indent: String = line
        .chars()
        .take(location.column.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let rest_of_line = line.chars().count().saturating_sub(indent.chars().count());
    let span_chars = source.get(span.clone()).map_or(1, |text| {
        text.lines().next().unwrap_or_default().chars().count()
    });
    let width = span_chars.clamp(1, rest_of_line.max(1));
    out.push_str(&format!(" {number} | {line}\n"));
    out.push_str(&format!(" {gutter} | {indent}{}\n", "^".repeat(width)));
    out
}

/// The line (without its line break) that holds byte `offset` of `source`.
fn line_at(source: &str, offset: usize) -> Option<&str> {
    let mut end = offset.min(source.len());
    while !source.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    let start = source
        .get(..end)?
        .rfind('\n')
        .map_or(0, |nl| nl.saturating_add(1));
    if start >= source.len() {
        return None;
    }
    let line = source.get(start..)?.split('\n').next()?;
    Some(line.strip_suffix('\r').unwrap_or(line))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check;

    #[test]
    fn the_caret_sits_under_the_value() {
        let source = "[base]\nid = 1\nname = \"x\"\ncpu_num = 0\n\n[kernel]\nentry_point = 0x1000\n\
                      kernel_path = \"k\"\nkernel_load_addr = 0x1000\n\
                      memory_regions = [[0, 0x10000, 7, 0]]\n";
        let report = check(source);
        let error = report.errors.first().unwrap();
        let text = render_diagnostic("vm.toml", source, Severity::Error, error);
        assert_eq!(
            text,
            "vm.toml:4:11: error: base.cpu_num: 0 is out of range; expected 1..=64\n \
             4 | cpu_num = 0\n   |           ^\n"
        );
    }

    #[test]
    fn tabs_are_kept_in_the_caret_line() {
        let source = "[base]\n\tid = \"one\"\n";
        let report = check(source);
        let error = report.errors.iter().find(|e| e.path == "base.id").unwrap();
        let text = render_diagnostic("f", source, Severity::Error, error);
        assert!(
            text.ends_with(" 2 | \tid = \"one\"\n   | \t     ^^^^^\n"),
            "{text}"
        );
    }
}
