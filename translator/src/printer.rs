//! Pretty-printer: renders a tree as SystemTap source (what `stap -p1`
//! shows). Operands are parenthesised where precedence requires, so the
//! output parses back to the same tree.

use std::fmt::Write as _;

use crate::ast::*;

/// Renders a whole file.
pub fn print_file(file: &File) -> String {
    let mut printer = Printer::default();
    for item in &file.items {
        printer.item(item);
    }
    printer.out
}

#[derive(Default)]
struct Printer {
    out: String,
    indent: usize,
}

/// Quotes a string value (C escapes are kept; only quotes need escaping).
pub(crate) fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('"', "\\\""))
}

pub(crate) fn literal(lit: &Literal) -> String {
    match lit {
        Literal::Number(n) => n.to_string(),
        Literal::String(s) => quote(s),
    }
}

/// A `foreach` sort mark.
fn sort_mark(direction: SortDirection) -> char {
    match direction {
        SortDirection::Ascending => '+',
        SortDirection::Descending => '-',
    }
}

/// `%{code%}`
pub(crate) fn embedded_c(code: &str) -> String {
    format!("%{{{code}%}}")
}

/// `$1`, `@1`, `$#`, `@#`
pub(crate) fn script_arg(arg: ScriptArg) -> String {
    let sigil = if arg.string { '@' } else { '$' };
    match arg.index {
        Some(n) => format!("{sigil}{n}"),
        None => format!("{sigil}#"),
    }
}

/// `@kregister(n)`, `@uregister(n)`
pub(crate) fn register(user: bool, number: i64) -> String {
    format!("@{}register({number})", if user { "u" } else { "k" })
}

/// Printing of the forms the syntax tree (`-p1`) and the IR (`-p2`) spell
/// alike, over either tree's expression type: each printer supplies its
/// output and how it prints one operand.
pub(crate) trait TreePrinter {
    type Expr;
    type Stmt;

    fn out(&mut self) -> &mut String;

    /// The nesting depth of the statement being printed.
    fn indent(&mut self) -> &mut usize;

    /// Prints an expression that stands alone (between delimiters).
    fn expr(&mut self, expr: &Self::Expr);

    /// Prints a statement from its first character on (no indentation).
    fn stmt(&mut self, stmt: &Self::Stmt);

    fn line_start(&mut self) {
        for _ in 0..*self.indent() {
            self.out().push_str("  ");
        }
    }

    /// Statements one a line, indented.
    fn lines(&mut self, stmts: &[Self::Stmt]) {
        for stmt in stmts {
            self.line_start();
            self.stmt(stmt);
            self.out().push('\n');
        }
    }

    /// `{`, the statements one level deeper, `}`.
    fn block(&mut self, stmts: &[Self::Stmt]) {
        self.out().push_str("{\n");
        *self.indent() += 1;
        self.lines(stmts);
        *self.indent() -= 1;
        self.line_start();
        self.out().push('}');
    }

    fn if_stmt(
        &mut self,
        cond: &Self::Expr,
        then_branch: &Self::Stmt,
        else_branch: Option<&Self::Stmt>,
    ) {
        self.out().push_str("if (");
        self.expr(cond);
        self.out().push_str(") ");
        self.stmt(then_branch);
        if let Some(else_branch) = else_branch {
            self.out().push_str(" else ");
            self.stmt(else_branch);
        }
    }

    fn while_stmt(&mut self, cond: &Self::Expr, body: &Self::Stmt) {
        self.out().push_str("while (");
        self.expr(cond);
        self.out().push_str(") ");
        self.stmt(body);
    }

    fn for_stmt(
        &mut self,
        init: Option<&Self::Expr>,
        cond: Option<&Self::Expr>,
        step: Option<&Self::Expr>,
        body: &Self::Stmt,
    ) {
        self.out().push_str("for (");
        for (i, part) in [init, cond, step].into_iter().enumerate() {
            if i > 0 {
                self.out().push_str("; ");
            }
            if let Some(part) = part {
                self.expr(part);
            }
        }
        self.out().push_str(") ");
        self.stmt(body);
    }

    /// `try {..} catch (var) {..}`
    fn try_stmt(
        &mut self,
        body: &[Self::Stmt],
        catch_var: Option<&str>,
        catch_body: &[Self::Stmt],
    ) {
        self.out().push_str("try ");
        self.block(body);
        self.out().push_str(" catch ");
        if let Some(var) = catch_var {
            let _ = write!(self.out(), "({var}) ");
        }
        self.block(catch_body);
    }

