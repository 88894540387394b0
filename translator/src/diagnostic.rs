//! Diagnostics: one type for every error and warning of the front end, and a
//! deterministic plain-text renderer (`file:line:col`, source line, carets).

use std::fmt::{self, Write as _};

/// Index of a file in a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A byte range in one file.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: u32, end: u32) -> Span {
        Span { file, start, end }
    }

    /// The smallest span covering both (the first span's file wins when they differ,
    /// which happens only across macro expansions).
    pub fn to(self, other: Span) -> Span {
        if self.file != other.file {
            return self;
        }
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}..{}", self.file.0, self.start, self.end)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub span: Span,
    pub secondary: Vec<Label>,
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span,
            secondary: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn warning(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(span, message)
        }
    }

    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// A source file known to the renderer.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
    line_starts: Vec<u32>,
}

impl SourceFile {
    fn new(name: String, text: String) -> SourceFile {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i as u32 + 1))
            .collect();
        SourceFile {
            name,
            text,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let offset = offset.min(self.text.len() as u32);
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line] as usize;
        let column = self.text[start..floor_char_boundary(&self.text, offset as usize)]
            .chars()
            .count();
        (line + 1, column + 1)
    }

    fn line_text(&self, line: usize) -> &str {
        let start = self.line_starts[line - 1] as usize;
        let end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |&e| e as usize);
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// The table of files that spans refer to.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> SourceMap {
        SourceMap::default()
    }

    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        self.files.push(SourceFile::new(name.into(), text.into()));
        FileId(self.files.len() as u32 - 1)
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    /// Renders a diagnostic as plain text (no colour), e.g.
    ///
    /// ```text
    /// error: expected ')'
    ///   --> script.stp:3:14
    ///    |
    ///  3 |   if (x > 1 { next }
    ///    |             ^
    ///    = note: ...
    /// ```
    pub fn render(&self, diagnostic: &Diagnostic) -> String {
        let mut out = String::new();
        let severity = match diagnostic.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{severity}: {}", diagnostic.message);
        self.render_snippet(&mut out, diagnostic.span, "-->", "");
        for label in &diagnostic.secondary {
            self.render_snippet(&mut out, label.span, ":::", &label.message);
        }
        for note in &diagnostic.notes {
            let _ = writeln!(out, "   = note: {note}");
        }
        out
    }

    pub fn render_all(&self, diagnostics: &[Diagnostic]) -> String {
        diagnostics.iter().map(|d| self.render(d)).collect()
    }

    fn render_snippet(&self, out: &mut String, span: Span, arrow: &str, label: &str) {
        let Some(file) = self.get(span.file) else {
            let _ = writeln!(out, "  {arrow} <unknown file {}>", span.file.0);
            return;
        };
        let (line, column) = file.line_col(span.start);
        let _ = writeln!(out, "  {arrow} {}:{line}:{column}", file.name);
        let text = file.line_text(line);
        let (end_line, end_column) = file.line_col(span.end);
        let width = if end_line == line && end_column > column {
            end_column - column
        } else {
            1
        };
        let gutter = line.to_string().len();
        let pad = " ".repeat(gutter);
        let _ = writeln!(out, " {pad} |");
        let _ = writeln!(out, " {line} | {}", text.replace('\t', " "));
        let underline = format!("{}{}", " ".repeat(column - 1), "^".repeat(width));
        if label.is_empty() {
            let _ = writeln!(out, " {pad} | {underline}");
        } else {
            let _ = writeln!(out, " {pad} | {underline} {label}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_line_and_caret() {
        let mut map = SourceMap::new();
        let id = map.add("a.stp", "probe begin {\n  x = (1 + \n}\n");
        let d = Diagnostic::error(Span::new(id, 16, 17), "expected value")
            .with_label(Span::new(id, 0, 5), "in this probe")
            .with_note("a note");
        assert_eq!(
            map.render(&d),
            "error: expected value\n  --> a.stp:2:3\n   |\n 2 |   x = (1 + \n   |   ^\n  ::: a.stp:1:1\n   |\n 1 | probe begin {\n   | ^^^^^ in this probe\n   = note: a note\n"
        );
    }

    #[test]
    fn offsets_past_the_end_are_clamped() {
        let mut map = SourceMap::new();
        let id = map.add("b.stp", "x");
        let text = map.render(&Diagnostic::warning(Span::new(id, 10, 12), "eof"));
        assert!(
            text.starts_with("warning: eof\n  --> b.stp:1:2\n"),
            "{text}"
        );
    }
}
