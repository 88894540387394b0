//! Recursive-descent parser over preprocessed tokens. It never fails: errors
//! become diagnostics, and parsing resumes at the next statement or
//! top-level declaration.
//!
//! Naming: `parse_x` parses an x or reports an error, `expect_x` consumes a
//! required token, `maybe_x` consumes an optional one.

use crate::ast::*;
use crate::diagnostic::{Diagnostic, FileId, Span};
use crate::lexer::{lex, Token, TokenKind};
use crate::preprocess::{parse_c_unsigned, preprocess, MacroLibrary, PreprocessOptions};
use crate::target::Target;

/// Nesting of expressions and statements beyond which parsing stops, so that
/// hostile input cannot overflow the stack.
const MAX_NESTING: u32 = 100;
/// Probe points one brace-grouped point may expand to (`a.{b,c}.{d,e}` is 4).
const MAX_EXPANDED_POINTS: usize = 10_000;

/// Inputs besides the text: the target, tapset macros and script arguments.
#[derive(Clone, Copy)]
pub struct ParseOptions<'a> {
    pub target: &'a Target,
    pub macros: Option<&'a MacroLibrary>,
    /// Values for `$1`, `@1`, `$#`...; `None` leaves them in the tree.
    pub script_args: Option<&'a [String]>,
}

impl<'a> ParseOptions<'a> {
    pub fn new(target: &'a Target) -> ParseOptions<'a> {
        ParseOptions {
            target,
            macros: None,
            script_args: None,
        }
    }
}

/// Lexes, preprocesses for `target` and parses one file.
pub fn parse(file: FileId, text: &str, target: &Target) -> (File, Vec<Diagnostic>) {
    parse_with(file, text, &ParseOptions::new(target))
}

pub fn parse_with(file: FileId, text: &str, options: &ParseOptions<'_>) -> (File, Vec<Diagnostic>) {
    let (tokens, mut diagnostics) = lex(file, text);
    let empty = MacroLibrary::new();
    let pp_options = PreprocessOptions {
        target: options.target,
        library: options.macros.unwrap_or(&empty),
        script_args: options.script_args,
    };
    let (tokens, pp_diagnostics) = preprocess(tokens, &pp_options);
    diagnostics.extend(pp_diagnostics);
    let end = text.len() as u32;
    let (items, parse_diagnostics) = parse_tokens(tokens, Span::new(file, end, end));
    diagnostics.extend(parse_diagnostics);
    let file = File {
        items,
        span: Span::new(file, 0, end),
    };
    (file, diagnostics)
}

/// Nesting any thread's stack can take (a default thread has 2 MiB).
/// Deeper input is parsed again on a thread with [`PARSER_STACK_BYTES`].
const SHALLOW_NESTING: u32 = 24;

/// Stack for parsing up to [`MAX_NESTING`]: unoptimised builds need a few MiB.
const PARSER_STACK_BYTES: usize = 16 << 20;

fn parse_tokens(tokens: Vec<Token>, eof: Span) -> (Vec<Item>, Vec<Diagnostic>) {
    let mut parser = Parser::new(tokens, eof, SHALLOW_NESTING);
    let items = parser.parse_items();
    if !parser.hit_nesting_limit {
        return (items, parser.diagnostics);
    }
    run_with_large_stack(Parser::new(parser.tokens, eof, MAX_NESTING))
}

/// Runs the parser on its own thread with a known stack size (falls back
/// to the caller's thread, and its shallower limit, if none can be created).
fn run_with_large_stack(parser: Parser) -> (Vec<Item>, Vec<Diagnostic>) {
    fn run(mut parser: Parser) -> (Vec<Item>, Vec<Diagnostic>) {
        let items = parser.parse_items();
        (items, parser.diagnostics)
    }
    // The parser stays reachable from here in case the thread cannot start.
    let slot = std::sync::Mutex::new(Some(parser));
    let take = || {
        slot.lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    };
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("stap-parser".to_string())
            .stack_size(PARSER_STACK_BYTES)
            .spawn_scoped(scope, || take().map(run));
        let result = match spawned {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => None,
        };
        result
            .or_else(|| {
                take().map(|parser| {
                    run(Parser {
                        max_nesting: SHALLOW_NESTING,
                        ..parser
                    })
                })
            })
            .unwrap_or_default()
    })
}

/// Marker that an error was reported; the caller recovers.
#[derive(Debug)]
struct Reported;

type PResult<T> = Result<T, Reported>;

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    eof: Span,
    /// Span of the last consumed token: node spans end there.
    prev: Span,
    depth: u32,
    max_nesting: u32,
    hit_nesting_limit: bool,
    in_function: bool,
    diagnostics: Vec<Diagnostic>,
}

impl Parser {
    fn new(tokens: Vec<Token>, eof: Span, max_nesting: u32) -> Parser {
        Parser {
            tokens,
            pos: 0,
            eof,
            prev: Span::new(eof.file, 0, 0),
            depth: 0,
            max_nesting,
            hit_nesting_limit: false,
            in_function: false,
            diagnostics: Vec::new(),
        }
    }

    // ---- token access -------------------------------------------------

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn peek_kind(&self) -> Option<&TokenKind> {
        self.peek().map(|t| &t.kind)
    }

    fn peek_span(&self) -> Span {
        self.peek().map_or(self.eof, |t| t.span)
    }

    fn at_op(&self, op: &str) -> bool {
        self.peek().is_some_and(|t| t.is_op(op))
    }

    fn at_keyword(&self, keyword: &str) -> bool {
        self.peek().is_some_and(|t| t.is_keyword(keyword))
    }

    fn bump(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned()?;
        self.pos += 1;
        self.prev = token.span;
        Some(token)
    }

    fn span_from(&self, start: Span) -> Span {
        start.to(self.prev)
    }

    /// Reports "expected `what`" at the current token.
    fn error_expected<T>(&mut self, what: &str) -> PResult<T> {
        let found = match self.peek() {
            Some(t) => t.describe(),
            None => "end of file".to_string(),
        };
        let span = self.peek_span();
        self.diagnostics.push(Diagnostic::error(
            span,
            format!("expected {what}, found {found}"),
        ));
        Err(Reported)
    }

    fn error_at<T>(&mut self, span: Span, message: impl Into<String>) -> PResult<T> {
        self.diagnostics.push(Diagnostic::error(span, message));
        Err(Reported)
    }