    /// `a.b("x").c! if (cond)`: a probe point's components with their
    /// arguments, its `!` (sufficient) or `?` (optional) mark, its condition.
    fn probe_point(
        &mut self,
        components: &[Component],
        optional: bool,
        sufficient: bool,
        condition: Option<&Self::Expr>,
    ) {
        for (i, component) in components.iter().enumerate() {
            if i > 0 {
                self.out().push('.');
            }
            self.out().push_str(&component.name);
            if let Some(arg) = &component.arg {
                let _ = write!(self.out(), "({})", literal(arg));
            }
        }
        if sufficient {
            self.out().push('!');
        } else if optional {
            self.out().push('?');
        }
        if let Some(condition) = condition {
            self.out().push_str(" if (");
            self.expr(condition);
            self.out().push(')');
        }
    }

    /// `foreach (v = [k1, k2+] in `: a `foreach` header up to its array,
    /// with the sort mark of the key sorted on, if one is.
    fn foreach_start<'a>(
        &mut self,
        value: Option<&str>,
        keys: impl IntoIterator<Item = &'a str>,
        sorted_key: Option<(usize, SortDirection)>,
    ) {
        self.out().push_str("foreach (");
        if let Some(value) = value {
            let _ = write!(self.out(), "{value} = ");
        }
        self.out().push('[');
        for (i, key) in keys.into_iter().enumerate() {
            if i > 0 {
                self.out().push_str(", ");
            }
            self.out().push_str(key);
            if let Some((_, direction)) = sorted_key.filter(|&(sorted, _)| sorted == i) {
                self.out().push(sort_mark(direction));
            }
        }
        self.out().push_str("] in ");
    }

    /// The end of a `foreach` header from the sort on the values (`@sum-`)
    /// on, then the body.
    fn foreach_end(
        &mut self,
        value_sort: Option<(Option<StatOp>, SortDirection)>,
        limit: Option<&Self::Expr>,
        body: &Self::Stmt,
    ) {
        if let Some((aggregate, direction)) = value_sort {
            if let Some(aggregate) = aggregate {
                let _ = write!(self.out(), " @{}", aggregate.name());
            }
            self.out().push(sort_mark(direction));
        }
        if let Some(limit) = limit {
            self.out().push_str(" limit ");
            self.expr(limit);
        }
        self.out().push_str(") ");
        self.stmt(body);
    }

    /// `a, b, c`
    fn args(&mut self, args: &[Self::Expr]) {
        for (i, arg) in args.iter().enumerate() {
            if i > 0 {
                self.out().push_str(", ");
            }
            self.expr(arg);
        }
    }

    /// `a, *, c`: array keys, `*` where any key matches.
    fn keys(&mut self, keys: &[Option<Self::Expr>]) {
        for (i, key) in keys.iter().enumerate() {
            if i > 0 {
                self.out().push_str(", ");
            }
            match key {
                Some(key) => self.expr(key),
                None => self.out().push('*'),
            }
        }
    }

    /// `@word(operand)`
    fn at_operator(&mut self, word: &str, operand: &Self::Expr) {
        let _ = write!(self.out(), "@{word}(");
        self.expr(operand);
        self.out().push(')');
    }

    /// `@count(x)`, `@variance(x, bits)`
    fn stat(&mut self, op: StatOp, operand: &Self::Expr, param: Option<i64>) {
        let _ = write!(self.out(), "@{}(", op.name());
        self.expr(operand);
        if let Some(param) = param {
            let _ = write!(self.out(), ", {param}");
        }
        self.out().push(')');
    }

    /// `@hist_log(x)`, `@hist_linear(x, low, high, step)`
    fn hist(&mut self, kind: HistKind, stat: &Self::Expr) {
        self.out().push_str(match kind {
            HistKind::Linear { .. } => "@hist_linear(",
            HistKind::Log => "@hist_log(",
        });
        self.expr(stat);
        if let HistKind::Linear { low, high, step } = kind {
            let _ = write!(self.out(), ", {low}, {high}, {step}");
        }
        self.out().push(')');
    }

    /// `@kderef(size, addr)`, `@uderef(size, addr)`
    fn deref(&mut self, user: bool, size: i64, addr: &Self::Expr) {
        let _ = write!(
            self.out(),
            "@{}deref({size}, ",
            if user { "u" } else { "k" }
        );
        self.expr(addr);
        self.out().push(')');
    }

    fn target(&mut self, target: &TargetExpr<Self::Expr>) {
        if target.address_of {
            self.out().push('&');
        }
        match &target.base {
            TargetBase::Var(name) => self.out().push_str(name),
            TargetBase::Cast {
                operand,
                type_name,
                module,
            } => {
                self.out().push_str("@cast(");
                self.expr(operand);
                let _ = write!(self.out(), ", {}", quote(type_name));
                if let Some(module) = module {
                    let _ = write!(self.out(), ", {}", quote(module));
                }
                self.out().push(')');
            }
            TargetBase::AtVar { name, module } => {
                let _ = write!(self.out(), "@var({}", quote(name));
                if let Some(module) = module {
                    let _ = write!(self.out(), ", {}", quote(module));
                }
                self.out().push(')');
            }
            TargetBase::Autocast(operand) => {
                self.out().push('(');
                self.expr(operand);
                self.out().push(')');
            }
        }
        for component in &target.components {
            match component {
                TargetComponent::Member(name) => {
                    let _ = write!(self.out(), "->{}", name.name);
                }
                TargetComponent::Index(index) => {
                    self.out().push('[');
                    self.expr(index);
                    self.out().push(']');
                }
                TargetComponent::PrettyPrint { deep, .. } => {
                    self.out().push_str(if *deep { "$$" } else { "$" });
                }
            }
        }
    }
}

