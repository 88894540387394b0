//! The `-p2` listing: the resolved program with inferred types, probes after
//! alias expansion, and the library files pulled in.

use std::fmt::Write as _;

use super::*;
use crate::ast::IncrementOp;
use crate::printer::{embedded_c, literal, quote, register, script_arg, TreePrinter};

/// Prints a validated program, deterministically.
pub fn print_program(program: &ValidProgram) -> String {
    let mut printer = Printer {
        program: program.program(),
        locals: &[],
        out: String::new(),
        indent: 0,
    };
    printer.program();
    printer.out
}

struct Printer<'p> {
    program: &'p Program,
    locals: &'p [Local],
    out: String,
    indent: usize,
}

/// `long`, `stats`, `[long, string]string`.
fn var_type(ty: &VarType) -> String {
    if ty.keys.is_empty() {
        return ty.value.name().to_string();
    }
    let keys: Vec<&str> = ty.keys.iter().map(|k| k.name()).collect();
    format!("[{}]{}", keys.join(", "), ty.value.name())
}

impl TreePrinter for Printer<'_> {
    type Expr = Expr;
    type Stmt = Stmt;

    fn out(&mut self) -> &mut String {
        &mut self.out
    }

    fn indent(&mut self) -> &mut usize {
        &mut self.indent
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Number(n) => {
                let _ = write!(self.out, "{n}");
            }
            ExprKind::String(s) => self.out.push_str(&quote(s)),
            ExprKind::Local(id) => self.out.push_str(self.local_name(*id)),
            ExprKind::Global(id) => self.out.push_str(self.global_name(*id)),
            ExprKind::Index { array, keys } => {
                let _ = write!(self.out, "{}[", self.global_name(*array));
                self.keys(keys);
                self.out.push(']');
            }
            ExprKind::HistBucket { hist, bucket } => {
                self.hist(hist.kind, &hist.stat);
                self.out.push('[');
                self.expr(bucket);
                self.out.push(']');
            }
            ExprKind::Call { function, args } => {
                let name = self
                    .program
                    .functions
                    .get(function.0 as usize)
                    .map_or("?", |f| f.name.as_str());
                let _ = write!(self.out, "{name}(");
                self.args(args);
                self.out.push(')');
            }
            ExprKind::Print(print) => {
                let _ = write!(self.out, "{}(", print.function.name());
                let mut first = true;
                for text in [
                    print.format.as_ref().map(|f| &f.text),
                    print.delimiter.as_ref(),
                ]
                .into_iter()
                .flatten()
                {
                    self.out.push_str(&quote(text));
                    first = false;
                }
                if let Some(hist) = &print.hist {
                    self.hist(hist.kind, &hist.stat);
                    first = false;
                }
                if !print.args.is_empty() && !first {
                    self.out.push_str(", ");
                }
                self.args(&print.args);
                self.out.push(')');
            }
            ExprKind::Unary { op, operand } => {
                let symbol = match op {
                    crate::ast::UnaryOp::Plus => "+",
                    crate::ast::UnaryOp::Neg => "-",
                    crate::ast::UnaryOp::Not => "!",
                    crate::ast::UnaryOp::BitNot => "~",
                };
                self.out.push_str(symbol);
                self.expr(operand);
            }
            ExprKind::Increment { op, prefix, target } => {
                let symbol = match op {
                    IncrementOp::Increment => "++",
                    IncrementOp::Decrement => "--",
                };
                if *prefix {
                    self.out.push_str(symbol);
                    self.expr(target);
                } else {
                    self.expr(target);
                    self.out.push_str(symbol);
                }
            }
            ExprKind::Binary { op, lhs, rhs } => {
                self.out.push('(');
                self.expr(lhs);
                let _ = write!(self.out, " {} ", op.symbol());
                self.expr(rhs);
                self.out.push(')');
            }
            ExprKind::Regex {
                subject,
                negated,
                pattern,
            } => {
                self.out.push('(');
                self.expr(subject);
                let _ = write!(
                    self.out,
                    " {} {})",
                    if *negated { "!~" } else { "=~" },
                    quote(pattern)
                );
            }
            ExprKind::Ternary {
                cond,
                then_value,
                else_value,
            } => {
                self.out.push('(');
                self.expr(cond);
                self.out.push_str(" ? ");
                self.expr(then_value);
                self.out.push_str(" : ");
                self.expr(else_value);
                self.out.push(')');
            }
            ExprKind::Assign { op, target, value } => {
                self.expr(target);
                let _ = write!(self.out, " {} ", op.symbol());
                self.expr(value);
            }
            ExprKind::In { keys, array } => {
                self.out.push_str("([");
                self.keys(keys);
                let _ = write!(self.out, "] in {})", self.global_name(*array));
            }
            ExprKind::Stat { op, operand, param } => self.stat(*op, operand, *param),
            ExprKind::Target(target) => self.target(target),
            ExprKind::Defined(inner) => self.at_operator("defined", inner),
            ExprKind::Entry(inner) => self.at_operator("entry", inner),
            ExprKind::Const(name) => {
                let _ = write!(self.out, "@const({})", quote(name));
            }
            ExprKind::Probewrite(name) => {
                let _ = write!(self.out, "@probewrite({name})");
            }
            ExprKind::Perf(name) => {
                let _ = write!(self.out, "@perf({})", quote(name));
            }
            ExprKind::Register { user, number } => self.out.push_str(&register(*user, *number)),
            ExprKind::Deref { user, size, addr } => self.deref(*user, *size, addr),
            ExprKind::Embedded(code) => self.out.push_str(&embedded_c(&code.code)),
            ExprKind::ScriptArg(arg) => self.out.push_str(&script_arg(*arg)),
        }
    }

    fn stmt(&mut self, stmt: &Stmt) {
        match &stmt.kind {
            StmtKind::Block(block) => self.block(&block.stmts),
            StmtKind::Expr(e) => self.expr(e),
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
            StmtKind::Break => self.out.push_str("break"),
            StmtKind::Continue => self.out.push_str("continue"),
            StmtKind::Next => self.out.push_str("next"),
            StmtKind::Return(value) => {
                self.out.push_str("return");
                if let Some(value) = value {
                    self.out.push(' ');
                    self.expr(value);
                }
            }
            StmtKind::Delete(target) => {
                self.out.push_str("delete ");
                self.expr(target);
            }
            StmtKind::Try {
                body,
                catch_var,
                catch_body,
            } => {
                let catch_var = catch_var.as_ref().map(|var| self.local_name(*var));
                self.try_stmt(&body.stmts, catch_var, &catch_body.stmts);
            }
        }
    }
}

