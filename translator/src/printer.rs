//! Pretty-printer: renders a tree as SystemTap source (what `stap -p1`
//! shows). Compound operands are parenthesised, so the output parses back
//! to the same tree.

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

/// Renders one expression.
pub fn print_expr(expr: &Expr) -> String {
    let mut printer = Printer::default();
    printer.expr(expr);
    printer.out
}

#[derive(Default)]
struct Printer {
    out: String,
    indent: usize,
}

/// Quotes a string value (C escapes are kept; only quotes need escaping).
fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('"', "\\\""))
}

fn literal(lit: &Literal) -> String {
    match lit {
        Literal::Number(n) => n.to_string(),
        Literal::String(s) => quote(s),
    }
}

fn type_suffix(ty: Option<TypeAnnotation>) -> &'static str {
    match ty {
        None => "",
        Some(TypeAnnotation::Long) => ":long",
        Some(TypeAnnotation::String) => ":string",
    }
}

/// Expressions that need no parentheses as operands.
fn is_atom(expr: &Expr) -> bool {
    !matches!(
        expr.kind,
        ExprKind::Unary { .. }
            | ExprKind::PreIncrement { .. }
            | ExprKind::PostIncrement { .. }
            | ExprKind::Binary { .. }
            | ExprKind::Regex { .. }
            | ExprKind::Ternary { .. }
            | ExprKind::Assign { .. }
            | ExprKind::In { .. }
    )
}

impl Printer {
    fn line_start(&mut self) {
        for _ in 0..self.indent {
            self.out.push_str("  ");
        }
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Probe(probe) => {
                self.out.push_str("probe ");
                self.points(&probe.points);
                self.out.push(' ');
                self.block(&probe.body);
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
                        self.block(prologue);
                        self.out.push_str(", ");
                        self.block(epilogue);
                    }
                    (Some(body), None) | (None, Some(body)) => self.block(body),
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
                    FunctionBody::Block(block) => self.block(block),
                    FunctionBody::Embedded(code) => {
                        let _ = write!(self.out, "%{{{}%}}", code.code);
                    }
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
            Item::Embedded(code) => {
                let _ = write!(self.out, "%{{{}%}}", code.code);
            }
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
        for (i, component) in point.components.iter().enumerate() {
            if i > 0 {
                self.out.push('.');
            }
            self.out.push_str(&component.name);
            if let Some(arg) = &component.arg {
                let _ = write!(self.out, "({})", literal(arg));
            }
        }
        if point.sufficient {
            self.out.push('!');
        } else if point.optional {
            self.out.push('?');
        }
        if let Some(condition) = &point.condition {
            self.out.push_str(" if (");
            self.expr(condition);
            self.out.push(')');
        }
    }

    fn block(&mut self, block: &Block) {
        self.out.push_str("{\n");
        self.indent += 1;
        for stmt in &block.stmts {
            self.line_start();
            self.stmt(stmt);
            self.out.push('\n');
        }
        self.indent -= 1;
        self.line_start();
        self.out.push('}');
    }