    fn maybe_op(&mut self, op: &str) -> Option<Span> {
        if self.at_op(op) {
            self.bump().map(|t| t.span)
        } else {
            None
        }
    }

    fn maybe_keyword(&mut self, keyword: &str) -> Option<Span> {
        if self.at_keyword(keyword) {
            self.bump().map(|t| t.span)
        } else {
            None
        }
    }

    fn expect_op(&mut self, op: &str) -> PResult<Span> {
        match self.maybe_op(op) {
            Some(span) => Ok(span),
            None => self.error_expected(&format!("'{op}'")),
        }
    }

    fn expect_keyword(&mut self, keyword: &str) -> PResult<Span> {
        match self.maybe_keyword(keyword) {
            Some(span) => Ok(span),
            None => self.error_expected(&format!("'{keyword}'")),
        }
    }

    fn expect_ident(&mut self) -> PResult<Ident> {
        match self.peek_kind() {
            Some(TokenKind::Ident(name)) => {
                let name = name.clone();
                let span = self.bump().map_or(self.eof, |t| t.span);
                Ok(Ident { name, span })
            }
            _ => self.error_expected("identifier"),
        }
    }

    /// Member names after `->` may be keywords (`->next`, `->string`).
    fn expect_ident_or_keyword(&mut self) -> PResult<Ident> {
        match self.peek_kind() {
            Some(TokenKind::Keyword(k)) => {
                let name = k.to_string();
                let span = self.bump().map_or(self.eof, |t| t.span);
                Ok(Ident { name, span })
            }
            _ => self.expect_ident(),
        }
    }

    fn expect_string(&mut self) -> PResult<String> {
        match self.peek_kind() {
            Some(TokenKind::String(_)) => Ok(self.parse_adjacent_strings()),
            _ => self.error_expected("string literal"),
        }
    }

    /// One string literal followed by any adjacent ones (`"a" "b"` is `"ab"`).
    fn parse_adjacent_strings(&mut self) -> String {
        let mut value = String::new();
        while let Some(TokenKind::String(s)) = self.peek_kind() {
            value.push_str(s);
            self.bump();
        }
        value
    }

