//! Lexer: turns source text into tokens with spans. Never fails: malformed
//! input produces diagnostics and the lexer carries on.

use crate::ast::ScriptArg;
use crate::diagnostic::{Diagnostic, FileId, Span};

pub const KEYWORDS: [&str; 20] = [
    "probe", "global", "private", "function", "if", "else", "for", "foreach", "in", "limit",
    "return", "delete", "while", "break", "continue", "next", "string", "long", "try", "catch",
];

/// Operators and punctuation, longest first so that lexing can take the
/// first entry that matches.
const OPERATORS: &[&str] = &[
    "<<<", ">>>", "<<=", ">>=", "==", "!=", "<=", ">=", "=~", "!~", "+=", "-=", "*=", "/=", "%=",
    "&=", "^=", "|=", ".=", "&&", "||", "++", "--", "->", "<<", ">>", "%(", "%?", "%:", "%)", "(",
    ")", "[", "]", "{", "}", ",", ";", ":", "?", ".", "+", "-", "*", "/", "%", "&", "|", "^", "~",
    "!", "=", "<", ">", "\\", "`", "'",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    /// Identifiers, including `$`-names (`$var`, `$$vars`, `$x$`, a lone `$`).
    Ident(String),
    Keyword(&'static str),
    /// `@name`, stored without the `@`.
    AtWord(String),
    /// The number as written (`10`, `0x1F`, `017`); validated by the parser.
    Number(String),
    /// String contents with C escapes kept (see [`crate::ast::Literal::String`]).
    String(String),
    /// `%{ ... %}`, the text in between.
    Embedded(String),
    Op(&'static str),
    /// `$1`, `@2`, `$#`, `@#`.
    ScriptArg(ScriptArg),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
    /// Whitespace or a comment precedes this token: probe-point names are
    /// glued from adjacent tokens only (`sys_*` vs `sys_ *`).
    pub space_before: bool,
}

impl Token {
    pub fn is_op(&self, op: &str) -> bool {
        matches!(self.kind, TokenKind::Op(o) if o == op)
    }

    pub fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self.kind, TokenKind::Keyword(k) if k == keyword)
    }

    /// A short description for "expected X, found Y" messages.
    pub fn describe(&self) -> String {
        match &self.kind {
            TokenKind::Ident(name) => format!("identifier '{name}'"),
            TokenKind::Keyword(k) => format!("keyword '{k}'"),
            TokenKind::AtWord(w) => format!("'@{w}'"),
            TokenKind::Number(n) => format!("number {n}"),
            TokenKind::String(_) => "string literal".to_string(),
            TokenKind::Embedded(_) => "embedded code".to_string(),
            TokenKind::Op(op) => format!("'{op}'"),
            TokenKind::ScriptArg(arg) => {
                let sigil = if arg.string { '@' } else { '$' };
                match arg.index {
                    Some(i) => format!("'{sigil}{i}'"),
                    None => format!("'{sigil}#'"),
                }
            }
        }
    }
}

/// Tokenizes `text`, returning the tokens and any lexical errors.
pub fn lex(file: FileId, text: &str) -> (Vec<Token>, Vec<Diagnostic>) {
    let mut lexer = Lexer {
        file,
        text,
        bytes: text.as_bytes(),
        pos: 0,
        tokens: Vec::new(),
        diagnostics: Vec::new(),
    };
    lexer.run();
    (lexer.tokens, lexer.diagnostics)
}

struct Lexer<'a> {
    file: FileId,
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    tokens: Vec<Token>,
    diagnostics: Vec<Diagnostic>,
}

fn is_ident_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