    fn stmt(&mut self, stmt: &Stmt) {
        match &stmt.kind {
            StmtKind::Block(block) => self.block(block),
            StmtKind::Expr(expr) => {
                self.expr(expr);
                self.out.push(';');
            }
            StmtKind::If {
                cond,
                then_branch,
                else_branch,
            } => {
                self.out.push_str("if (");
                self.expr(cond);
                self.out.push_str(") ");
                self.stmt(then_branch);
                if let Some(else_branch) = else_branch {
                    self.out.push_str(" else ");
                    self.stmt(else_branch);
                }
            }
            StmtKind::While { cond, body } => {
                self.out.push_str("while (");
                self.expr(cond);
                self.out.push_str(") ");
                self.stmt(body);
            }
            StmtKind::For {
                init,
                cond,
                step,
                body,
            } => {
                self.out.push_str("for (");
                if let Some(init) = init {
                    self.expr(init);
                }
                self.out.push_str("; ");
                if let Some(cond) = cond {
                    self.expr(cond);
                }
                self.out.push_str("; ");
                if let Some(step) = step {
                    self.expr(step);
                }
                self.out.push_str(") ");
                self.stmt(body);
            }
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
                self.out.push_str("try ");
                self.block(body);
                self.out.push_str(" catch ");
                if let Some(var) = catch_var {
                    let _ = write!(self.out, "({}) ", var.name);
                }
                self.block(catch_body);
            }
            StmtKind::Empty => self.out.push(';'),
        }
    }

    fn sort_mark(direction: SortDirection) -> char {
        match direction {
            SortDirection::Ascending => '+',
            SortDirection::Descending => '-',
        }
    }

    fn foreach(&mut self, foreach: &Foreach) {
        self.out.push_str("foreach (");
        if let Some(value) = &foreach.value {
            let _ = write!(self.out, "{} = ", value.name);
        }
        self.out.push('[');
        for (i, key) in foreach.keys.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.out.push_str(&key.name);
            if let Some(sort) = &foreach.sort {
                if sort.column == SortColumn::Key(i) {
                    self.out.push(Self::sort_mark(sort.direction));
                }
            }
        }
        self.out.push_str("] in ");
        self.indexable(&foreach.array);
        if let Some(slice) = &foreach.slice {
            self.index_list(slice);
        }
        if let Some(sort) = &foreach.sort {
            if sort.column == SortColumn::Value {
                if let Some(aggregate) = sort.aggregate {
                    let _ = write!(self.out, " @{}", aggregate.name());
                }
                self.out.push(Self::sort_mark(sort.direction));
            }
        }
        if let Some(limit) = &foreach.limit {
            self.out.push_str(" limit ");
            self.expr(limit);
        }
        self.out.push_str(") ");
        self.stmt(&foreach.body);
    }

    fn indexable(&mut self, indexable: &Indexable) {
        match indexable {
            Indexable::Name(name) => self.out.push_str(&name.name),
            Indexable::Hist(hist) => self.hist(hist),
        }
    }

    fn hist(&mut self, hist: &HistOp) {
        match hist.kind {
            HistKind::Linear { .. } => self.out.push_str("@hist_linear("),
            HistKind::Log => self.out.push_str("@hist_log("),
        }
        self.expr(&hist.stat);
        if let HistKind::Linear { low, high, step } = hist.kind {
            let _ = write!(self.out, ", {low}, {high}, {step}");
        }
        self.out.push(')');
    }

    fn index_list(&mut self, indexes: &[Option<Expr>]) {
        self.out.push('[');
        for (i, index) in indexes.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            match index {
                Some(expr) => self.expr(expr),
                None => self.out.push('*'),
            }
        }
        self.out.push(']');
    }

    fn args(&mut self, args: &[Expr]) {
        for (i, arg) in args.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.expr(arg);
        }
    }

    fn operand(&mut self, expr: &Expr) {
        if is_atom(expr) {
            self.expr(expr);
        } else {
            self.out.push('(');
            self.expr(expr);
            self.out.push(')');
        }
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
                    self.hist(hist);
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
                self.operand(operand);
            }
            ExprKind::PreIncrement { op, operand } => {
                self.out.push_str(increment_symbol(*op));
                self.operand(operand);
            }
            ExprKind::PostIncrement { op, operand } => {
                self.operand(operand);
                self.out.push_str(increment_symbol(*op));
            }
            ExprKind::Binary { op, lhs, rhs } => {
                self.operand(lhs);
                let _ = write!(self.out, " {} ", op.symbol());
                self.operand(rhs);
            }
            ExprKind::Regex {
                subject,
                negated,
                pattern,
            } => {
                self.operand(subject);
                self.out.push_str(if *negated { " !~ " } else { " =~ " });
                self.out.push_str(&quote(pattern));
            }
            ExprKind::Ternary {
                cond,
                then_value,
                else_value,
            } => {
                self.operand(cond);
                self.out.push_str(" ? ");
                self.operand(then_value);
                self.out.push_str(" : ");
                self.operand(else_value);
            }
            ExprKind::Assign { op, target, value } => {
                self.operand(target);
                let _ = write!(self.out, " {} ", op.symbol());
                self.operand(value);
            }
            ExprKind::In { keys, array } => {
                self.index_list(keys);
                self.out.push_str(" in ");
                self.indexable(array);
            }
            ExprKind::Stat { op, operand, param } => {
                let _ = write!(self.out, "@{}(", op.name());
                self.expr(operand);
                if let Some(param) = param {
                    let _ = write!(self.out, ", {param}");
                }
                self.out.push(')');
            }
            ExprKind::Target(target) => self.target(target),
            ExprKind::Defined(operand) => {
                self.out.push_str("@defined(");
                self.expr(operand);
                self.out.push(')');
            }
            ExprKind::Entry(operand) => {
                self.out.push_str("@entry(");
                self.expr(operand);
                self.out.push(')');
            }
            ExprKind::Const(name) => {
                let _ = write!(self.out, "@const({})", quote(name));
            }
            ExprKind::Perf(name) => {
                let _ = write!(self.out, "@perf({})", quote(name));
            }
            ExprKind::Probewrite(var) => {
                let _ = write!(self.out, "@probewrite({})", var.name);
            }
            ExprKind::Register { user, number } => {
                let which = if *user { "uregister" } else { "kregister" };
                let _ = write!(self.out, "@{which}({number})");
            }
            ExprKind::Deref { user, size, addr } => {
                let which = if *user { "uderef" } else { "kderef" };
                let _ = write!(self.out, "@{which}({size}, ");
                self.expr(addr);
                self.out.push(')');
            }
            ExprKind::Embedded(code) => {
                let _ = write!(self.out, "%{{{code}%}}");
            }
            ExprKind::ScriptArg(arg) => {
                self.out.push(if arg.string { '@' } else { '$' });
                match arg.index {
                    Some(i) => {
                        let _ = write!(self.out, "{i}");
                    }
                    None => self.out.push('#'),
                }
            }
        }
    }

    fn target(&mut self, target: &TargetExpr) {
        if target.address_of {
            self.out.push('&');
        }
        match &target.base {
            TargetBase::Var(name) => self.out.push_str(name),
            TargetBase::Cast {
                operand,
                type_name,
                module,
            } => {
                self.out.push_str("@cast(");
                self.expr(operand);
                let _ = write!(self.out, ", {}", quote(type_name));
                if let Some(module) = module {
                    let _ = write!(self.out, ", {}", quote(module));
                }
                self.out.push(')');
            }
            TargetBase::AtVar { name, module } => {
                let _ = write!(self.out, "@var({}", quote(name));
                if let Some(module) = module {
                    let _ = write!(self.out, ", {}", quote(module));
                }
                self.out.push(')');
            }
            TargetBase::Autocast(operand) => {
                self.out.push('(');
                self.expr(operand);
                self.out.push(')');
            }
        }
        for component in &target.components {
            match component {
                TargetComponent::Member(name) => {
                    let _ = write!(self.out, "->{}", name.name);
                }
                TargetComponent::Index(index) => {
                    self.out.push('[');
                    self.expr(index);
                    self.out.push(']');
                }
                TargetComponent::PrettyPrint { deep, .. } => {
                    self.out.push_str(if *deep { "$$" } else { "$" });
                }
            }
        }
    }
}

fn increment_symbol(op: IncrementOp) -> &'static str {
    match op {
        IncrementOp::Increment => "++",
        IncrementOp::Decrement => "--",
    }
}
