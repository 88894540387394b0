//! Token-level preprocessing: `@define` macros, `@name` expansion, script
//! argument substitution and `%( cond %? then %: else %)` conditionals
//! evaluated against a [`Target`].
//!
//! Macros defined in a script are local to that file; macros of tapset
//! library files (`*.stpm`) form a [`MacroLibrary`] visible everywhere. Inside
//! a library macro body only its parameters and other library macros are
//! visible, so scripts cannot change what a tapset macro means.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use crate::ast::ScriptArg;
use crate::diagnostic::{Diagnostic, FileId, Span};
use crate::lexer::{lex, Token, TokenKind};
use crate::target::{compare_versions, glob_matches, Target};

/// Nested macro activations allowed before expansion is assumed to be runaway recursion.
const MAX_EXPANSION_DEPTH: usize = 200;
/// Tokens produced by macro expansion per file before giving up (exponential macros).
const MAX_EXPANDED_TOKENS: usize = 2_000_000;

#[derive(Debug)]
pub struct MacroDef {
    pub name: String,
    pub params: Vec<String>,
    pub body: Arc<Vec<Token>>,
    /// Span of the macro name in its `@define`.
    pub span: Span,
    pub library: bool,
}

/// Macros from tapset library files (`*.stpm`), shared by every parsed file.
#[derive(Debug, Default, Clone)]
pub struct MacroLibrary {
    macros: HashMap<String, Arc<MacroDef>>,
}

impl MacroLibrary {
    pub fn new() -> MacroLibrary {
        MacroLibrary::default()
    }

    /// Adds the macros of one library file, preprocessed for `target`
    /// (conditionals around `@define`s are honoured). A library file may
    /// contain nothing but macro definitions.
    pub fn add_file(&mut self, file: FileId, text: &str, target: &Target) -> Vec<Diagnostic> {
        let (tokens, mut diagnostics) = lex(file, text);
        let empty = MacroLibrary::new();
        let options = PreprocessOptions {
            target,
            library: &empty,
            script_args: None,
        };
        let mut expander = Expander::new(tokens, &options);
        expander.defines_library = true;
        // Everything but definitions is reported once; definitions after it still count.
        let mut reported = false;
        while let Some(token) = expander.next_token() {
            if !reported {
                reported = true;
                expander.diagnostics.push(Diagnostic::error(
                    token.span,
                    format!("unexpected {} in library macro file", token.describe()),
                ));
            }
        }
        diagnostics.append(&mut expander.diagnostics);
        let mut defined: Vec<_> = expander.local_macros.into_values().collect();
        defined.sort_by_key(|m| m.span.start);
        for def in defined {
            if let Some(previous) = self.macros.get(&def.name) {
                diagnostics.push(
                    Diagnostic::error(
                        def.span,
                        format!("duplicate definition of library macro '@{}'", def.name),
                    )
                    .with_label(previous.span, "first defined here"),
                );
                continue;
            }
            self.macros.insert(def.name.clone(), def);
        }
        diagnostics
    }

    pub fn get(&self, name: &str) -> Option<&Arc<MacroDef>> {
        self.macros.get(name)
    }

    pub fn len(&self) -> usize {
        self.macros.len()
    }

    pub fn is_empty(&self) -> bool {
        self.macros.is_empty()
    }
}

pub struct PreprocessOptions<'a> {
    pub target: &'a Target,
    pub library: &'a MacroLibrary,
    /// Script arguments substituted for `$N`/`@N`/`$#`/`@#`; `None` keeps them
    /// as tokens (their values are supplied at run time).
    pub script_args: Option<&'a [String]>,
}

/// Preprocesses a token stream completely.
pub fn preprocess(
    tokens: Vec<Token>,
    options: &PreprocessOptions<'_>,
) -> (Vec<Token>, Vec<Diagnostic>) {
    let mut expander = Expander::new(tokens, options);
    let mut out = Vec::new();
    while let Some(token) = expander.next_token() {
        out.push(token);
    }
    (out, expander.diagnostics)
}