fn type_suffix(ty: Option<TypeAnnotation>) -> &'static str {
    match ty {
        None => "",
        Some(TypeAnnotation::Long) => ":long",
        Some(TypeAnnotation::String) => ":string",
    }
}

/// Binding strength of an expression's outermost operator (higher binds
/// tighter), following the grammar: assignment, ternary, `||`, `&&`, `|`,
/// `^`, `&`, `in`, comparisons, shifts, `.`, additive, multiplicative,
/// unary, increments, then values.
fn precedence(expr: &Expr) -> u8 {
    match &expr.kind {
        ExprKind::Assign { .. } => 0,
        ExprKind::Ternary { .. } => 1,
        ExprKind::Binary { op, .. } => binary_precedence(*op),
        ExprKind::In { .. } => 7,
        ExprKind::Regex { .. } => 8,
        ExprKind::Unary { .. } => UNARY,
        ExprKind::PreIncrement { .. } | ExprKind::PostIncrement { .. } => 14,
        _ => VALUE,
    }
}

const UNARY: u8 = 13;
/// Precedence of values (literals, variables, calls, `@` forms, targets).
const VALUE: u8 = 15;

fn binary_precedence(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::LogicalOr => 2,
        BinaryOp::LogicalAnd => 3,
        BinaryOp::BitOr => 4,
        BinaryOp::BitXor => 5,
        BinaryOp::BitAnd => 6,
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            8
        }
        BinaryOp::Shl | BinaryOp::Shr | BinaryOp::UShr => 9,
        BinaryOp::Concat => 10,
        BinaryOp::Add | BinaryOp::Sub => 11,
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => 12,
    }
}

impl TreePrinter for Printer {
    type Expr = Expr;
    type Stmt = Stmt;

    fn out(&mut self) -> &mut String {
        &mut self.out
    }

    fn indent(&mut self) -> &mut usize {
        &mut self.indent
    }

