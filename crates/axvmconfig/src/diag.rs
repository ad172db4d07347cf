//! Diagnostics: what is wrong (or suspicious) in a config, and where.

use alloc::{string::String, vec::Vec};
use core::{fmt, ops::Range};

use crate::lines::LineIndex;

/// A 1-based line and column (in characters) of a config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// Line number, from 1.
    pub line: usize,
    /// Column number in characters, from 1.
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` in `source` (clamped to the source, and moved back
    /// to the start of the character it falls in).
    ///
    /// This indexes the whole source; the checker indexes each file once instead and
    /// locates all of its diagnostics in that index.
    #[must_use]
    pub fn of_offset(source: &str, offset: usize) -> Self {
        LineIndex::new(source).locate(offset)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// The config is rejected.
    Error,
    /// The config is accepted, but probably not what its author meant.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warning => "warning",
        })
    }
}

/// One problem found in a config: its kind, the field it concerns and, for a config
/// read from TOML, where the offending value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic<K> {
    /// The field path, e.g. `kernel.memory_regions[1].size`.
    pub path: String,
    /// The byte range of the offending value in the source, when parsed from TOML.
    pub span: Option<Range<usize>>,
    /// The line and column of `span.start`, when parsed from TOML.
    pub location: Option<Location>,
    /// What is wrong.
    pub kind: K,
}

impl<K: fmt::Display> Diagnostic<K> {
    /// The message without the location: `path: what is wrong`.
    #[must_use]
    pub fn message(&self) -> String {
        if self.path.is_empty() {
            alloc::format!("{}", self.kind)
        } else {
            alloc::format!("{}: {}", self.path, self.kind)
        }
    }
}

impl<K: fmt::Display> fmt::Display for Diagnostic<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = self.location {
            write!(f, "{location}: ")?;
        }
        f.write_str(&self.message())
    }
}

impl<K: fmt::Debug + fmt::Display> core::error::Error for Diagnostic<K> {}

/// An error: the config is rejected.
pub type ConfigError = Diagnostic<crate::ErrorKind>;

/// A warning: the config is accepted but looks wrong.
pub type ConfigWarning = Diagnostic<crate::WarningKind>;

/// Every error found in a config, in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The errors.
    #[must_use]
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut errors = self.0.iter();
        if let Some(first) = errors.next() {
            write!(f, "{first}")?;
        }
        for error in errors {
            write!(f, "\n{error}")?;
        }
        Ok(())
    }
}

impl core::error::Error for ConfigErrors {}

/// Collects diagnostics, locating them in the source when there is one (whose line
/// starts are indexed once, so that locating stays cheap for any number of them).
pub(crate) struct Sink<'s> {
    lines: Option<LineIndex<'s>>,
    pub(crate) errors: Vec<ConfigError>,
    pub(crate) warnings: Vec<ConfigWarning>,
}

impl<'s> Sink<'s> {
    pub(crate) fn new(source: Option<&'s str>) -> Self {
        Self {
            lines: source.map(LineIndex::new),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn diagnostic<K>(&self, path: impl fmt::Display, span: Span, kind: K) -> Diagnostic<K> {
        let (span, location) = match (&self.lines, span.range()) {
            (Some(lines), Some(range)) => {
                let location = lines.locate(range.start);
                (Some(range), Some(location))
            }
            _ => (None, None),
        };
        Diagnostic {
            path: alloc::format!("{path}"),
            span,
            location,
            kind,
        }
    }

    pub(crate) fn error(&mut self, path: impl fmt::Display, span: Span, kind: crate::ErrorKind) {
        let diagnostic = self.diagnostic(path, span, kind);
        self.errors.push(diagnostic);
    }

    pub(crate) fn warning(
        &mut self,
        path: impl fmt::Display,
        span: Span,
        kind: crate::WarningKind,
    ) {
        let diagnostic = self.diagnostic(path, span, kind);
        self.warnings.push(diagnostic);
    }

    /// Sorts both lists by source position so that output follows the file.
    pub(crate) fn sort(&mut self) {
        self.errors
            .sort_by_key(|d| d.span.as_ref().map(|s| s.start));
        self.warnings
            .sort_by_key(|d| d.span.as_ref().map(|s| s.start));
    }
}

/// The byte range of a value in the source; `Span::NONE` for configs built in code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    start: usize,
    end: usize,
    known: bool,
}

impl Span {
    pub(crate) const NONE: Self = Self {
        start: 0,
        end: 0,
        known: false,
    };

    pub(crate) fn from_range(range: Range<usize>) -> Self {
        Self {
            start: range.start,
            end: range.end,
            known: true,
        }
    }

    fn range(self) -> Option<Range<usize>> {
        self.known.then_some(self.start..self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_count_lines_and_characters() {
        let source = "a = 1\nbé = 2\n";
        assert_eq!(
            Location::of_offset(source, 0),
            Location { line: 1, column: 1 }
        );
        assert_eq!(
            Location::of_offset(source, 6),
            Location { line: 2, column: 1 }
        );
        // "bé = " is 6 bytes but 5 characters.
        assert_eq!(
            Location::of_offset(source, 12),
            Location { line: 2, column: 6 }
        );
        // Inside the two-byte 'é': moved back to its start.
        assert_eq!(
            Location::of_offset(source, 8),
            Location { line: 2, column: 2 }
        );
        assert_eq!(
            Location::of_offset(source, 999),
            Location { line: 3, column: 1 }
        );
    }
}