type Env = HashMap<String, Binding>;

/// A macro parameter: the argument tokens plus the environment of the call
/// site they must be expanded in.
#[derive(Clone)]
struct Binding {
    tokens: Arc<Vec<Token>>,
    env: Arc<Env>,
    library: bool,
}

struct Frame {
    tokens: Arc<Vec<Token>>,
    pos: usize,
    env: Arc<Env>,
    library: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Branch {
    KeepThen,
    SkipThen,
    KeepElse,
    SkipElse,
}

struct Expander<'a> {
    input: std::vec::IntoIter<Token>,
    frames: Vec<Frame>,
    options: &'a PreprocessOptions<'a>,
    local_macros: HashMap<String, Arc<MacroDef>>,
    conditionals: Vec<(Span, Branch)>,
    /// `@define`s create library macros (while loading a `.stpm` file).
    defines_library: bool,
    expanded_tokens: usize,
    diagnostics: Vec<Diagnostic>,
}

impl<'a> Expander<'a> {
    fn new(tokens: Vec<Token>, options: &'a PreprocessOptions<'a>) -> Expander<'a> {
        Expander {
            input: tokens.into_iter(),
            frames: Vec::new(),
            options,
            local_macros: HashMap::new(),
            conditionals: Vec::new(),
            defines_library: false,
            expanded_tokens: 0,
            diagnostics: Vec::new(),
        }
    }

    fn error(&mut self, span: Span, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::error(span, message));
    }

    /// The next token from the innermost macro activation, or the file.
    fn next_raw(&mut self) -> Option<Token> {
        while let Some(frame) = self.frames.last_mut() {
            if let Some(token) = frame.tokens.get(frame.pos) {
                frame.pos += 1;
                self.expanded_tokens += 1;
                if self.expanded_tokens > MAX_EXPANDED_TOKENS {
                    let span = token.span;
                    self.frames.clear();
                    self.error(span, "macro expansion produces too many tokens");
                    continue;
                }
                return Some(token.clone());
            }
            self.frames.pop();
        }
        self.input.next()
    }

    /// Next token after macro expansion and argument substitution (stage 1).
    fn scan_expanded(&mut self, ignore_macros: bool) -> Option<Token> {
        loop {
            let token = self.next_raw()?;
            if ignore_macros {
                return Some(token);
            }
            match &token.kind {
                TokenKind::AtWord(name) if name == "define" => {
                    if self.frames.is_empty() {
                        self.parse_define(token.span);
                    } else {
                        self.error(token.span, "'@define' is not allowed inside a macro body");
                    }
                }
                TokenKind::AtWord(name) => match self.lookup(name) {
                    Some(Expansion::Param(binding)) => self.push_frame(
                        token.span,
                        Frame {
                            tokens: binding.tokens,
                            pos: 0,
                            env: binding.env,
                            library: binding.library,
                        },
                    ),
                    Some(Expansion::Macro(def)) => self.expand_macro(token.span, def),
                    None => return Some(token),
                },
                TokenKind::ScriptArg(arg) if self.options.script_args.is_some() => {
                    let arg = *arg;
                    self.substitute_script_arg(token, arg);
                }
                _ => return Some(token),
            }
        }
    }

    fn lookup(&self, name: &str) -> Option<Expansion> {
        let (env, library) = match self.frames.last() {
            Some(frame) => (Some(&frame.env), frame.library),
            None => (None, false),
        };
        if let Some(binding) = env.and_then(|env| env.get(name)) {
            return Some(Expansion::Param(binding.clone()));
        }
        if !library {
            if let Some(def) = self.local_macros.get(name) {
                return Some(Expansion::Macro(Arc::clone(def)));
            }
        }
        self.options
            .library
            .get(name)
            .map(|def| Expansion::Macro(Arc::clone(def)))
    }

    fn push_frame(&mut self, site: Span, frame: Frame) {
        if self.frames.len() >= MAX_EXPANSION_DEPTH {
            self.frames.clear();
            self.error(site, "macro expansion nested too deeply (recursive macro?)");
            return;
        }
        self.frames.push(frame);
    }

    fn expand_macro(&mut self, site: Span, def: Arc<MacroDef>) {
        let caller_env = self
            .frames
            .last()
            .map(|f| Arc::clone(&f.env))
            .unwrap_or_default();
        let caller_library = self.frames.last().is_some_and(|f| f.library);
        let mut env = Env::new();
        if !def.params.is_empty() {
            match self.next_raw() {
                Some(t) if t.is_op("(") => {}
                other => {
                    let span = other.map_or(site, |t| t.span);
                    self.diagnostics.push(
                        Diagnostic::error(
                            span,
                            format!(
                                "expected '(' in invocation of macro '@{}' taking {} parameter(s)",
                                def.name,
                                def.params.len()
                            ),
                        )
                        .with_label(def.span, "macro defined here"),
                    );
                    return;
                }
            }
            for (i, param) in def.params.iter().enumerate() {
                let (tokens, end) = self.slurp_argument();
                let last = i + 1 == def.params.len();
                match end {
                    Some(t) if t.is_op(",") && !last => {}
                    Some(t) if t.is_op(")") && last => {}
                    Some(t) => {
                        let message = if t.is_op(",") {
                            format!(
                                "too many arguments for macro '@{}' (expected {})",
                                def.name,
                                def.params.len()
                            )
                        } else {
                            format!(
                                "too few arguments for macro '@{}' (expected {})",
                                def.name,
                                def.params.len()
                            )
                        };
                        self.error(t.span, message);
                        return;
                    }
                    None => {
                        self.error(
                            site,
                            format!("unterminated invocation of macro '@{}'", def.name),
                        );
                        return;
                    }
                }
                env.insert(
                    param.clone(),
                    Binding {
                        tokens: Arc::new(tokens),
                        env: Arc::clone(&caller_env),
                        library: caller_library,
                    },
                );
            }
        }
        self.push_frame(
            site,
            Frame {
                tokens: Arc::clone(&def.body),
                pos: 0,
                env: Arc::new(env),
                library: def.library,
            },
        );
    }

    /// Collects one macro argument up to a top-level `,` or `)`, which is returned.
    fn slurp_argument(&mut self) -> (Vec<Token>, Option<Token>) {
        let mut tokens = Vec::new();
        let mut depth = 0usize;
        while let Some(token) = self.next_raw() {
            if token.is_op("(") || token.is_op("[") {
                depth += 1;
            } else if depth > 0 && (token.is_op(")") || token.is_op("]")) {
                depth -= 1;
            } else if depth == 0 && (token.is_op(")") || token.is_op(",")) {
                return (tokens, Some(token));
            }
            tokens.push(token);
        }
        (tokens, None)
    }

    /// `@define NAME[(a, b)] %( body %)`; the `@define` token is consumed.
    fn parse_define(&mut self, at: Span) {
        let name = match self.next_raw() {
            Some(Token {
                kind: TokenKind::Ident(name),
                span,
                ..
            }) => (name, span),
            other => {
                let span = other.map_or(at, |t| t.span);
                self.error(span, "expected macro name after '@define'");
                return;
            }
        };
        let (name, name_span) = name;
        let mut params = Vec::new();
        let mut next = self.next_raw();
        if next.as_ref().is_some_and(|t| t.is_op("(")) {
            loop {
                match self.next_raw() {
                    Some(Token {
                        kind: TokenKind::Ident(param),
                        ..
                    }) => params.push(param),
                    other => {
                        let span = other.map_or(name_span, |t| t.span);
                        self.error(span, "expected macro parameter name");
                        return;
                    }
                }
                match self.next_raw() {
                    Some(t) if t.is_op(",") => continue,
                    Some(t) if t.is_op(")") => break,
                    other => {
                        let span = other.map_or(name_span, |t| t.span);
                        self.error(span, "expected ',' or ')' in macro parameters");
                        return;
                    }
                }
            }
            next = self.next_raw();
        }
        match next {
            Some(t) if t.is_op("%(") => {}
            other => {
                let span = other.map_or(name_span, |t| t.span);
                self.error(span, "expected '%(' to start the macro body");
                return;
            }
        }
        let mut body = Vec::new();
        let mut depth = 0usize;
        loop {
            let Some(token) = self.next_raw() else {
                self.error(name_span, "macro body is not closed by '%)'");
                return;
            };
            if token.is_op("%(") {
                depth += 1;
            } else if token.is_op("%)") {
                if depth == 0 {
                    break;
                }
                depth -= 1;
            }
            body.push(token);
        }
        if name == "define" {
            self.error(name_span, "'@define' cannot be redefined");
            return;
        }
        if let Some(previous) = self.local_macros.get(&name) {
            let previous = previous.span;
            self.diagnostics.push(
                Diagnostic::error(
                    name_span,
                    format!("macro '@{name}' is already defined in this file"),
                )
                .with_label(previous, "first defined here"),
            );
            return;
        }
        let def = MacroDef {
            name: name.clone(),
            params,
            body: Arc::new(body),
            span: name_span,
            library: self.defines_library,
        };
        self.local_macros.insert(name, Arc::new(def));
    }

    fn substitute_script_arg(&mut self, token: Token, arg: ScriptArg) {
        let args = self.options.script_args.unwrap_or_default();
        let text = match arg.index {
            None => args.len().to_string(),
            Some(i) if i >= 1 && (i as usize) <= args.len() => args[i as usize - 1].clone(),
            Some(_) => {
                self.error(
                    token.span,
                    format!("command line argument out of range [1-{}]", args.len()),
                );
                return;
            }
        };
        let tokens = if arg.string {
            vec![Token {
                kind: TokenKind::String(escape_string(&text)),
                ..token
            }]
        } else {
            // `$N` stands for the argument's text as if written in the script.
            let (lexed, diagnostics) = lex(token.span.file, &text);
            if !diagnostics.is_empty() {
                self.error(
                    token.span,
                    format!("command line argument '{text}' is not valid script text"),
                );
            }
            lexed
                .into_iter()
                .map(|t| Token {
                    span: token.span,
                    space_before: token.space_before,
                    ..t
                })
                .collect()
        };
        self.push_frame(
            token.span,
            Frame {
                tokens: Arc::new(tokens),
                pos: 0,
                env: Arc::default(),
                library: false,
            },
        );
    }

    /// Next token after conditionals are resolved (stage 2).
    fn next_token(&mut self) -> Option<Token> {
        loop {
            let skipping = matches!(
                self.conditionals.last(),
                Some((_, Branch::SkipThen | Branch::SkipElse))
            );
            let token = if skipping {
                self.skip_branch()
            } else {
                self.scan_expanded(false)
            };
            let Some(token) = token else {
                for (span, _) in std::mem::take(&mut self.conditionals) {
                    self.error(span, "conditional '%(' is not closed by '%)'");
                }
                return None;
            };
            let TokenKind::Op(op) = token.kind else {
                return Some(token);
            };
            match op {
                "%(" => {
                    let keep = self.parse_condition(token.span);
                    let branch = if keep {
                        Branch::KeepThen
                    } else {
                        Branch::SkipThen
                    };
                    self.conditionals.push((token.span, branch));
                }
                "%?" => self.error(token.span, "'%?' without a preceding '%('"),
                "%:" => match self.conditionals.last_mut() {
                    None => self.error(token.span, "'%:' without a preceding '%('"),
                    Some((_, branch @ (Branch::KeepThen | Branch::SkipThen))) => {
                        *branch = if *branch == Branch::KeepThen {
                            Branch::SkipElse
                        } else {
                            Branch::KeepElse
                        };
                    }
                    Some(_) => self.error(token.span, "duplicate '%:' in conditional"),
                },
                "%)" => {
                    if self.conditionals.pop().is_none() {
                        self.error(token.span, "'%)' without a preceding '%('");
                    }
                }
                _ => return Some(token),
            }
        }
    }

    /// Skips a branch not taken, returning the `%:`/`%)` that ends it
    /// (or a stray `%?`, which `next_token` reports).
    fn skip_branch(&mut self) -> Option<Token> {
        let mut depth = 0usize;
        loop {
            let token = self.scan_expanded(true)?;
            if token.is_op("%(") {
                depth += 1;
            } else if depth > 0 && token.is_op("%)") {
                depth -= 1;
            } else if depth == 0 && (token.is_op("%:") || token.is_op("%?") || token.is_op("%)")) {
                return Some(token);
            }
        }
    }

    /// Evaluates `l op r [&& ...] [|| ...] %?` after a `%(`; consumes the `%?`.
    /// A malformed condition is reported and counts as false.
    fn parse_condition(&mut self, open: Span) -> bool {
        let mut result = false;
        let mut conjunction = true;
        loop {
            let operands = (
                self.scan_expanded(false),
                self.scan_expanded(false),
                self.scan_expanded(false),
            );
            let (Some(left), Some(op), Some(right)) = operands else {
                self.error(open, "incomplete condition after '%('");
                return false;
            };
            if [&left, &op, &right].iter().any(|t| t.is_op("%?")) {
                self.error(open, "incomplete condition after '%('");
                return false;
            }
            match self.evaluate(&left, &op, &right) {
                Ok(value) => conjunction &= value,
                Err(diagnostic) => {
                    self.diagnostics.push(diagnostic);
                    self.skip_to_then_marker();
                    return false;
                }
            }
            match self.scan_expanded(false) {
                Some(t) if t.is_op("&&") => continue,
                Some(t) if t.is_op("||") => {
                    result |= conjunction;
                    conjunction = true;
                }
                Some(t) if t.is_op("%?") => return result | conjunction,
                other => {
                    let span = other.map_or(open, |t| t.span);
                    self.error(span, "expected '%?', '&&' or '||' in conditional");
                    self.skip_to_then_marker();
                    return false;
                }
            }
        }
    }

    fn skip_to_then_marker(&mut self) {
        while let Some(token) = self.scan_expanded(true) {
            if token.is_op("%?") {
                return;
            }
        }
    }

    fn evaluate(&self, left: &Token, op: &Token, right: &Token) -> Result<bool, Diagnostic> {
        let target = self.options.target;
        let TokenKind::Op(op_text) = op.kind else {
            return Err(Diagnostic::error(op.span, "expected a comparison operator"));
        };
        let ordering_ok = |order: Ordering| -> Result<bool, Diagnostic> {
            Ok(match op_text {
                "==" => order == Ordering::Equal,
                "!=" => order != Ordering::Equal,
                "<" => order == Ordering::Less,
                "<=" => order != Ordering::Greater,
                ">" => order == Ordering::Greater,
                ">=" => order != Ordering::Less,
                _ => return Err(Diagnostic::error(op.span, "expected a comparison operator")),
            })
        };
        let equality = |matched: bool| -> Result<bool, Diagnostic> {
            match op_text {
                "==" => Ok(matched),
                "!=" => Ok(!matched),
                _ => Err(Diagnostic::error(op.span, "expected '==' or '!='")),
            }
        };
        let expect_string = || match &right.kind {
            TokenKind::String(s) => Ok(s.clone()),
            _ => Err(Diagnostic::error(right.span, "expected a string literal")),
        };
        match &left.kind {
            TokenKind::Ident(name)
                if matches!(name.as_str(), "kernel_v" | "kernel_vr" | "systemtap_v") =>
            {
                let query = expect_string()?;
                let actual = match name.as_str() {
                    "kernel_v" => target.kernel_version(),
                    "kernel_vr" => target.kernel_release.as_str(),
                    _ => target.systemtap_version.as_str(),
                };
                if query.contains(['*', '?', '[']) {
                    if !matches!(op_text, "==" | "!=") {
                        return Err(Diagnostic::error(
                            op.span,
                            "wildcards are only allowed with '==' and '!='",
                        ));
                    }
                    equality(glob_matches(&query, actual))
                } else {
                    ordering_ok(compare_versions(actual, &query))
                }
            }
            TokenKind::Ident(name) if name == "systemtap_privilege" => {
                equality(expect_string()? == target.privilege.name())
            }
            TokenKind::Ident(name) if name == "arch" => {
                equality(glob_matches(&expect_string()?, &target.arch))
            }
            TokenKind::Ident(name) if name == "runtime" => {
                equality(glob_matches(&expect_string()?, target.runtime.name()))
            }
            TokenKind::Ident(name) if name == "guru_mode" => {
                let value = match &right.kind {
                    TokenKind::Number(n) if n == "0" || n == "1" => n == "1",
                    _ => return Err(Diagnostic::error(right.span, "expected 0 or 1")),
                };
                equality(value == target.guru_mode)
            }
            TokenKind::Ident(name) if name.starts_with("CONFIG_") => {
                let actual = target.config_value(name);
                match &right.kind {
                    TokenKind::String(pattern) => equality(glob_matches(pattern, actual)),
                    TokenKind::Number(n) => {
                        let value = parse_c_integer(actual).ok_or_else(|| {
                            Diagnostic::error(
                                left.span,
                                format!("{name} is not a number ({actual:?})"),
                            )
                        })?;
                        let rhs = number_token_value(n, right.span)?;
                        ordering_ok(value.cmp(&rhs))
                    }
                    TokenKind::Ident(other) if other.starts_with("CONFIG_") => {
                        let other_value = target.config_value(other);
                        match (parse_c_integer(actual), parse_c_integer(other_value)) {
                            (Some(a), Some(b)) => ordering_ok(a.cmp(&b)),
                            _ => ordering_ok(actual.cmp(other_value)),
                        }
                    }
                    _ => Err(Diagnostic::error(
                        right.span,
                        "expected a string, a number or another CONFIG_ option",
                    )),
                }
            }
            TokenKind::String(lhs) => match &right.kind {
                TokenKind::String(rhs) => ordering_ok(lhs.as_str().cmp(rhs.as_str())),
                _ => Err(Diagnostic::error(right.span, "expected a string literal")),
            },
            TokenKind::Number(lhs) => match &right.kind {
                TokenKind::Number(rhs) => ordering_ok(
                    number_token_value(lhs, left.span)?.cmp(&number_token_value(rhs, right.span)?),
                ),
                _ => Err(Diagnostic::error(right.span, "expected a number literal")),
            },
            TokenKind::ScriptArg(_) => Err(Diagnostic::error(
                left.span,
                "script arguments are unknown here; pass them to use them in a conditional",
            )),
            _ => Err(Diagnostic::error(
                left.span,
                "expected 'arch', 'kernel_v', 'kernel_vr', 'systemtap_v', 'runtime', \
                 'systemtap_privilege', 'guru_mode', 'CONFIG_...', or a comparison of literals",
            )),
        }
    }
}

enum Expansion {
    Param(Binding),
    Macro(Arc<MacroDef>),
}

fn number_token_value(text: &str, span: Span) -> Result<i64, Diagnostic> {
    parse_c_integer(text).ok_or_else(|| Diagnostic::error(span, format!("invalid number {text}")))
}

/// Parses an integer as C's `strtoll(s, 0)` would, requiring the whole text:
/// `0x` hex, leading-`0` octal, decimal; optional sign.
pub fn parse_c_integer(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let magnitude = parse_c_unsigned(digits)?;
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Parses an unsigned C integer literal (`0x1f`, `017`, `42`) up to `u64::MAX`.
pub fn parse_c_unsigned(text: &str) -> Option<u64> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok();
    }
    if text.len() > 1 && text.starts_with('0') {
        return u64::from_str_radix(&text[1..], 8).ok();
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Escapes a command-line argument for use as the contents of a string token.
fn escape_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            _ => out.push(ch),
        }
    }
    out
}