impl<'p> Printer<'p> {
    fn program(&mut self) {
        let program = self.program;
        if program.library_files.is_empty() {
            self.out.push_str("# library files: none\n");
        } else {
            self.out.push_str("# library files:\n");
            for file in &program.library_files {
                let _ = writeln!(self.out, "#   {file}");
            }
        }
        let _ = writeln!(self.out, "# privilege: {}", program.privilege.name());
        for code in &program.embedded_c {
            let _ = writeln!(self.out, "{}", embedded_c(&code.code));
        }
        for global in &program.globals {
            let _ = write!(self.out, "global {}:{}", global.name, var_type(&global.ty));
            if let Some(size) = global.size {
                let _ = write!(
                    self.out,
                    " /* size {size}{} */",
                    if global.wrap { ", wraps" } else { "" }
                );
            } else if global.wrap {
                self.out.push_str(" /* wraps */");
            }
            if let Some(init) = &global.init {
                let _ = write!(self.out, " = {}", literal(init));
            }
            self.out.push('\n');
        }
        for function in &program.functions {
            self.function(function);
        }
        for probe in &program.probes {
            self.probe(probe);
        }
    }

    fn function(&mut self, function: &'p Function) {
        self.locals = &function.locals;
        let params: Vec<String> = function
            .params()
            .iter()
            .map(|p| format!("{}:{}", p.name, p.ty.name()))
            .collect();
        let _ = write!(
            self.out,
            "function {}:{} ({}) /* {}{} */ ",
            function.name,
            function.return_type.name(),
            params.join(", "),
            function.privilege.name(),
            if function.from_library {
                ", library"
            } else {
                ""
            },
        );
        match &function.body {
            FunctionBody::Script(body) => {
                self.out.push_str("{\n");
                self.indent += 1;
                self.local_declarations(function.param_count);
                self.lines(&body.stmts);
                self.indent -= 1;
                self.out.push_str("}\n");
            }
            FunctionBody::Embedded(code) => {
                let _ = writeln!(self.out, "%{{ {} %}}", pragma_list(code.pragmas));
            }
        }
    }