    fn expr(&mut self, expr: &Expr) {
        match &expr.kind {
            // Expression numbers are never negative in source (minus is an
            // operator); values above i64::MAX were written unsigned.
            ExprKind::Number(n) => {
                let _ = write!(self.out, "{}", *n as u64);
            }
            ExprKind::String(s) => self.out.push_str(&quote(s)),
            ExprKind::Var(name) => self.out.push_str(name),
            ExprKind::Index { base, indexes } => {
                self.indexable(base);
                self.index_list(indexes);
            }
            ExprKind::Call { name, args } => {
                let _ = write!(self.out, "{}(", name.name);
                self.args(args);
                self.out.push(')');
            }
            ExprKind::Print(call) => {
                let _ = write!(self.out, "{}(", call.function.name());
                if let Some(hist) = &call.hist {
                    self.hist(hist.kind, &hist.stat);
                } else {
                    if let Some(format) = &call.format {
                        self.out.push_str(&quote(format));
                        if !call.args.is_empty() {
                            self.out.push_str(", ");
                        }
                    }
                    self.args(&call.args);
                }
                self.out.push(')');
            }
            ExprKind::Unary { op, operand } => {
                self.out.push(match op {
                    UnaryOp::Plus => '+',
                    UnaryOp::Neg => '-',
                    UnaryOp::Not => '!',
                    UnaryOp::BitNot => '~',
                });
                // A nested prefix operator is parenthesised: `-(-x)`, `!(~x)`,
                // `+(++x)` must not lex as `--x`, `!~x`, `+++x`.
                let prefix = matches!(
                    operand.kind,
                    ExprKind::Unary { .. } | ExprKind::PreIncrement { .. }
                );
                self.expr_parenthesized_if(operand, prefix || precedence(operand) < UNARY);
            }
            ExprKind::PreIncrement { op, operand } => {
                self.out.push_str(increment_symbol(*op));
                self.expr_at(operand, VALUE);
            }
            ExprKind::PostIncrement { op, operand } => {
                self.expr_at(operand, VALUE);
                self.out.push_str(increment_symbol(*op));
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let level = binary_precedence(*op);
                // A regex match does not chain with comparisons.
                let regex_lhs = matches!(lhs.kind, ExprKind::Regex { .. });
                self.expr_parenthesized_if(lhs, regex_lhs || precedence(lhs) < level);
                let _ = write!(self.out, " {} ", op.symbol());
                self.expr_at(rhs, level + 1);
            }
            ExprKind::Regex {
                subject,
                negated,
                pattern,
            } => {
                // The subject is a shift-level operand, like a comparison's.
                self.expr_at(subject, binary_precedence(BinaryOp::Shl));
                self.out.push_str(if *negated { " !~ " } else { " =~ " });
                self.out.push_str(&quote(pattern));
            }
            ExprKind::Ternary {
                cond,
                then_value,
                else_value,
            } => {
                self.expr_at(cond, 2);
                self.out.push_str(" ? ");
                self.expr(then_value);
                self.out.push_str(" : ");
                self.expr_at(else_value, 1);
            }
            ExprKind::Assign { op, target, value } => {
                self.expr_at(target, 1);
                let _ = write!(self.out, " {} ", op.symbol());
                self.expr(value);
            }
            ExprKind::In { keys, array } => {
                self.index_list(keys);
                self.out.push_str(" in ");
                self.indexable(array);
            }
            ExprKind::Stat { op, operand, param } => self.stat(*op, operand, *param),
            ExprKind::Target(target) => self.target(target),
            ExprKind::Defined(operand) => self.at_operator("defined", operand),
            ExprKind::Entry(operand) => self.at_operator("entry", operand),
            ExprKind::Const(name) => {
                let _ = write!(self.out, "@const({})", quote(name));
            }
            ExprKind::Perf(name) => {
                let _ = write!(self.out, "@perf({})", quote(name));
            }
            ExprKind::Probewrite(var) => {
                let _ = write!(self.out, "@probewrite({})", var.name);
            }
            ExprKind::Register { user, number } => self.out.push_str(&register(*user, *number)),
            ExprKind::Deref { user, size, addr } => self.deref(*user, *size, addr),
            ExprKind::Embedded(code) => self.out.push_str(&embedded_c(code)),
            ExprKind::ScriptArg(arg) => self.out.push_str(&script_arg(*arg)),
        }
    }

    fn stmt(&mut self, stmt: &Stmt) {
        match &stmt.kind {
            StmtKind::Block(block) => self.block(&block.stmts),
            StmtKind::Expr(expr) => {
                self.expr(expr);
                self.out.push(';');
            }
            StmtKind::If {
                cond,
                then_branch,
                else_branch,
            } => self.if_stmt(cond, then_branch, else_branch.as_deref()),
            StmtKind::While { cond, body } => self.while_stmt(cond, body),
            StmtKind::For {
                init,
                cond,
                step,
                body,
            } => self.for_stmt(init.as_ref(), cond.as_ref(), step.as_ref(), body),
            StmtKind::Foreach(foreach) => self.foreach(foreach),
            StmtKind::Break => self.out.push_str("break;"),
            StmtKind::Continue => self.out.push_str("continue;"),
            StmtKind::Next => self.out.push_str("next;"),
            StmtKind::Return(None) => self.out.push_str("return;"),
            StmtKind::Return(Some(value)) => {
                self.out.push_str("return ");
                self.expr(value);
                self.out.push(';');
            }
            StmtKind::Delete(value) => {
                self.out.push_str("delete ");
                self.expr(value);
                self.out.push(';');
            }
            StmtKind::Try {
                body,
                catch_var,
                catch_body,
            } => {
                let catch_var = catch_var.as_ref().map(|var| var.name.as_str());
                self.try_stmt(&body.stmts, catch_var, &catch_body.stmts);
            }
            StmtKind::Empty => self.out.push(';'),
        }
    }
}