    fn expect_number(&mut self) -> PResult<i64> {
        let negative = self.maybe_op("-").is_some();
        match self.peek_kind() {
            Some(TokenKind::Number(text)) => {
                let text = text.clone();
                let span = self.peek_span();
                self.bump();
                number_value(&text, negative).map_or_else(
                    || self.error_at(span, format!("number {text} is invalid or out of range")),
                    Ok,
                )
            }
            _ => self.error_expected("number"),
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > self.max_nesting {
            self.hit_nesting_limit = true;
            let span = self.peek_span();
            self.depth -= 1;
            return self.error_at(span, "nesting too deep");
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    // ---- top level ----------------------------------------------------

    fn parse_items(&mut self) -> Vec<Item> {
        let mut items = Vec::new();
        while self.peek().is_some() {
            let start = self.pos;
            match self.parse_item() {
                Ok(item) => items.push(item),
                Err(Reported) => {
                    if self.pos == start {
                        self.bump();
                    }
                    self.recover_top_level();
                }
            }
        }
        items
    }

    fn at_item_start(&self) -> bool {
        match self.peek_kind() {
            Some(TokenKind::Keyword(k)) => {
                matches!(*k, "probe" | "global" | "private" | "function")
            }
            Some(TokenKind::Embedded(_)) => true,
            _ => false,
        }
    }

    /// Skips to the next declaration. A keyword after `.` is a probe point
    /// component (`process.function("f")`), not the start of one.
    fn recover_top_level(&mut self) {
        while self.peek().is_some() {
            let after_dot = self.pos > 0 && self.tokens[self.pos - 1].is_op(".");
            if self.at_item_start() && !after_dot {
                return;
            }
            self.bump();
        }
    }

    fn parse_item(&mut self) -> PResult<Item> {
        let Some(token) = self.peek() else {
            return self.error_expected("declaration");
        };
        match &token.kind {
            TokenKind::Keyword("probe") => self.parse_probe(),
            TokenKind::Keyword("global") => {
                let start = self.peek_span();
                self.bump();
                self.parse_global(start, false).map(Item::Global)
            }
            TokenKind::Keyword("function") => {
                let start = self.peek_span();
                self.bump();
                self.parse_function(start, false).map(Item::Function)
            }
            TokenKind::Keyword("private") => self.parse_private(),
            TokenKind::Embedded(code) => {
                let code = EmbeddedCode {
                    code: code.clone(),
                    span: token.span,
                };
                self.bump();
                Ok(Item::Embedded(code))
            }
            _ => self.error_expected("'probe', 'global', 'private', 'function' or '%{'"),
        }
    }

    fn parse_private(&mut self) -> PResult<Item> {
        let start = self.expect_keyword("private")?;
        if self.maybe_keyword("function").is_some() {
            self.parse_function(start, true).map(Item::Function)
        } else {
            // `private name` is short for `private global name`.
            self.maybe_keyword("global");
            self.parse_global(start, true).map(Item::Global)
        }
    }

    fn parse_global(&mut self, start: Span, private: bool) -> PResult<GlobalDecl> {
        let mut vars = Vec::new();
        loop {
            let name = self.expect_ident()?;
            let wrap = self.maybe_op("%").is_some();
            let size = if self.maybe_op("[").is_some() {
                let size_span = self.peek_span();
                let size = self.expect_number()?;
                if size <= 0 || size > i64::from(i32::MAX) {
                    self.error_at::<()>(size_span, "array size out of range")
                        .ok();
                }
                self.expect_op("]")?;
                Some(size)
            } else {
                None
            };
            let init = if self.maybe_op("=").is_some() {
                Some(self.parse_literal()?)
            } else {
                None
            };
            vars.push(GlobalVar {
                span: self.span_from(name.span),
                name,
                wrap,
                size,
                init,
            });
            if self.maybe_op(",").is_some() {
                continue;
            }
            self.maybe_op(";");
            break;
        }
        Ok(GlobalDecl {
            private,
            vars,
            span: self.span_from(start),
        })
    }

    fn parse_type_annotation(&mut self) -> PResult<Option<TypeAnnotation>> {
        if self.maybe_op(":").is_none() {
            return Ok(None);
        }
        if self.maybe_keyword("long").is_some() {
            Ok(Some(TypeAnnotation::Long))
        } else if self.maybe_keyword("string").is_some() {
            Ok(Some(TypeAnnotation::String))
        } else {
            self.error_expected("'long' or 'string'")
        }
    }

    fn parse_function(&mut self, start: Span, private: bool) -> PResult<Function> {
        // `string` and `long` are keywords yet usable as function names.
        let name = if self.at_keyword("string") || self.at_keyword("long") {
            self.expect_ident_or_keyword()?
        } else {
            self.expect_ident()?
        };
        let return_type = self.parse_type_annotation()?;
        self.expect_op("(")?;
        let mut params: Vec<Param> = Vec::new();
        if self.maybe_op(")").is_none() {
            loop {
                let param_name = self.expect_ident()?;
                if params.iter().any(|p| p.name.name == param_name.name) {
                    self.error_at::<()>(param_name.span, "duplicate parameter name")
                        .ok();
                }
                let ty = self.parse_type_annotation()?;
                params.push(Param {
                    span: self.span_from(param_name.span),
                    name: param_name,
                    ty,
                });
                if self.maybe_op(")").is_some() {
                    break;
                }
                if self.maybe_op(",").is_none() {
                    return self.error_expected("',' or ')'");
                }
            }
        }
        let priority = if self.maybe_op(":").is_some() {
            let span = self.peek_span();
            let priority = self.expect_number()?;
            if priority < 1 {
                self.error_at::<()>(span, "function priority must be > 0")
                    .ok();
            }
            Some(priority)
        } else {
            None
        };
        let body = match self.peek_kind() {
            Some(TokenKind::Embedded(code)) => {
                let code = EmbeddedCode {
                    code: code.clone(),
                    span: self.peek_span(),
                };
                self.bump();
                FunctionBody::Embedded(code)
            }
            _ => {
                self.in_function = true;
                let block = self.parse_block();
                self.in_function = false;
                FunctionBody::Block(block?)
            }
        };
        Ok(Function {
            private,
            name,
            return_type,
            params,
            priority,
            body,
            span: self.span_from(start),
        })
    }

    // ---- probes -------------------------------------------------------

    fn parse_probe(&mut self) -> PResult<Item> {
        let start = self.expect_keyword("probe")?;
        let mut names = Vec::new();
        let mut epilogue_style = false;
        let points = loop {
            let points = self.parse_probe_points()?;
            let is_alias = self.at_op("=") || self.at_op("+=");
            if is_alias && points.len() == 1 {
                let op_span = self.peek_span();
                epilogue_style |= self.at_op("+=");
                self.bump();
                let point = points.into_iter().next().expect("one point");
                if point.optional || point.sufficient || point.condition.is_some() {
                    self.error_at::<()>(
                        op_span,
                        "a probe alias name cannot be optional, sufficient or conditional",
                    )
                    .ok();
                }
                names.push(point);
            } else if is_alias {
                return self.error_expected("'{' (an alias defines one name at a time)");
            } else if self.at_op("{") {
                break points;
            } else {
                return self.error_expected("'{'");
            }
        };
        let body = self.parse_block()?;
        if names.is_empty() {
            return Ok(Item::Probe(Probe {
                points,
                body,
                span: self.span_from(start),
            }));
        }
        let (prologue, epilogue) = if epilogue_style {
            (None, Some(body))
        } else if self.maybe_op(",").is_some() {
            (Some(body), Some(self.parse_block()?))
        } else {
            (Some(body), None)
        };
        Ok(Item::Alias(ProbeAlias {
            names,
            points,
            prologue,
            epilogue,
            span: self.span_from(start),
        }))
    }

    fn parse_probe_points(&mut self) -> PResult<Vec<ProbePoint>> {
        let mut points = Vec::new();
        loop {
            points.extend(self.parse_probe_point()?);
            if self.maybe_op(",").is_some() {
                continue;
            }
            if self.at_op("{") || self.at_op("=") || self.at_op("+=") || self.at_op("}") {
                return Ok(points);
            }
            return self.error_expected("one of ', { } = +='");
        }
    }

    /// One dotted probe point; brace groups multiply it into several points.
    fn parse_probe_point(&mut self) -> PResult<Vec<ProbePoint>> {
        let start = self.peek_span();
        let mut points: Vec<ProbePoint> = Vec::new();
        loop {
            let suffixes = self.parse_component()?;
            if points.is_empty() {
                points = suffixes;
            } else {
                if let Some(bad) = points
                    .iter()
                    .find(|p| p.optional || p.sufficient || p.condition.is_some())
                {
                    let span = bad.span;
                    return self
                        .error_at(span, "'?', '!' or a condition may only end a probe point");
                }
                if points.len().saturating_mul(suffixes.len()) > MAX_EXPANDED_POINTS {
                    return self.error_at(start, "probe point expands to too many alternatives");
                }
                let mut product = Vec::with_capacity(points.len() * suffixes.len());
                for prefix in &points {
                    for suffix in &suffixes {
                        let mut components = prefix.components.clone();
                        components.extend(suffix.components.iter().cloned());
                        product.push(ProbePoint {
                            components,
                            optional: suffix.optional,
                            sufficient: suffix.sufficient,
                            condition: suffix.condition.clone(),
                            span: prefix.span.to(suffix.span),
                        });
                    }
                }
                points = product;
            }
            if self.maybe_op(".").is_none() {
                break;
            }
        }
        let sufficient = self.at_op("!");
        if self.maybe_op("?").is_some() || self.maybe_op("!").is_some() {
            for point in &mut points {
                if point.optional {
                    let span = self.prev;
                    return self.error_at(span, "'?' or '!' given twice");
                }
                point.optional = true;
                point.sufficient = sufficient;
            }
        }
        if self.maybe_keyword("if").is_some() {
            let condition = self.parse_parenthesized_expr()?;
            for point in &mut points {
                if point.condition.is_some() {
                    let span = condition.span;
                    return self.error_at(span, "probe point condition given twice");
                }
                point.condition = Some(condition.clone());
            }
        }
        let span = self.span_from(start);
        for point in &mut points {
            point.span = span;
        }
        Ok(points)
    }

    fn parse_component(&mut self) -> PResult<Vec<ProbePoint>> {
        let start = self.peek_span();
        if self.maybe_op("{").is_some() {
            self.enter()?;
            let points = self.parse_probe_points();
            self.leave();
            let points = points?;
            self.expect_op("}")?;
            return Ok(points);
        }
        let mut name = match self.peek_kind() {
            Some(TokenKind::Ident(name)) => name.clone(),
            Some(TokenKind::Keyword(k)) => k.to_string(),
            Some(TokenKind::Op("*")) => "*".to_string(),
            _ => return self.error_expected("probe point component"),
        };
        self.bump();
        // A name with wildcards arrives as several adjacent tokens (`sys_*_at`).
        while let Some(token) = self.peek() {
            if token.space_before {
                break;
            }
            match &token.kind {
                TokenKind::Ident(part) => name.push_str(part),
                TokenKind::Keyword(k) => name.push_str(k),
                TokenKind::Op("*") => name.push('*'),
                TokenKind::Number(n) if name.ends_with('*') => name.push_str(n),
                _ => break,
            }
            self.bump();
        }
        let arg = if self.maybe_op("(").is_some() {
            let literal = self.parse_literal()?;
            self.expect_op(")")?;
            Some(literal)
        } else {
            None
        };
        let span = self.span_from(start);
        Ok(vec![ProbePoint {
            components: vec![Component { name, arg, span }],
            optional: false,
            sufficient: false,
            condition: None,
            span,
        }])
    }

    fn parse_literal(&mut self) -> PResult<Literal> {
        match self.peek_kind() {
            Some(TokenKind::String(_)) => Ok(Literal::String(self.parse_adjacent_strings())),
            Some(TokenKind::Number(_) | TokenKind::Op("-")) => {
                self.expect_number().map(Literal::Number)
            }
            _ => self.error_expected("literal string or number"),
        }
    }

    // ---- statements ---------------------------------------------------

    fn parse_block(&mut self) -> PResult<Block> {
        let start = self.expect_op("{")?;
        let mut stmts = Vec::new();
        loop {
            match self.peek() {
                None => return self.error_expected("'}'"),
                Some(t) if t.is_op("}") => {
                    self.bump();
                    break;
                }
                Some(_)
                    if self.at_item_start()
                        && !matches!(self.peek_kind(), Some(TokenKind::Embedded(_))) =>
                {
                    return self.error_expected("'}'");
                }
                Some(_) => {}
            }
            let before = self.pos;
            match self.parse_statement() {
                Ok(stmt) => stmts.push(stmt),
                Err(Reported) => {
                    if self.pos == before {
                        self.bump();
                    }
                    self.recover_statement();
                }
            }
        }
        Ok(Block {
            stmts,
            span: self.span_from(start),
        })
    }

    /// Skips to just after the next `;`, or to the `}` closing the current block.
    fn recover_statement(&mut self) {
        let mut depth = 0usize;
        while let Some(token) = self.peek() {
            if depth == 0 && self.at_item_start() && !matches!(token.kind, TokenKind::Embedded(_)) {
                return;
            }
            if token.is_op("{") {
                depth += 1;
            } else if token.is_op("}") {
                if depth == 0 {
                    return;
                }
                depth -= 1;
            } else if depth == 0 && token.is_op(";") {
                self.bump();
                return;
            }
            self.bump();
        }
    }

    fn parse_statement(&mut self) -> PResult<Stmt> {
        self.enter()?;
        let stmt = self.parse_statement_inner();
        self.leave();
        stmt
    }

    fn parse_statement_inner(&mut self) -> PResult<Stmt> {
        let start = self.peek_span();
        let kind = match self.peek_kind() {
            None => return self.error_expected("statement"),
            Some(TokenKind::Op(";")) => {
                self.bump();
                StmtKind::Empty
            }
            Some(TokenKind::Op("{")) => StmtKind::Block(self.parse_block()?),
            Some(TokenKind::Keyword("try")) => self.parse_try()?,
            Some(TokenKind::Keyword("if")) => self.parse_if()?,
            Some(TokenKind::Keyword("for")) => self.parse_for()?,
            Some(TokenKind::Keyword("foreach")) => self.parse_foreach()?,
            Some(TokenKind::Keyword("while")) => self.parse_while()?,
            Some(_) => {
                let kind = self.parse_simple_statement()?;
                // A `;` after a simple statement is part of it.
                self.maybe_op(";");
                kind
            }
        };
        Ok(Stmt {
            kind,
            span: self.span_from(start),
        })
    }

    fn parse_simple_statement(&mut self) -> PResult<StmtKind> {
        if let Some(span) = self.maybe_keyword("return") {
            if !self.in_function {
                self.error_at::<()>(span, "'return' outside a function")
                    .ok();
            }
            if self.at_op(";") || self.at_op("}") {
                return Ok(StmtKind::Return(None));
            }
            return Ok(StmtKind::Return(Some(self.parse_expr()?)));
        }
        if self.maybe_keyword("delete").is_some() {
            return Ok(StmtKind::Delete(self.parse_expr()?));
        }
        if self.maybe_keyword("break").is_some() {
            return Ok(StmtKind::Break);
        }
        if self.maybe_keyword("continue").is_some() {
            return Ok(StmtKind::Continue);
        }
        if self.maybe_keyword("next").is_some() {
            return Ok(StmtKind::Next);
        }
        if matches!(self.peek_kind(), Some(TokenKind::Keyword(_))) {
            return self.error_expected("statement");
        }
        Ok(StmtKind::Expr(self.parse_expr()?))
    }

    fn parse_try(&mut self) -> PResult<StmtKind> {
        self.expect_keyword("try")?;
        let body = self.parse_block()?;
        self.expect_keyword("catch")?;
        let catch_var = if self.at_op("(") {
            Some(self.parenthesized(Self::expect_ident)?)
        } else {
            None
        };
        let catch_body = self.parse_block()?;
        Ok(StmtKind::Try {
            body,
            catch_var,
            catch_body,
        })
    }

    fn parse_if(&mut self) -> PResult<StmtKind> {
        self.expect_keyword("if")?;
        let cond = self.parse_parenthesized_expr()?;
        let then_branch = Box::new(self.parse_statement()?);
        let else_branch = if self.maybe_keyword("else").is_some() {
            Some(Box::new(self.parse_statement()?))
        } else {
            None
        };
        Ok(StmtKind::If {
            cond,
            then_branch,
            else_branch,
        })
    }

    fn parse_while(&mut self) -> PResult<StmtKind> {
        self.expect_keyword("while")?;
        let cond = self.parse_parenthesized_expr()?;
        let body = Box::new(self.parse_statement()?);
        Ok(StmtKind::While { cond, body })
    }

    fn parse_for(&mut self) -> PResult<StmtKind> {
        self.expect_keyword("for")?;
        self.expect_op("(")?;
        let init = self.parse_optional_expr(";")?;
        let cond = self.parse_optional_expr(";")?;
        let step = self.parse_optional_expr(")")?;
        let body = Box::new(self.parse_statement()?);
        Ok(StmtKind::For {
            init,
            cond,
            step,
            body,
        })
    }

    /// `(expr)`
    fn parse_parenthesized_expr(&mut self) -> PResult<Expr> {
        self.parenthesized(Self::parse_expr)
    }

    /// `(` what `inner` parses `)`
    fn parenthesized<T>(&mut self, inner: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        self.expect_op("(")?;
        let value = inner(self)?;
        self.expect_op(")")?;
        Ok(value)
    }

    /// An optional expression followed by the required `terminator`.
    fn parse_optional_expr(&mut self, terminator: &str) -> PResult<Option<Expr>> {
        if self.maybe_op(terminator).is_some() {
            return Ok(None);
        }
        let expr = self.parse_expr()?;
        self.expect_op(terminator)?;
        Ok(Some(expr))
    }

    fn maybe_sort_mark(&mut self) -> Option<SortDirection> {
        if self.maybe_op("+").is_some() {
            Some(SortDirection::Ascending)
        } else if self.maybe_op("-").is_some() {
            Some(SortDirection::Descending)
        } else {
            None
        }
    }

    fn parse_foreach(&mut self) -> PResult<StmtKind> {
        self.expect_keyword("foreach")?;
        self.expect_op("(")?;
        let mut value = None;
        let mut keys = Vec::new();
        let mut sort: Option<SortSpec> = None;
        let set_sort =
            |this: &mut Parser, sort: &mut Option<SortSpec>, column, direction| -> PResult<()> {
                if sort.is_some() {
                    let span = this.prev;
                    return this.error_at(span, "multiple sort directives");
                }
                *sort = Some(SortSpec {
                    column,
                    direction,
                    aggregate: None,
                });
                Ok(())
            };
        if matches!(self.peek_kind(), Some(TokenKind::Ident(_))) {
            let first = self.expect_ident()?;
            let direction = self.maybe_sort_mark();
            if self.maybe_op("=").is_some() {
                if let Some(direction) = direction {
                    set_sort(self, &mut sort, SortColumn::Value, direction)?;
                }
                value = Some(first);
            } else {
                if let Some(direction) = direction {
                    set_sort(self, &mut sort, SortColumn::Key(0), direction)?;
                }
                keys.push(first);
            }
        }
        if keys.is_empty() {
            let bracketed = self.maybe_op("[").is_some();
            loop {
                keys.push(self.expect_ident()?);
                if let Some(direction) = self.maybe_sort_mark() {
                    set_sort(self, &mut sort, SortColumn::Key(keys.len() - 1), direction)?;
                }
                if !bracketed || self.maybe_op("]").is_some() {
                    break;
                }
                if self.maybe_op(",").is_none() {
                    return self.error_expected("',' or ']'");
                }
            }
        }
        self.expect_keyword("in")?;
        let array = self.parse_indexable()?;
        let slice = if self.at_op("[") {
            Some(self.parse_index_list()?)
        } else {
            None
        };
        let aggregate = match self.peek_kind() {
            Some(TokenKind::AtWord(word)) => match StatOp::from_name(word) {
                Some(op) => {
                    self.bump();
                    if !self.at_op("+") && !self.at_op("-") {
                        return self
                            .error_expected("sort direction '+' or '-' after the aggregate");
                    }
                    Some(op)
                }
                None => return self.error_expected("statistical operator"),
            },
            _ => None,
        };
        if let Some(direction) = self.maybe_sort_mark() {
            set_sort(self, &mut sort, SortColumn::Value, direction)?;
            if let Some(spec) = &mut sort {
                spec.aggregate = aggregate;
            }
        }
        let limit = if self.maybe_keyword("limit").is_some() {
            Some(self.parse_expr()?)
        } else {
            None
        };
        self.expect_op(")")?;
        let body = Box::new(self.parse_statement()?);
        Ok(StmtKind::Foreach(Box::new(Foreach {
            value,
            keys,
            array,
            slice,
            sort,
            limit,
            body,
        })))
    }

    // ---- expressions --------------------------------------------------

    fn parse_expr(&mut self) -> PResult<Expr> {
        self.enter()?;
        let expr = self.parse_assignment();
        self.leave();
        expr
    }

    fn parse_assignment(&mut self) -> PResult<Expr> {
        let target = self.parse_ternary()?;
        let op = AssignOp::ALL.into_iter().find(|op| self.at_op(op.symbol()));
        let Some(op) = op else {
            return Ok(target);
        };
        self.bump();
        let value = self.parse_expr()?;
        Ok(Expr {
            span: target.span.to(value.span),
            kind: ExprKind::Assign {
                op,
                target: Box::new(target),
                value: Box::new(value),
            },
        })
    }

    fn parse_ternary(&mut self) -> PResult<Expr> {
        let cond = self.parse_binary(0)?;
        if self.maybe_op("?").is_none() {
            return Ok(cond);
        }
        let then_value = self.parse_expr()?;
        self.expect_op(":")?;
        self.enter()?;
        let else_value = self.parse_ternary();
        self.leave();
        let else_value = else_value?;
        Ok(Expr {
            span: cond.span.to(else_value.span),
            kind: ExprKind::Ternary {
                cond: Box::new(cond),
                then_value: Box::new(then_value),
                else_value: Box::new(else_value),
            },
        })
    }

    /// Left-associative binary operators, by precedence climbing. Levels
    /// from `min_level` up are parsed here; `in` and the comparisons sit
    /// between `&` (level 4) and the shifts (level 6), handled by
    /// [`Parser::parse_membership`], which calls back for levels 6 and up.
    fn parse_binary(&mut self, min_level: u8) -> PResult<Expr> {
        let mut lhs = if min_level <= 4 {
            self.parse_membership()?
        } else {
            self.parse_unary()?
        };
        // Below the comparisons only levels up to `&` continue the chain:
        // `k in a + 1` does not make `a + 1` an operand.
        let accepts = |level: u8| level >= min_level && (min_level > 4 || level <= 4);
        while let Some((op, level)) = binary_op_at(self.peek()).filter(|(_, level)| accepts(*level))
        {
            self.bump();
            let rhs = if level == 4 {
                self.parse_membership()?
            } else {
                self.parse_binary(level + 1)?
            };
            lhs = Expr {
                span: lhs.span.to(rhs.span),
                kind: ExprKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
            };
        }
        Ok(lhs)
    }

    /// `k in a`, `[k1, *] in a`, or a comparison.
    fn parse_membership(&mut self) -> PResult<Expr> {
        let start = self.peek_span();
        if self.at_op("[") {
            let keys = self.parse_index_list()?;
            self.expect_keyword("in")?;
            let array = self.parse_indexable()?;
            return Ok(Expr {
                span: self.span_from(start),
                kind: ExprKind::In { keys, array },
            });
        }
        let key = self.parse_comparison()?;
        if self.maybe_keyword("in").is_none() {
            return Ok(key);
        }
        let array = self.parse_indexable()?;
        Ok(Expr {
            span: self.span_from(start),
            kind: ExprKind::In {
                keys: vec![Some(key)],
                array,
            },
        })
    }

    fn parse_comparison(&mut self) -> PResult<Expr> {
        const COMPARISONS: [(&str, BinaryOp); 6] = [
            ("==", BinaryOp::Eq),
            ("!=", BinaryOp::Ne),
            ("<", BinaryOp::Lt),
            ("<=", BinaryOp::Le),
            (">", BinaryOp::Gt),
            (">=", BinaryOp::Ge),
        ];
        let mut lhs = self.parse_binary(6)?;
        if self.at_op("=~") || self.at_op("!~") {
            let negated = self.at_op("!~");
            self.bump();
            let pattern = self.expect_string()?;
            return Ok(Expr {
                span: self.span_from(lhs.span),
                kind: ExprKind::Regex {
                    subject: Box::new(lhs),
                    negated,
                    pattern,
                },
            });
        }
        while let Some(op) = COMPARISONS
            .iter()
            .find(|(text, _)| self.at_op(text))
            .map(|(_, op)| *op)
        {
            self.bump();
            let rhs = self.parse_binary(6)?;
            lhs = Expr {
                span: lhs.span.to(rhs.span),
                kind: ExprKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
            };
        }
        Ok(lhs)
    }

    fn parse_unary(&mut self) -> PResult<Expr> {
        const UNARY: [(&str, UnaryOp); 4] = [
            ("+", UnaryOp::Plus),
            ("-", UnaryOp::Neg),
            ("!", UnaryOp::Not),
            ("~", UnaryOp::BitNot),
        ];
        let start = self.peek_span();
        if let Some(op) = UNARY
            .iter()
            .find(|(text, _)| self.at_op(text))
            .map(|(_, op)| *op)
        {
            self.bump();
            self.enter()?;
            let operand = self.parse_unary();
            self.leave();
            let operand = operand?;
            return Ok(Expr {
                span: self.span_from(start),
                kind: ExprKind::Unary {
                    op,
                    operand: Box::new(operand),
                },
            });
        }
        let increment = |this: &Parser| {
            if this.at_op("++") {
                Some(IncrementOp::Increment)
            } else if this.at_op("--") {
                Some(IncrementOp::Decrement)
            } else {
                None
            }
        };
        if let Some(op) = increment(self) {
            self.bump();
            let operand = self.parse_target_value()?;
            return Ok(Expr {
                span: self.span_from(start),
                kind: ExprKind::PreIncrement {
                    op,
                    operand: Box::new(operand),
                },
            });
        }
        let operand = self.parse_target_value()?;
        if let Some(op) = increment(self) {
            self.bump();
            return Ok(Expr {
                span: self.span_from(start),
                kind: ExprKind::PostIncrement {
                    op,
                    operand: Box::new(operand),
                },
            });
        }
        Ok(operand)
    }

    fn at_target_component(&self) -> bool {
        match self.peek_kind() {
            Some(TokenKind::Op("->" | "[")) => true,
            Some(TokenKind::Ident(name)) => is_pretty_print_mark(name),
            _ => false,
        }
    }

    /// A value, with `&` and target-symbol suffixes (`->f`, `[i]`, `$`).
    fn parse_target_value(&mut self) -> PResult<Expr> {
        let start = self.peek_span();
        let address_of = self.maybe_op("&").is_some();
        let mut target = match self.peek_kind() {
            Some(TokenKind::Ident(name)) if name.starts_with('$') => {
                let name = name.clone();
                self.bump();
                Some(TargetExpr {
                    base: TargetBase::Var(name),
                    address_of,
                    components: Vec::new(),
                })
            }
            Some(TokenKind::AtWord(word)) if word == "cast" || word == "var" => {
                let base = self.parse_cast_or_var()?;
                Some(TargetExpr {
                    base,
                    address_of,
                    components: Vec::new(),
                })
            }
            _ => None,
        };
        if target.is_none() {
            let value = self.parse_value()?;
            target = match value.kind {
                ExprKind::Target(mut inner) if address_of && !inner.address_of => {
                    inner.address_of = true;
                    Some(*inner)
                }
                ExprKind::Target(_) if address_of => {
                    return self.error_at(value.span, "cannot take the address twice");
                }
                kind if address_of || self.at_target_component() => Some(TargetExpr {
                    base: TargetBase::Autocast(Box::new(Expr {
                        kind,
                        span: value.span,
                    })),
                    address_of,
                    components: Vec::new(),
                }),
                kind => {
                    return Ok(Expr {
                        kind,
                        span: value.span,
                    });
                }
            };
        }
        let mut target = target.expect("set above");
        self.parse_target_components(&mut target)?;
        Ok(Expr {
            span: self.span_from(start),
            kind: ExprKind::Target(Box::new(target)),
        })
    }

    fn parse_cast_or_var(&mut self) -> PResult<TargetBase> {
        let Some(TokenKind::AtWord(word)) = self.peek_kind() else {
            return self.error_expected("'@cast' or '@var'");
        };
        let is_cast = word == "cast";
        self.bump();
        self.expect_op("(")?;
        let base = if is_cast {
            let operand = self.parse_expr()?;
            self.expect_op(",")?;
            let type_span = self.peek_span();
            let type_name = self.expect_string()?;
            if type_name.is_empty() {
                self.error_at::<()>(type_span, "expected a non-empty type name")
                    .ok();
            }
            let module = if self.maybe_op(",").is_some() {
                Some(self.expect_string()?)
            } else {
                None
            };
            TargetBase::Cast {
                operand: Box::new(operand),
                type_name,
                module,
            }
        } else {
            let name = self.expect_string()?;
            let module = if self.maybe_op(",").is_some() {
                Some(self.expect_string()?)
            } else {
                None
            };
            TargetBase::AtVar { name, module }
        };
        self.expect_op(")")?;
        Ok(base)
    }

    fn parse_target_components(&mut self, target: &mut TargetExpr) -> PResult<()> {
        let mut pretty = false;
        if let TargetBase::Var(name) = &mut target.base {
            // `$foo$` / `$foo$$`: the trailing `$`s ask for pretty-printing.
            let base_len = name.trim_end_matches('$').len();
            if base_len > 0 && base_len < name.len() {
                let marks = name.split_off(base_len);
                let span = self.prev;
                target
                    .components
                    .push(self.pretty_print_component(&marks, span)?);
                pretty = true;
            }
        }
        while !pretty {
            if self.maybe_op("->").is_some() {
                let member = self.expect_ident_or_keyword()?;
                let base_len = member.name.trim_end_matches('$').len();
                if base_len > 0 {
                    target.components.push(TargetComponent::Member(Ident {
                        name: member.name[..base_len].to_string(),
                        span: member.span,
                    }));
                }
                if base_len < member.name.len() {
                    let marks = &member.name[base_len..];
                    target
                        .components
                        .push(self.pretty_print_component(marks, member.span)?);
                    pretty = true;
                }
            } else if self.maybe_op("[").is_some() {
                let index = self.parse_expr()?;
                self.expect_op("]")?;
                target.components.push(TargetComponent::Index(index));
            } else {
                break;
            }
        }
        if !pretty {
            if let Some(TokenKind::Ident(marks)) = self.peek_kind() {
                if is_pretty_print_mark(marks) {
                    let marks = marks.clone();
                    let span = self.peek_span();
                    self.bump();
                    target
                        .components
                        .push(self.pretty_print_component(&marks, span)?);
                    pretty = true;
                }
            }
        }
        if pretty && (self.at_op("->") || self.at_op("[")) {
            return self.error_expected(
                "end of a pretty-printed target variable ('->' and '[' cannot follow '$')",
            );
        }
        Ok(())
    }

    fn pretty_print_component(&mut self, marks: &str, span: Span) -> PResult<TargetComponent> {
        match marks {
            "$" => Ok(TargetComponent::PrettyPrint { deep: false, span }),
            "$$" => Ok(TargetComponent::PrettyPrint { deep: true, span }),
            _ => self.error_at(span, "pretty-printing takes '$' or '$$'"),
        }
    }

    fn parse_value(&mut self) -> PResult<Expr> {
        let start = self.peek_span();
        let kind = match self.peek_kind() {
            Some(TokenKind::Embedded(code)) => {
                let code = code.clone();
                self.bump();
                ExprKind::Embedded(code)
            }
            Some(TokenKind::Op("(")) => {
                self.bump();
                let inner = self.parse_expr()?;
                self.expect_op(")")?;
                return Ok(inner);
            }
            // Normally taken by parse_target_value; here for completeness.
            Some(TokenKind::AtWord(word)) if word == "cast" || word == "var" => {
                ExprKind::Target(Box::new(TargetExpr {
                    base: self.parse_cast_or_var()?,
                    address_of: false,
                    components: Vec::new(),
                }))
            }
            Some(TokenKind::Ident(_) | TokenKind::AtWord(_)) => return self.parse_symbol(),
            Some(TokenKind::ScriptArg(arg)) => {
                let arg = *arg;
                self.bump();
                ExprKind::ScriptArg(arg)
            }
            Some(TokenKind::String(_)) => ExprKind::String(self.parse_adjacent_strings()),
            Some(TokenKind::Number(_)) => {
                // Unary minus is an operator here; literals above i64::MAX wrap as in C.
                let value = self.expect_number()?;
                ExprKind::Number(value)
            }
            _ => return self.error_expected("expression"),
        };
        Ok(Expr {
            kind,
            span: self.span_from(start),
        })
    }

    fn parse_indexable(&mut self) -> PResult<Indexable> {
        match self.peek_kind() {
            Some(TokenKind::AtWord(word)) if word == "hist_linear" || word == "hist_log" => {
                Ok(Indexable::Hist(Box::new(self.parse_hist_op()?)))
            }
            _ => Ok(Indexable::Name(self.expect_ident()?)),
        }
    }

    fn parse_hist_op(&mut self) -> PResult<HistOp> {
        let start = self.peek_span();
        let linear = matches!(self.peek_kind(), Some(TokenKind::AtWord(w)) if w == "hist_linear");
        self.bump();
        self.expect_op("(")?;
        let stat = self.parse_expr()?;
        let kind = if linear {
            self.expect_op(",")?;
            let low = self.expect_number()?;
            self.expect_op(",")?;
            let high = self.expect_number()?;
            self.expect_op(",")?;
            let step = self.expect_number()?;
            HistKind::Linear { low, high, step }
        } else {
            HistKind::Log
        };
        self.expect_op(")")?;
        Ok(HistOp {
            kind,
            stat,
            span: self.span_from(start),
        })
    }

    /// `[e1, *, e3]`
    fn parse_index_list(&mut self) -> PResult<Vec<Option<Expr>>> {
        self.expect_op("[")?;
        let mut indexes = Vec::new();
        loop {
            if self.maybe_op("*").is_some() {
                indexes.push(None);
            } else {
                indexes.push(Some(self.parse_expr()?));
            }
            if self.maybe_op("]").is_some() {
                return Ok(indexes);
            }
            if self.maybe_op(",").is_none() {
                return self.error_expected("',' or ']'");
            }
        }
    }

    /// Names and `@` operators: variables, calls, array elements, print
    /// functions, statistics and the other built-in `@` forms.
    fn parse_symbol(&mut self) -> PResult<Expr> {
        let start = self.peek_span();
        let base = match self.peek_kind() {
            Some(TokenKind::AtWord(word)) if word == "hist_linear" || word == "hist_log" => {
                let hist = self.parse_hist_op()?;
                if !self.at_op("[") {
                    return self
                        .error_at(hist.span, "a histogram can only be printed or indexed here");
                }
                Indexable::Hist(Box::new(hist))
            }
            Some(TokenKind::AtWord(word)) => {
                let word = word.clone();
                self.bump();
                let kind = self.parse_at_operator(&word, start)?;
                return Ok(Expr {
                    kind,
                    span: self.span_from(start),
                });
            }
            _ => {
                let name = self.expect_ident()?;
                if self.at_op("(") {
                    let kind = match PrintFn::from_name(&name.name) {
                        Some(function) => {
                            ExprKind::Print(Box::new(self.parse_print_call(function)?))
                        }
                        None => ExprKind::Call {
                            args: self.parse_call_args()?,
                            name,
                        },
                    };
                    return Ok(Expr {
                        kind,
                        span: self.span_from(start),
                    });
                }
                if !self.at_op("[") {
                    return Ok(Expr {
                        span: name.span,
                        kind: ExprKind::Var(name.name),
                    });
                }
                Indexable::Name(name)
            }
        };
        let indexes = self.parse_index_list()?;
        Ok(Expr {
            kind: ExprKind::Index { base, indexes },
            span: self.span_from(start),
        })
    }

    fn parse_call_args(&mut self) -> PResult<Vec<Expr>> {
        self.expect_op("(")?;
        let mut args = Vec::new();
        if self.maybe_op(")").is_some() {
            return Ok(args);
        }
        loop {
            args.push(self.parse_expr()?);
            if self.maybe_op(")").is_some() {
                return Ok(args);
            }
            if self.maybe_op(",").is_none() {
                return self.error_expected("',' or ')'");
            }
        }
    }

    fn parse_print_call(&mut self, function: PrintFn) -> PResult<PrintCall> {
        self.expect_op("(")?;
        let mut call = PrintCall {
            function,
            format: None,
            args: Vec::new(),
            hist: None,
        };
        let at_hist = matches!(self.peek_kind(), Some(TokenKind::AtWord(w)) if w == "hist_linear" || w == "hist_log");
        if at_hist && !function.has_format() && !function.has_delimiter() {
            let hist = self.parse_hist_op()?;
            if self.at_op("[") {
                let start = hist.span;
                let indexes = self.parse_index_list()?;
                call.args.push(Expr {
                    kind: ExprKind::Index {
                        base: Indexable::Hist(Box::new(hist)),
                        indexes,
                    },
                    span: self.span_from(start),
                });
                while self.maybe_op(",").is_some() {
                    call.args.push(self.parse_expr()?);
                }
            } else {
                call.hist = Some(hist);
            }
            self.expect_op(")")?;
            return Ok(call);
        }
        let mut min_args: usize = 0;
        let mut need_comma = false;
        if function.has_format() || function.has_delimiter() {
            call.format = Some(self.expect_string()?);
            need_comma = true;
            if function.has_delimiter() {
                min_args = 2;
            }
        } else if !function.appends_newline() {
            min_args = 1;
        }
        while min_args > 0 || !self.at_op(")") {
            if need_comma {
                self.expect_op(",")?;
            }
            call.args.push(self.parse_expr()?);
            need_comma = true;
            min_args = min_args.saturating_sub(1);
        }
        self.expect_op(")")?;
        Ok(call)
    }

    /// The `@word` operators other than `@cast`/`@var` and histograms; the
    /// `@word` token is consumed.
    fn parse_at_operator(&mut self, word: &str, start: Span) -> PResult<ExprKind> {
        if let Some(op) = StatOp::from_name(word) {
            self.expect_op("(")?;
            let operand = self.parse_expr()?;
            let param = if self.maybe_op(",").is_some() {
                if op != StatOp::Variance {
                    let span = self.prev;
                    return self.error_at(span, format!("@{word} takes one argument"));
                }
                Some(self.expect_number()?)
            } else {
                None
            };
            self.expect_op(")")?;
            return Ok(ExprKind::Stat {
                op,
                operand: Box::new(operand),
                param,
            });
        }
        let kind = match word {
            "defined" | "entry" => {
                let operand = Box::new(self.parse_parenthesized_expr()?);
                if word == "defined" {
                    ExprKind::Defined(operand)
                } else {
                    ExprKind::Entry(operand)
                }
            }
            "const" | "perf" => {
                self.expect_op("(")?;
                let span = self.peek_span();
                let text = self.expect_string()?;
                if text.is_empty() {
                    self.error_at::<()>(span, "expected a non-empty string")
                        .ok();
                }
                self.expect_op(")")?;
                if word == "const" {
                    ExprKind::Const(text)
                } else {
                    ExprKind::Perf(text)
                }
            }
            "probewrite" => ExprKind::Probewrite(self.parenthesized(Self::expect_ident)?),
            "kregister" | "uregister" => ExprKind::Register {
                user: word == "uregister",
                number: self.parenthesized(Self::expect_number)?,
            },
            "kderef" | "uderef" => {
                let (size, addr) = self.parenthesized(|p| {
                    let size = p.expect_number()?;
                    p.expect_op(",")?;
                    Ok((size, Box::new(p.parse_expr()?)))
                })?;
                ExprKind::Deref {
                    user: word == "uderef",
                    size,
                    addr,
                }
            }
            _ => {
                self.diagnostics.push(
                    Diagnostic::error(start, format!("unknown operator '@{word}'"))
                        .with_note(format!("no macro named '@{word}' is defined")),
                );
                return Err(Reported);
            }
        };
        Ok(kind)
    }
}

fn is_pretty_print_mark(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b == b'$')
}

/// The value of a number literal; values up to `u64::MAX` wrap to negative
/// `i64` as C's `strtoull` result would.
fn number_value(text: &str, negative: bool) -> Option<i64> {
    let magnitude = parse_c_unsigned(text)?;
    if negative {
        if magnitude > 1 << 63 {
            return None;
        }
        Some((magnitude as i64).wrapping_neg())
    } else {
        Some(magnitude as i64)
    }
}

/// The binary operator at `token` and its precedence level (0 is loosest);
/// comparisons (level 5) are not included.
fn binary_op_at(token: Option<&Token>) -> Option<(BinaryOp, u8)> {
    let TokenKind::Op(op) = token?.kind else {
        return None;
    };
    Some(match op {
        "||" => (BinaryOp::LogicalOr, 0),
        "&&" => (BinaryOp::LogicalAnd, 1),
        "|" => (BinaryOp::BitOr, 2),
        "^" => (BinaryOp::BitXor, 3),
        "&" => (BinaryOp::BitAnd, 4),
        "<<" => (BinaryOp::Shl, 6),
        ">>" => (BinaryOp::Shr, 6),
        ">>>" => (BinaryOp::UShr, 6),
        "." => (BinaryOp::Concat, 7),
        "+" => (BinaryOp::Add, 8),
        "-" => (BinaryOp::Sub, 8),
        "*" => (BinaryOp::Mul, 9),
        "/" => (BinaryOp::Div, 9),
        "%" => (BinaryOp::Mod, 9),
        _ => return None,
    })
}