impl Lexer<'_> {
    fn peek(&self, n: usize) -> Option<u8> {
        self.bytes.get(self.pos + n).copied()
    }

    fn span(&self, start: usize) -> Span {
        Span::new(self.file, start as u32, self.pos as u32)
    }

    fn error(&mut self, start: usize, message: impl Into<String>) {
        let span = self.span(start);
        self.diagnostics.push(Diagnostic::error(span, message));
    }

    fn run(&mut self) {
        let mut space_before = false;
        while let Some(c) = self.peek(0) {
            let start = self.pos;
            if c.is_ascii_whitespace() {
                self.pos += 1;
                space_before = true;
                continue;
            }
            if c == b'#' || (c == b'/' && self.peek(1) == Some(b'/')) {
                self.skip_line();
                space_before = true;
                continue;
            }
            if c == b'/' && self.peek(1) == Some(b'*') {
                self.skip_block_comment();
                space_before = true;
                continue;
            }
            let Some(kind) = self.scan_token(c) else {
                continue;
            };
            self.tokens.push(Token {
                kind,
                span: self.span(start),
                space_before,
            });
            space_before = false;
        }
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.peek(0) {
            self.pos += 1;
            if c == b'\n' {
                break;
            }
        }
    }

    fn skip_block_comment(&mut self) {
        let start = self.pos;
        self.pos += 2;
        loop {
            match self.peek(0) {
                None => {
                    self.error(start, "unterminated comment");
                    return;
                }
                Some(b'*') if self.peek(1) == Some(b'/') => {
                    self.pos += 2;
                    return;
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    /// Scans one token starting with byte `c`; `None` when the input was
    /// junk (already reported and skipped).
    fn scan_token(&mut self, c: u8) -> Option<TokenKind> {
        let start = self.pos;
        let next = self.peek(1);
        if (c == b'$' || c == b'@')
            && (next == Some(b'#') || next.is_some_and(|n| n.is_ascii_digit()))
        {
            return Some(self.scan_script_arg(c == b'@'));
        }
        if c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c == b'@' {
            self.pos += 1;
            while self.peek(0).is_some_and(is_ident_continue) {
                self.pos += 1;
            }
            let word = &self.text[start..self.pos];
            if word == "@" {
                return Some(TokenKind::Op("@"));
            }
            if let Some(name) = word.strip_prefix('@') {
                return Some(TokenKind::AtWord(name.to_string()));
            }
            if let Some(keyword) = KEYWORDS.iter().find(|k| **k == word) {
                return Some(TokenKind::Keyword(keyword));
            }
            return Some(TokenKind::Ident(word.to_string()));
        }
        if c.is_ascii_digit() {
            while self.peek(0).is_some_and(|b| b.is_ascii_alphanumeric()) {
                self.pos += 1;
            }
            return Some(TokenKind::Number(self.text[start..self.pos].to_string()));
        }
        if c == b'"' {
            return Some(self.scan_string());
        }
        if c == b'%' && next == Some(b'{') {
            return Some(self.scan_embedded());
        }
        let rest = &self.bytes[self.pos..];
        if let Some(op) = OPERATORS.iter().find(|op| rest.starts_with(op.as_bytes())) {
            self.pos += op.len();
            return Some(TokenKind::Op(op));
        }
        // Not ASCII punctuation: skip the whole character.
        let ch = self.text[self.pos..].chars().next().unwrap_or('\u{fffd}');
        self.pos += ch.len_utf8().max(1);
        self.error(start, format!("unexpected character {ch:?}"));
        None
    }

    fn scan_script_arg(&mut self, string: bool) -> TokenKind {
        self.pos += 1;
        if self.peek(0) == Some(b'#') {
            self.pos += 1;
            return TokenKind::ScriptArg(ScriptArg {
                string,
                index: None,
            });
        }
        let digits_start = self.pos;
        while self.peek(0).is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        let index = self.text[digits_start..self.pos]
            .parse::<u32>()
            .unwrap_or(u32::MAX);
        TokenKind::ScriptArg(ScriptArg {
            string,
            index: Some(index),
        })
    }

    fn scan_string(&mut self) -> TokenKind {
        let start = self.pos;
        self.pos += 1;
        let mut value = String::new();
        loop {
            let rest = &self.text[self.pos..];
            let Some(ch) = rest.chars().next() else {
                self.error(start, "unterminated string literal");
                break;
            };
            if ch == '\n' {
                self.error(start, "unterminated string literal");
                break;
            }
            self.pos += ch.len_utf8();
            match ch {
                '"' => break,
                '\\' => {
                    let Some(escaped) = self.text[self.pos..].chars().next() else {
                        continue;
                    };
                    self.pos += escaped.len_utf8();
                    // Escapes C understands are kept for the C back end; others
                    // stand for the character itself (so `\"` is a quote).
                    if matches!(
                        escaped,
                        'a' | 'b' | 't' | 'n' | 'v' | 'f' | 'r' | 'x' | '\\' | '0'..='7'
                    ) {
                        value.push('\\');
                    }
                    value.push(escaped);
                }
                _ => value.push(ch),
            }
        }
        TokenKind::String(value)
    }

    fn scan_embedded(&mut self) -> TokenKind {
        let start = self.pos;
        self.pos += 2;
        match self.text[self.pos..].find("%}") {
            Some(len) => {
                let code = self.text[self.pos..self.pos + len].to_string();
                self.pos += len + 2;
                TokenKind::Embedded(code)
            }
            None => {
                let code = self.text[self.pos..].to_string();
                self.pos = self.text.len();
                self.error(start, "embedded code '%{' is not closed by '%}'");
                TokenKind::Embedded(code)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<TokenKind> {
        let (tokens, diagnostics) = lex(FileId(0), text);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        tokens.into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn operators_take_the_longest_match() {
        use TokenKind::Op;
        assert_eq!(
            kinds("a <<< b >>>= .= =~ !~ %( %? %: %) -> <<= ++"),
            vec![
                TokenKind::Ident("a".into()),
                Op("<<<"),
                TokenKind::Ident("b".into()),
                Op(">>>"),
                Op("="),
                Op(".="),
                Op("=~"),
                Op("!~"),
                Op("%("),
                Op("%?"),
                Op("%:"),
                Op("%)"),
                Op("->"),
                Op("<<="),
                Op("++"),
            ]
        );
    }

    #[test]
    fn words_numbers_and_args() {
        assert_eq!(
            kinds("$x$$ $$vars @cast probe 0x1F 017 $1 @2 $# @#"),
            vec![
                TokenKind::Ident("$x$$".into()),
                TokenKind::Ident("$$vars".into()),
                TokenKind::AtWord("cast".into()),
                TokenKind::Keyword("probe"),
                TokenKind::Number("0x1F".into()),
                TokenKind::Number("017".into()),
                TokenKind::ScriptArg(ScriptArg {
                    string: false,
                    index: Some(1)
                }),
                TokenKind::ScriptArg(ScriptArg {
                    string: true,
                    index: Some(2)
                }),
                TokenKind::ScriptArg(ScriptArg {
                    string: false,
                    index: None
                }),
                TokenKind::ScriptArg(ScriptArg {
                    string: true,
                    index: None
                }),
            ]
        );
    }

    #[test]
    fn strings_keep_c_escapes() {
        assert_eq!(
            kinds(r#""a\n\"b\\\q\x41""#),
            vec![TokenKind::String(r#"a\n"b\\q\x41"#.into())]
        );
    }

    #[test]
    fn comments_and_embedded_code() {
        let (tokens, _) = lex(FileId(0), "# c\n// d\n/* e */ %{ int x; %} y");
        assert_eq!(tokens[0].kind, TokenKind::Embedded(" int x; ".into()));
        assert!(tokens[0].space_before);
        assert_eq!(tokens[1].kind, TokenKind::Ident("y".into()));
        assert_eq!((tokens[1].span.start, tokens[1].span.end), (30, 31));
    }

    #[test]
    fn junk_is_reported_not_fatal() {
        let (tokens, diagnostics) = lex(FileId(0), "a é \"open\n%{ x");
        assert_eq!(diagnostics.len(), 3, "{diagnostics:?}");
        assert_eq!(tokens.len(), 3);
    }
}