impl Printer {
    fn item(&mut self, item: &Item) {
        match item {
            Item::Probe(probe) => {
                self.out.push_str("probe ");
                self.points(&probe.points);
                self.out.push(' ');
                self.block(&probe.body.stmts);
            }
            Item::Alias(alias) => {
                self.out.push_str("probe ");
                let op = if alias.prologue.is_some() {
                    " = "
                } else {
                    " += "
                };
                for name in &alias.names {
                    self.point(name);
                    self.out.push_str(op);
                }
                self.points(&alias.points);
                self.out.push(' ');
                match (&alias.prologue, &alias.epilogue) {
                    (Some(prologue), Some(epilogue)) => {
                        self.block(&prologue.stmts);
                        self.out.push_str(", ");
                        self.block(&epilogue.stmts);
                    }
                    (Some(body), None) | (None, Some(body)) => self.block(&body.stmts),
                    (None, None) => self.out.push_str("{\n}"),
                }
            }
            Item::Function(function) => {
                if function.private {
                    self.out.push_str("private ");
                }
                let _ = write!(
                    self.out,
                    "function {}{} (",
                    function.name.name,
                    type_suffix(function.return_type)
                );
                for (i, param) in function.params.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    let _ = write!(self.out, "{}{}", param.name.name, type_suffix(param.ty));
                }
                self.out.push(')');
                if let Some(priority) = function.priority {
                    let _ = write!(self.out, " :{priority}");
                }
                self.out.push(' ');
                match &function.body {
                    FunctionBody::Block(block) => self.block(&block.stmts),
                    FunctionBody::Embedded(code) => self.out.push_str(&embedded_c(&code.code)),
                }
            }
            Item::Global(global) => {
                if global.private {
                    self.out.push_str("private ");
                }
                self.out.push_str("global ");
                for (i, var) in global.vars.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.out.push_str(&var.name.name);
                    if var.wrap {
                        self.out.push('%');
                    }
                    if let Some(size) = var.size {
                        let _ = write!(self.out, "[{size}]");
                    }
                    if let Some(init) = &var.init {
                        let _ = write!(self.out, " = {}", literal(init));
                    }
                }
            }
            Item::Embedded(code) => self.out.push_str(&embedded_c(&code.code)),
        }
        self.out.push('\n');
    }

    fn points(&mut self, points: &[ProbePoint]) {
        for (i, point) in points.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.point(point);
        }
    }

    fn point(&mut self, point: &ProbePoint) {
        self.probe_point(
            &point.components,
            point.optional,
            point.sufficient,
            point.condition.as_ref(),
        );
    }

    fn foreach(&mut self, foreach: &Foreach) {
        let sorted_key = foreach.sort.as_ref().and_then(|sort| match sort.column {
            SortColumn::Key(i) => Some((i, sort.direction)),
            SortColumn::Value => None,
        });
        self.foreach_start(
            foreach.value.as_ref().map(|v| v.name.as_str()),
            foreach.keys.iter().map(|k| k.name.as_str()),
            sorted_key,
        );
        self.indexable(&foreach.array);
        if let Some(slice) = &foreach.slice {
            self.index_list(slice);
        }
        let value_sort = foreach
            .sort
            .as_ref()
            .filter(|sort| sort.column == SortColumn::Value)
            .map(|sort| (sort.aggregate, sort.direction));
        self.foreach_end(value_sort, foreach.limit.as_ref(), &foreach.body);
    }

    fn indexable(&mut self, indexable: &Indexable) {
        match indexable {
            Indexable::Name(name) => self.out.push_str(&name.name),
            Indexable::Hist(hist) => self.hist(hist.kind, &hist.stat),
        }
    }

    fn index_list(&mut self, indexes: &[Option<Expr>]) {
        self.out.push('[');
        self.keys(indexes);
        self.out.push(']');
    }

    /// Prints `expr` where the grammar accepts only precedence `min` and
    /// up, adding parentheses when it binds looser.
    fn expr_at(&mut self, expr: &Expr, min: u8) {
        self.expr_parenthesized_if(expr, precedence(expr) < min);
    }

    fn expr_parenthesized_if(&mut self, expr: &Expr, parenthesize: bool) {
        if parenthesize {
            self.out.push('(');
            self.expr(expr);
            self.out.push(')');
        } else {
            self.expr(expr);
        }
    }
}

fn increment_symbol(op: IncrementOp) -> &'static str {
    match op {
        IncrementOp::Increment => "++",
        IncrementOp::Decrement => "--",
    }
}