    fn probe(&mut self, probe: &'p Probe) {
        self.locals = &probe.locals;
        self.out.push_str("probe ");
        for (i, point) in probe.points.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.probe_point(
                &point.components,
                point.optional,
                point.sufficient,
                point.condition.as_ref(),
            );
        }
        let written: Vec<&str> = probe.points.iter().map(|p| p.written.as_str()).collect();
        let _ = write!(self.out, " /* <- {}", written.join(", "));
        if !probe.aliases.is_empty() {
            let _ = write!(self.out, " via {}", probe.aliases.join(", "));
        }
        let _ = writeln!(
            self.out,
            "; {}{} */ {{",
            probe.privilege.name(),
            if probe.from_library { ", library" } else { "" }
        );
        self.indent += 1;
        self.local_declarations(0);
        self.lines(&probe.body.stmts);
        self.indent -= 1;
        self.out.push_str("}\n");
    }

    fn local_declarations(&mut self, skip: usize) {
        for local in self.locals.iter().skip(skip) {
            self.line_start();
            let _ = writeln!(self.out, "local {}:{}", local.name, local.ty.name());
        }
    }

    fn local_name(&self, id: LocalId) -> &'p str {
        self.locals
            .get(id.0 as usize)
            .map_or("?", |l| l.name.as_str())
    }

    fn global_name(&self, id: GlobalId) -> &'p str {
        self.program
            .globals
            .get(id.0 as usize)
            .map_or("?", |g| g.name.as_str())
    }

    fn foreach(&mut self, foreach: &Foreach) {
        let sorted_key = foreach
            .sort
            .and_then(|sort| Some((sort.key?, sort.direction)));
        let keys: Vec<&str> = foreach.keys.iter().map(|k| self.local_name(*k)).collect();
        self.foreach_start(foreach.value.map(|v| self.local_name(v)), keys, sorted_key);
        match &foreach.source {
            Iterable::Global(id) => self.out.push_str(self.global_name(*id)),
            Iterable::Hist(hist) => self.hist(hist.kind, &hist.stat),
        }
        if let Some(slice) = &foreach.slice {
            self.out.push('[');
            self.keys(slice);
            self.out.push(']');
        }
        let value_sort = foreach
            .sort
            .filter(|sort| sort.key.is_none())
            .map(|sort| (sort.aggregate, sort.direction));
        self.foreach_end(value_sort, foreach.limit.as_ref(), &foreach.body);
    }
}

fn pragma_list(pragmas: Pragmas) -> String {
    let names: Vec<&str> = [
        (pragmas.pure, "pure"),
        (pragmas.unprivileged, "unprivileged"),
        (pragmas.myproc_unprivileged, "myproc-unprivileged"),
        (pragmas.guru, "guru"),
        (pragmas.string, "string"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    if names.is_empty() {
        "embedded C".to_string()
    } else {
        format!("embedded C: {}", names.join(", "))
    }
}
