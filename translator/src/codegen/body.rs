//! Probe and function bodies: statements and expressions to C.
//!
//! Expressions are flattened: whatever has an effect or may fail (calls,
//! assignments, division, array access, strings) is emitted as statements
//! before the statement that uses it, and an expression's value is a C
//! expression without side effects (a constant, a variable or a
//! temporary). Operands are evaluated left to right: an operand whose
//! value a later operand's statements could change is copied first.
//!
//! Errors jump to the current failure label: the end of the handler or
//! function (`out`), or the catch block of the innermost `try`. Strings
//! and array keys live in the per-CPU locals struct of the body (`l->`),
//! never on the kernel stack; long temporaries are C locals.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::c::{c_string, conversion_spec, decode_escapes, format_text, long_literal};
use super::Generator;
use crate::ast::{AssignOp, BinaryOp, IncrementOp, PrintFn, SortDirection, StatOp, UnaryOp};
use crate::diagnostic::Span;
use crate::ir::{
    Block, Expr, ExprKind, Foreach, FormatCount, FormatPiece, GlobalId, Iterable, Local, Print,
    Stmt, StmtKind, Type,
};

/// What the body belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Probe,
    Function { returns: Type },
}

/// A generated body: its statements, the C locals they need, and the
/// fields of its per-CPU locals struct.
pub struct CompiledBody {
    pub code: String,
    pub c_locals: Vec<String>,
    pub fields: Vec<String>,
    /// Whether anything jumps to the `out` label.
    pub out_used: bool,
}

/// A value: C text, and whether later code cannot change it (a constant
/// or a temporary), so it need not be copied to keep evaluation order.
#[derive(Clone)]
struct Value {
    c: String,
    stable: bool,
}

impl Value {
    fn stable(c: impl Into<String>) -> Value {
        Value {
            c: c.into(),
            stable: true,
        }
    }

    fn place(c: impl Into<String>) -> Value {
        Value {
            c: c.into(),
            stable: false,
        }
    }
}

/// Where `continue` goes in the innermost loop: the top of the C loop, or
/// the label before a `for` loop's step.
struct LoopCx {
    step_label: Option<String>,
}

pub struct BodyGen<'g, 'p> {
    g: &'g mut Generator<'p>,
    locals: &'p [Local],
    local_names: Vec<String>,
    kind: BodyKind,
    out: String,
    indent: usize,
    c_locals: Vec<String>,
    fields: Vec<String>,
    next_temp: u32,
    fail_label: String,
    used_labels: BTreeSet<String>,
    loops: Vec<LoopCx>,
}

impl<'g, 'p> BodyGen<'g, 'p> {
    pub fn new(g: &'g mut Generator<'p>, locals: &'p [Local], kind: BodyKind) -> Self {
        let mut local_names: Vec<String> = Vec::new();
        for local in locals {
            let base = format!("local_{}", super::c::ident(&local.name));
            let mut name = base.clone();
            let mut n = 1;
            while local_names.contains(&name) {
                n += 1;
                name = format!("{base}_{n}");
            }
            local_names.push(name);
        }
        let fields = locals
            .iter()
            .zip(&local_names)
            .map(|(local, name)| match local.ty {
                Type::String => format!("char {name}[MAXSTRINGLEN];"),
                _ => format!("int64_t {name};"),
            })
            .collect();
        BodyGen {
            g,
            locals,
            local_names,
            kind,
            out: String::new(),
            indent: 1,
            c_locals: Vec::new(),
            fields,
            next_temp: 0,
            fail_label: "out".to_string(),
            used_labels: BTreeSet::new(),
            loops: Vec::new(),
        }
    }

    /// Statements zeroing the locals (SystemTap starts each with 0 or "").
    /// `skip` locals are set otherwise (function parameters).
    pub fn init_locals(&mut self, skip: usize) {
        for index in skip..self.locals.len() {
            let name = &self.local_names[index];
            let line = match self.locals[index].ty {
                Type::String => format!("l->{name}[0] = '\\0';"),
                _ => format!("l->{name} = 0;"),
            };
            self.line(&line);
        }
    }

    pub fn local_field(&self, index: usize) -> String {
        format!("l->{}", self.local_names[index])
    }

    pub fn block_body(&mut self, block: &'p Block) {
        self.block(block);
    }

    pub fn line(&mut self, text: &str) {
        for _ in 0..self.indent {
            self.out.push('\t');
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    pub fn finish(self) -> CompiledBody {
        CompiledBody {
            code: self.out,
            c_locals: self.c_locals,
            fields: self.fields,
            out_used: self.used_labels.contains("out"),
        }
    }

    // ---- temporaries and jumps ----

    fn temp_number(&mut self) -> u32 {
        self.next_temp += 1;
        self.next_temp
    }

    fn long_temp(&mut self) -> String {
        let n = self.temp_number();
        self.c_locals.push(format!("int64_t t{n};"));
        format!("t{n}")
    }

    fn pointer_temp(&mut self) -> String {
        let n = self.temp_number();
        self.c_locals.push(format!("void *p{n};"));
        format!("p{n}")
    }

    fn index_temp(&mut self) -> String {
        let n = self.temp_number();
        self.c_locals.push(format!("u32 e{n};"));
        format!("e{n}")
    }

    fn string_temp(&mut self) -> String {
        let n = self.temp_number();
        self.fields.push(format!("char tmp_{n}[MAXSTRINGLEN];"));
        format!("l->tmp_{n}")
    }

    fn key_temp(&mut self, array: GlobalId) -> String {
        let n = self.temp_number();
        let key_type = self.g.key_type(array);
        self.fields.push(format!("{key_type} key_{n};"));
        format!("l->key_{n}")
    }

    fn jump_to_failure(&mut self) -> String {
        self.used_labels.insert(self.fail_label.clone());
        format!("goto {};", self.fail_label)
    }

    fn check_failed(&mut self) {
        let jump = self.jump_to_failure();
        self.line(&format!("if (unlikely(stp_failed(ctx))) {jump}"));
    }

    fn count_actions(&mut self, count: usize, span: Span) {
        let location = self.g.location(span);
        let jump = self.jump_to_failure();
        self.line(&format!(
            "if (unlikely(!stp_actions(ctx, &area->lang, {count}, {location}))) {jump}"
        ));
    }

    fn is_stats(&self, global: GlobalId) -> bool {
        self.g.program.globals[global.0 as usize].ty.value == Type::Stats
    }

    /// The merged aggregate of a statistics operand (`s` or `a[k]`), as a
    /// pointer that is NULL for an array element never added to.
    fn merged_stat(&mut self, operand: &'p Expr) -> Option<(GlobalId, String)> {
        match &operand.kind {
            ExprKind::Global(g) => {
                let found = self.pointer_temp();
                let (kind, name) = (self.g.stat_kind(*g), self.g.global_name(*g));
                self.line(&format!(
                    "{found} = (void *)stp_stat_var_read({kind}, &{name});"
                ));
                Some((*g, found))
            }
            ExprKind::Index { array, keys } if keys.iter().all(Option::is_some) => {
                let key = self.key(*array, keys);
                let found = self.pointer_temp();
                let (kind, name) = (self.g.stat_kind(*array), self.g.global_name(*array));
                self.line(&format!(
                    "{found} = (void *)stp_stat_map_get({kind}, &{name}, &{key});"
                ));
                Some((*array, found))
            }
            _ => {
                self.unsupported(operand.span, "this statistics operand");
                None
            }
        }
    }

    /// Merges a statistics array for iteration; the merged map's name.
    fn merged_map(&mut self, array: GlobalId, span: Span) -> String {
        let (kind, name) = (self.g.stat_kind(array), self.g.global_name(array));
        let location = self.g.location(span);
        let jump = self.jump_to_failure();
        self.line(&format!(
            "if (unlikely(!stp_stat_map_merge({kind}, &{name}))) {{"
        ));
        self.line(&format!(
            "\tstp_map_overflow(ctx, {location}, &{name}.merged);"
        ));
        self.line(&format!("\t{jump}"));
        self.line("}");
        format!("&{name}.merged")
    }

    fn unsupported(&mut self, span: Span, what: &str) -> Value {
        self.g.unsupported(span, what);
        Value::stable("0")
    }

    // ---- statements ----

    fn block(&mut self, block: &'p Block) {
        if !block.stmts.is_empty() {
            self.count_actions(block.stmts.len(), block.span);
        }
        for stmt in &block.stmts {
            self.stmt(stmt);
        }
    }

    /// A statement that is a loop body or branch: counted like a block.
    fn nested(&mut self, stmt: &'p Stmt) {
        match &stmt.kind {
            StmtKind::Block(block) => self.block(block),
            _ => {
                self.count_actions(1, stmt.span);
                self.stmt(stmt);
            }
        }
    }

    fn stmt(&mut self, stmt: &'p Stmt) {
        match &stmt.kind {
            StmtKind::Block(block) => self.block(block),
            StmtKind::Expr(expr) => {
                self.expr(expr);
            }
            StmtKind::If {
                cond,
                then_branch,
                else_branch,
            } => {
                let cond = self.expr(cond);
                self.line(&format!("if ({}) {{", cond.c));
                self.indent += 1;
                self.nested(then_branch);
                self.indent -= 1;
                if let Some(else_branch) = else_branch {
                    self.line("} else {");
                    self.indent += 1;
                    self.nested(else_branch);
                    self.indent -= 1;
                }
                self.line("}");
            }
            StmtKind::While { cond, body } => {
                self.line("for (;;) {");
                self.indent += 1;
                let cond = self.expr(cond);
                self.line(&format!("if (!({}))", cond.c));
                self.line("\tbreak;");
                self.loop_body(body, None);
                self.indent -= 1;
                self.line("}");
            }
            StmtKind::For {
                init,
                cond,
                step,
                body,
            } => {
                if let Some(init) = init {
                    self.expr(init);
                }
                let step_label = format!("step_{}", self.temp_number());
                self.line("for (;;) {");
                self.indent += 1;
                if let Some(cond) = cond {
                    let cond = self.expr(cond);
                    self.line(&format!("if (!({}))", cond.c));
                    self.line("\tbreak;");
                }
                self.loop_body(body, Some(step_label.clone()));
                if self.used_labels.contains(&step_label) {
                    self.out.push_str(&format!("{step_label}:\n"));
                    self.line(";");
                }
                if let Some(step) = step {
                    self.expr(step);
                }
                self.indent -= 1;
                self.line("}");
            }
            StmtKind::Foreach(foreach) => self.foreach(foreach, stmt.span),
            StmtKind::Break => self.line("break;"),
            StmtKind::Continue => match self.loops.last().and_then(|l| l.step_label.clone()) {
                Some(label) => {
                    self.line(&format!("goto {label};"));
                    self.used_labels.insert(label);
                }
                None => self.line("continue;"),
            },
            StmtKind::Next => match self.kind {
                BodyKind::Probe => {
                    self.used_labels.insert("out".to_string());
                    self.line("goto out;");
                }
                BodyKind::Function { .. } => {
                    self.unsupported(stmt.span, "`next` in a function");
                }
            },
            StmtKind::Return(value) => {
                if let (Some(value), BodyKind::Function { returns }) = (value, self.kind) {
                    let value = self.expr(value);
                    match returns {
                        Type::String => {
                            self.line(&format!("stp_string_copy(stp_ret, {});", value.c))
                        }
                        Type::Long => self.line(&format!("stp_ret = {};", value.c)),
                        _ => {}
                    }
                }
                self.used_labels.insert("out".to_string());
                self.line("goto out;");
            }
            StmtKind::Delete(target) => self.delete(target),
            StmtKind::Try {
                body,
                catch_var,
                catch_body,
            } => self.try_catch(body, *catch_var, catch_body),
        }
    }

    /// A loop iteration: one action for the iteration and one per
    /// statement of the body, counted at once.
    fn loop_body(&mut self, body: &'p Stmt, step_label: Option<String>) {
        self.loops.push(LoopCx { step_label });
        match &body.kind {
            StmtKind::Block(block) => {
                self.count_actions(1 + block.stmts.len(), body.span);
                for stmt in &block.stmts {
                    self.stmt(stmt);
                }
            }
            _ => {
                self.count_actions(2, body.span);
                self.stmt(body);
            }
        }
        self.loops.pop();
    }

    fn try_catch(
        &mut self,
        body: &'p Block,
        catch_var: Option<crate::ir::LocalId>,
        catch_body: &'p Block,
    ) {
        let n = self.temp_number();
        let catch_label = format!("catch_{n}");
        let end_label = format!("end_try_{n}");
        let outer = std::mem::replace(&mut self.fail_label, catch_label.clone());
        self.line("/* try */");
        self.block(body);
        self.fail_label = outer;
        if !self.used_labels.contains(&catch_label) {
            // Nothing in the body can fail: the catch block cannot run.
            return;
        }
        self.line(&format!("goto {end_label};"));
        self.out.push_str(&format!("{catch_label}:\n"));
        let message = match catch_var {
            Some(local) => self.local_field(local.0 as usize),
            None => "NULL".to_string(),
        };
        let jump = self.jump_to_failure();
        self.line(&format!("if (!stp_catch(ctx, &area->lang, {message}))"));
        self.line(&format!("\t{jump}"));
        self.block(catch_body);
        self.out.push_str(&format!("{end_label}:\n"));
        self.line(";");
    }

    fn foreach(&mut self, foreach: &'p Foreach, span: Span) {
        let array = match &foreach.source {
            Iterable::Global(array) => *array,
            Iterable::Hist(hist) => return self.foreach_hist(foreach, hist, span),
        };
        let global_ty = self.g.program.globals[array.0 as usize].ty.clone();
        let key_type = self.g.key_type(array);
        // Stats arrays sort by one aggregate (@count unless one is given).
        let stat_field = match foreach.sort.map(|s| s.aggregate) {
            Some(aggregate) if global_ty.value == Type::Stats => {
                match aggregate.unwrap_or(StatOp::Count) {
                    StatOp::Count => Some("count"),
                    StatOp::Sum => Some("sum"),
                    StatOp::Min => Some("min"),
                    StatOp::Max => Some("max"),
                    StatOp::Avg => Some("avg"),
                    StatOp::Variance => {
                        self.unsupported(span, "sorting by @variance");
                        return;
                    }
                }
            }
            _ => None,
        };
        let limit = foreach.limit.as_ref().map(|limit| {
            let value = self.expr(limit);
            let temp = self.long_temp();
            self.line(&format!("{temp} = {};", value.c));
            temp
        });
        // Evaluated once, before the loop, as SystemTap does.
        let slice: Option<Vec<Option<Value>>> = foreach.slice.as_ref().map(|keys| {
            let parts = self.key_parts(keys);
            parts
                .into_iter()
                .zip(&global_ty.keys)
                .map(|(part, ty)| part.map(|v| self.stabilize(v, *ty)))
                .collect()
        });
        // Statistics arrays iterate over the merge of every CPU's map.
        let map = if global_ty.value == Type::Stats {
            self.merged_map(array, span)
        } else {
            format!("&{}", self.g.global_name(array))
        };
        let entry = self.index_temp();
        let count = limit.as_ref().map(|_| self.long_temp());
        if let Some(count) = &count {
            self.line(&format!("{count} = 0;"));
        }
        match foreach.sort {
            None => {
                let next = self.index_temp();
                self.line(&format!(
                    "for ({entry} = stp_map_first({map}); {entry} != STP_MAP_END; {entry} = {next}) {{"
                ));
                self.indent += 1;
                // Taken first: the body may delete the entry it visits.
                self.line(&format!("{next} = stp_map_next({map}, {entry});"));
            }
            Some(sort) => {
                let n = self.temp_number();
                let capacity = self.g.capacity(array);
                self.fields.push(format!("u32 order_{n}[{capacity}];"));
                self.fields.push(format!("u32 scratch_{n}[{capacity}];"));
                let (by_value, string, offset) = match sort.key {
                    None => (
                        true,
                        global_ty.value == Type::String,
                        stat_field.map_or("0".to_string(), |f| {
                            format!("offsetof(struct stp_stat, {f})")
                        }),
                    ),
                    Some(i) => (
                        false,
                        global_ty.keys[i] == Type::String,
                        format!("offsetof({key_type}, k{i})"),
                    ),
                };
                let position = self.index_temp();
                let total = self.index_temp();
                self.line(&format!(
                    "{total} = stp_map_sorted({map}, &(const struct stp_map_sort){{ .by_value = {by_value}, .string = {string}, .descending = {}, .offset = {offset} }}, l->order_{n}, l->scratch_{n});",
                    sort.direction == SortDirection::Descending
                ));
                self.line(&format!(
                    "for ({position} = 0; {position} < {total}; {position}++) {{"
                ));
                self.indent += 1;
                self.line(&format!("{entry} = l->order_{n}[{position}];"));
            }
        }
        if let Some(slice) = &slice {
            let matches = self.key_match(array, &format!("stp_map_key({map}, {entry})"), slice);
            self.line(&format!("if (!({matches}))"));
            self.line("\tcontinue;");
        }
        if let (Some(limit), Some(count)) = (&limit, &count) {
            self.line(&format!("if ({count}++ >= {limit})"));
            self.line("\tbreak;");
        }
        for (i, key) in foreach.keys.iter().enumerate() {
            let field = self.local_field(key.0 as usize);
            let source = format!("(({key_type} *)stp_map_key({map}, {entry}))->k{i}");
            match global_ty.keys[i] {
                Type::String => self.line(&format!("stp_string_copy({field}, {source});")),
                _ => self.line(&format!("{field} = {source};")),
            }
        }
        if let Some(value) = foreach.value {
            let field = self.local_field(value.0 as usize);
            match global_ty.value {
                Type::String => self.line(&format!(
                    "stp_string_copy({field}, stp_map_value({map}, {entry}));"
                )),
                _ => self.line(&format!(
                    "{field} = *(int64_t *)stp_map_value({map}, {entry});"
                )),
            }
        }
        self.loop_body(&foreach.body, None);
        self.indent -= 1;
        self.line("}");
    }

    /// `foreach (bucket in @hist_*(s))`: every bucket of the histogram, in
    /// order, empty ones included.
    fn foreach_hist(&mut self, foreach: &'p Foreach, hist: &'p crate::ir::Hist, span: Span) {
        if foreach.sort.is_some() || foreach.slice.is_some() || foreach.keys.len() != 1 {
            self.unsupported(span, "sorting or slicing a histogram's buckets");
            return;
        }
        let limit = foreach.limit.as_ref().map(|limit| {
            let value = self.expr(limit);
            let temp = self.long_temp();
            self.line(&format!("{temp} = {};", value.c));
            temp
        });
        let Some((global, stat)) = self.merged_stat(&hist.stat) else {
            return;
        };
        let kind = self.g.stat_kind(global);
        let bucket = self.local_field(foreach.keys[0].0 as usize);
        let count = limit.as_ref().map(|_| self.long_temp());
        if let Some(count) = &count {
            self.line(&format!("{count} = 0;"));
        }
        self.line(&format!(
            "for ({bucket} = 0; {bucket} < ({kind})->buckets; {bucket}++) {{"
        ));
        self.indent += 1;
        if let (Some(limit), Some(count)) = (&limit, &count) {
            self.line(&format!("if ({count}++ >= {limit})"));
            self.line("\tbreak;");
        }
        if let Some(value) = foreach.value {
            let field = self.local_field(value.0 as usize);
            self.line(&format!(
                "{field} = {stat} ? ((const struct stp_stat *){stat})->hist[{bucket}] : 0;"
            ));
        }
        self.loop_body(&foreach.body, None);
        self.indent -= 1;
        self.line("}");
    }

    /// C condition: the key at `key` (a pointer expression) matches the
    /// given parts (`None` is `*`).
    fn key_match(&mut self, array: GlobalId, key: &str, parts: &[Option<Value>]) -> String {
        let key_type = self.g.key_type(array);
        let key_types = self.g.program.globals[array.0 as usize].ty.keys.clone();
        let tests: Vec<String> = parts
            .iter()
            .enumerate()
            .filter_map(|(i, part)| {
                let part = part.as_ref()?;
                let field = format!("(({key_type} *){key})->k{i}");
                Some(match key_types[i] {
                    Type::String => format!("!strcmp({field}, {})", part.c),
                    _ => format!("{field} == {}", part.c),
                })
            })
            .collect();
        if tests.is_empty() {
            "1".to_string()
        } else {
            tests.join(" && ")
        }
    }

    fn delete(&mut self, target: &'p Expr) {
        match &target.kind {
            ExprKind::Global(g) => {
                let global = &self.g.program.globals[g.0 as usize];
                let name = self.g.global_name(*g);
                if global.ty.is_array() && global.ty.value == Type::Stats {
                    self.line(&format!("stp_stat_map_clear(&{name});"));
                } else if global.ty.is_array() {
                    self.line(&format!("stp_map_clear(&{name});"));
                } else if global.ty.value == Type::Stats {
                    let kind = self.g.stat_kind(*g);
                    self.line(&format!("stp_stat_var_clear({kind}, &{name});"));
                } else if global.ty.value == Type::String {
                    self.line(&format!("{name}[0] = '\\0';"));
                } else {
                    self.line(&format!("{name} = 0;"));
                }
            }
            ExprKind::Local(local) => {
                let field = self.local_field(local.0 as usize);
                match target.ty {
                    Type::String => self.line(&format!("{field}[0] = '\\0';")),
                    _ => self.line(&format!("{field} = 0;")),
                }
            }
            ExprKind::Index { array, keys } if keys.iter().all(Option::is_some) => {
                let key = self.key(*array, keys);
                let name = self.g.global_name(*array);
                let delete = if self.is_stats(*array) {
                    "stp_stat_map_delete"
                } else {
                    "stp_map_delete"
                };
                self.line(&format!("{delete}(&{name}, &{key});"));
            }
            ExprKind::Index { array, keys } => {
                let parts = self.key_parts(keys);
                let name = self.g.global_name(*array);
                // A statistics array deletes from every CPU's map.
                let map = if self.is_stats(*array) {
                    let cpu = format!("c{}", self.temp_number());
                    self.c_locals.push(format!("int {cpu};"));
                    self.line(&format!("for_each_possible_cpu({cpu}) {{"));
                    self.indent += 1;
                    format!("stp_stat_map_cpu(&{name}, {cpu})")
                } else {
                    format!("&{name}")
                };
                let entry = self.index_temp();
                let next = self.index_temp();
                let matches =
                    self.key_match(*array, &format!("stp_map_key({map}, {entry})"), &parts);
                self.line(&format!(
                    "for ({entry} = stp_map_first({map}); {entry} != STP_MAP_END; {entry} = {next}) {{"
                ));
                self.line(&format!("\t{next} = stp_map_next({map}, {entry});"));
                self.line(&format!("\tif ({matches})"));
                self.line(&format!("\t\tstp_map_delete_entry({map}, {entry});"));
                self.line("}");
                if self.is_stats(*array) {
                    self.indent -= 1;
                    self.line("}");
                }
            }
            _ => {
                self.unsupported(target.span, "this `delete`");
            }
        }
    }

    // ---- expressions ----

    /// Evaluates `exprs` left to right; each value stays what it was when
    /// evaluated.
    fn operands(&mut self, exprs: &[&'p Expr]) -> Vec<Value> {
        let mut parts = Vec::new();
        for expr in exprs {
            let saved = std::mem::take(&mut self.out);
            let value = self.expr(expr);
            let prelude = std::mem::replace(&mut self.out, saved);
            parts.push((prelude, value, expr.ty));
        }
        let mut values = Vec::new();
        for i in 0..parts.len() {
            self.out.push_str(&parts[i].0);
            let later_effects = parts[i + 1..].iter().any(|(p, _, _)| !p.is_empty());
            let value = parts[i].1.clone();
            values.push(if later_effects {
                self.stabilize(value, parts[i].2)
            } else {
                value
            });
        }
        values
    }

    /// Copies a value that later code might change into a temporary.
    fn stabilize(&mut self, value: Value, ty: Type) -> Value {
        if value.stable {
            return value;
        }
        match ty {
            Type::String => {
                let temp = self.string_temp();
                self.line(&format!("stp_string_copy({temp}, {});", value.c));
                Value::stable(temp)
            }
            _ => {
                let temp = self.long_temp();
                self.line(&format!("{temp} = {};", value.c));
                Value::stable(temp)
            }
        }
    }

    fn key_parts(&mut self, keys: &'p [Option<Expr>]) -> Vec<Option<Value>> {
        let present: Vec<&'p Expr> = keys.iter().flatten().collect();
        let mut values = self.operands(&present).into_iter();
        keys.iter()
            .map(|k| {
                k.as_ref()
                    .map(|_| values.next().expect("one value per key"))
            })
            .collect()
    }

    /// Builds the key of `array[keys]` (no wildcards) in a key temporary.
    fn key(&mut self, array: GlobalId, keys: &'p [Option<Expr>]) -> String {
        let parts = self.key_parts(keys);
        self.key_from(array, &parts)
    }

    fn key_from(&mut self, array: GlobalId, parts: &[Option<Value>]) -> String {
        let key = self.key_temp(array);
        let key_types = self.g.program.globals[array.0 as usize].ty.keys.clone();
        // Zeroed whole: keys compare and hash as bytes, padding included.
        self.line(&format!("memset(&{key}, 0, sizeof({key}));"));
        for (i, part) in parts.iter().enumerate() {
            let value = part.as_ref().map_or("0", |v| v.c.as_str());
            match key_types[i] {
                Type::String => self.line(&format!("stp_string_copy({key}.k{i}, {value});")),
                _ => self.line(&format!("{key}.k{i} = {value};")),
            }
        }
        key
    }

    /// The value slot of `array[keys]`, created if absent (raising the
    /// overflow error when the array is full).
    fn slot(&mut self, array: GlobalId, key: &str, span: Span) -> String {
        let name = self.g.global_name(array);
        // A statistics array adds to this CPU's map.
        let map = if self.is_stats(array) {
            format!("stp_stat_map_cpu(&{name}, smp_processor_id())")
        } else {
            format!("&{name}")
        };
        let slot = self.pointer_temp();
        let location = self.g.location(span);
        self.line(&format!("{slot} = stp_map_set({map}, &{key});"));
        let jump = self.jump_to_failure();
        self.line(&format!("if (unlikely(!{slot})) {{"));
        self.line(&format!("\tstp_map_overflow(ctx, {location}, {map});"));
        self.line(&format!("\t{jump}"));
        self.line("}");
        slot
    }

    fn expr(&mut self, expr: &'p Expr) -> Value {
        match &expr.kind {
            ExprKind::Number(n) => Value::stable(long_literal(*n)),
            ExprKind::String(text) => {
                let mut bytes = decode_escapes(text);
                bytes.truncate(self.g.max_string_len - 1);
                Value::stable(c_string(&bytes))
            }
            ExprKind::Local(local) => Value::place(self.local_field(local.0 as usize)),
            ExprKind::Global(g) => Value::place(self.g.global_name(*g)),
            ExprKind::Index { array, keys } => {
                let key = self.key(*array, keys);
                let name = self.g.global_name(*array);
                let found = self.pointer_temp();
                self.line(&format!("{found} = stp_map_get(&{name}, &{key});"));
                if expr.ty == Type::String {
                    let temp = self.string_temp();
                    self.line(&format!(
                        "stp_string_copy({temp}, {found} ? (const char *){found} : \"\");"
                    ));
                    Value::stable(temp)
                } else {
                    let temp = self.long_temp();
                    self.line(&format!("{temp} = {found} ? *(int64_t *){found} : 0;"));
                    Value::stable(temp)
                }
            }
            ExprKind::In { keys, array } => {
                let name = self.g.global_name(*array);
                let temp = self.long_temp();
                let stats = self.is_stats(*array);
                if keys.iter().all(Option::is_some) {
                    let key = self.key(*array, keys);
                    let get = if stats {
                        let kind = self.g.stat_kind(*array);
                        format!("stp_stat_map_get({kind}, &{name}, &{key})")
                    } else {
                        format!("stp_map_get(&{name}, &{key})")
                    };
                    self.line(&format!("{temp} = {get} != NULL;"));
                } else {
                    let parts = self.key_parts(keys);
                    let map = if stats {
                        self.merged_map(*array, expr.span)
                    } else {
                        format!("&{name}")
                    };
                    let entry = self.index_temp();
                    let matches =
                        self.key_match(*array, &format!("stp_map_key({map}, {entry})"), &parts);
                    self.line(&format!("{temp} = 0;"));
                    self.line(&format!(
                        "for ({entry} = stp_map_first({map}); {entry} != STP_MAP_END; {entry} = stp_map_next({map}, {entry})) {{"
                    ));
                    self.line(&format!("\tif ({matches}) {{"));
                    self.line(&format!("\t\t{temp} = 1;"));
                    self.line("\t\tbreak;");
                    self.line("\t}");
                    self.line("}");
                }
                Value::stable(temp)
            }
            ExprKind::Call { function, args } => self.call(*function, args, expr),
            ExprKind::Print(print) => self.print(print, expr),
            ExprKind::Unary { op, operand } => {
                // Folded: C rejects negating the most negative literal,
                // which wraps to itself in SystemTap.
                if let (UnaryOp::Neg, ExprKind::Number(n)) = (op, &operand.kind) {
                    return Value::stable(long_literal(n.wrapping_neg()));
                }
                let value = self.expr(operand);
                let c = match op {
                    UnaryOp::Plus => return value,
                    UnaryOp::Neg => format!("(-{})", value.c),
                    UnaryOp::Not => format!("(!{})", value.c),
                    UnaryOp::BitNot => format!("(~{})", value.c),
                };
                Value { c, ..value }
            }
            ExprKind::Increment { op, prefix, target } => {
                let sign = match op {
                    IncrementOp::Increment => "++",
                    IncrementOp::Decrement => "--",
                };
                let place = self.place(target);
                let temp = self.long_temp();
                if *prefix {
                    self.line(&format!("{temp} = {sign}{place};"));
                } else {
                    self.line(&format!("{temp} = {place}{sign};"));
                }
                Value::stable(temp)
            }
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, expr),
            ExprKind::Ternary {
                cond,
                then_value,
                else_value,
            } => self.ternary(cond, then_value, else_value, expr.ty),
            ExprKind::Assign { op, target, value } => self.assign(*op, target, value, expr),
            ExprKind::Regex { .. } => self.unsupported(expr.span, "regular expression matching"),
            ExprKind::Stat { op, operand, .. } => self.stat(*op, operand, expr),
            ExprKind::HistBucket { hist, bucket } => {
                let bucket = self.expr(bucket);
                let bucket = self.stabilize(bucket, Type::Long);
                let Some((global, stat)) = self.merged_stat(&hist.stat) else {
                    return Value::stable("0");
                };
                let kind = self.g.stat_kind(global);
                let temp = self.long_temp();
                let location = self.g.location(expr.span);
                let jump = self.jump_to_failure();
                self.line(&format!(
                    "if (unlikely(!stp_stat_bucket(ctx, {location}, {kind}, {stat}, {}, &{temp}))) {jump}",
                    bucket.c
                ));
                Value::stable(temp)
            }
            ExprKind::Target(_)
            | ExprKind::Defined(_)
            | ExprKind::Entry(_)
            | ExprKind::Const(_)
            | ExprKind::Probewrite(_)
            | ExprKind::Perf(_)
            | ExprKind::Register { .. }
            | ExprKind::Deref { .. } => {
                self.unsupported(expr.span, "target variables and kernel memory access")
            }
            ExprKind::Embedded(_) => self.unsupported(expr.span, "embedded C expressions"),
            ExprKind::ScriptArg(_) => {
                self.unsupported(expr.span, "a script argument that was not given")
            }
        }
    }

    /// An assignable long place as a C lvalue (scalars, or an array slot
    /// created if absent).
    fn place(&mut self, target: &'p Expr) -> String {
        match &target.kind {
            ExprKind::Local(local) => self.local_field(local.0 as usize),
            ExprKind::Global(g) => self.g.global_name(*g),
            ExprKind::Index { array, keys } => {
                let key = self.key(*array, keys);
                let slot = self.slot(*array, &key, target.span);
                format!("(*(int64_t *){slot})")
            }
            _ => {
                self.unsupported(target.span, "this assignment target");
                "t0".to_string()
            }
        }
    }

    fn call(&mut self, function: crate::ir::FunctionId, args: &'p [Expr], expr: &'p Expr) -> Value {
        let arg_refs: Vec<&'p Expr> = args.iter().collect();
        let values = self.operands(&arg_refs);
        let callee = &self.g.program.functions[function.0 as usize];
        if callee.next_overload.is_some() {
            return self.unsupported(expr.span, "function overloads with `next`");
        }
        let name = self.g.function_name(function);
        let location = self.g.location(expr.span);
        let mut call_args = vec!["ctx".to_string(), "area".to_string(), location];
        let result = match callee.return_type {
            Type::String => {
                let temp = self.string_temp();
                call_args.push(temp.clone());
                Some(Value::stable(temp))
            }
            _ => None,
        };
        call_args.extend(values.into_iter().map(|v| v.c));
        let call = format!("{name}({})", call_args.join(", "));
        let value = match callee.return_type {
            Type::Long => {
                let temp = self.long_temp();
                self.line(&format!("{temp} = {call};"));
                Value::stable(temp)
            }
            _ => {
                self.line(&format!("{call};"));
                result.unwrap_or_else(|| Value::stable("0"))
            }
        };
        self.check_failed();
        value
    }

    fn print(&mut self, print: &'p Print, expr: &'p Expr) -> Value {
        if let Some(hist) = &print.hist {
            return self.print_hist(print, hist, expr);
        }
        if print.args.iter().any(|a| a.ty == Type::Stats) {
            return self.unsupported(expr.span, "printing statistics");
        }
        let arg_refs: Vec<&'p Expr> = print.args.iter().collect();
        let values = self.operands(&arg_refs);
        let mut format: Vec<u8> = Vec::new();
        let mut args: Vec<String> = Vec::new();
        if let Some(spec) = &print.format {
            let mut values = values.into_iter();
            for piece in &spec.pieces {
                match piece {
                    FormatPiece::Text(text) => format.extend(format_text(&decode_escapes(text))),
                    FormatPiece::Conversion(conversion) => {
                        let Some(c_spec) = conversion_spec(conversion) else {
                            return self.unsupported(
                                expr.span,
                                &format!("the `%{}` conversion", conversion.conversion),
                            );
                        };
                        format.extend(c_spec.bytes());
                        for count in [conversion.width, conversion.precision]
                            .into_iter()
                            .flatten()
                        {
                            if count == FormatCount::Arg {
                                let v = values.next().map_or("0".to_string(), |v| v.c);
                                args.push(format!("stp_format_count({v})"));
                            }
                        }
                        let v = values.next().map_or("0".to_string(), |v| v.c);
                        args.push(match conversion.conversion {
                            'c' => format!("(int){v}"),
                            's' => v,
                            _ => as_long_long(v),
                        });
                    }
                }
            }
        } else {
            let delimiter = print
                .delimiter
                .as_deref()
                .map(|d| format_text(&decode_escapes(d)))
                .unwrap_or_default();
            for (i, (arg, value)) in print.args.iter().zip(values).enumerate() {
                if i > 0 {
                    format.extend(&delimiter);
                }
                if arg.ty == Type::String {
                    format.extend(b"%s");
                    args.push(value.c);
                } else {
                    format.extend(b"%lld");
                    args.push(as_long_long(value.c));
                }
            }
            if print.function.appends_newline() {
                format.push(b'\n');
            }
        }
        let format_c = c_string(&format);
        let mut call_args = String::new();
        for arg in &args {
            let _ = write!(call_args, ", {arg}");
        }
        if print.function.returns_string() {
            let temp = self.string_temp();
            if format.is_empty() {
                self.line(&format!("{temp}[0] = '\\0';"));
            } else {
                self.line(&format!("stp_sprintf({temp}, {format_c}{call_args});"));
            }
            Value::stable(temp)
        } else {
            debug_assert!(!matches!(print.function, PrintFn::Sprint));
            if args.is_empty() {
                if !format.is_empty() {
                    // No conversions: the text is printed as is.
                    let mut text = Vec::new();
                    let mut bytes = format.iter();
                    while let Some(&b) = bytes.next() {
                        text.push(b);
                        if b == b'%' {
                            bytes.next();
                        }
                    }
                    self.line(&format!(
                        "stp_print_bytes(ctx, {}, {});",
                        c_string(&text),
                        text.len()
                    ));
                }
            } else {
                self.line(&format!("stp_printf(ctx, {format_c}{call_args});"));
            }
            Value::stable("0")
        }
    }

    /// `print(@hist_*(s))`, `sprint(...)`: the histogram's rows (println
    /// and sprintln add nothing after them, as in SystemTap).
    fn print_hist(&mut self, print: &'p Print, hist: &'p crate::ir::Hist, expr: &'p Expr) -> Value {
        let Some((global, stat)) = self.merged_stat(&hist.stat) else {
            return Value::stable("0");
        };
        let kind = self.g.stat_kind(global);
        let location = self.g.location(expr.span);
        let (buffer, value) = if print.function.returns_string() {
            let temp = self.string_temp();
            (temp.clone(), Value::stable(temp))
        } else {
            ("NULL".to_string(), Value::stable("0"))
        };
        let jump = self.jump_to_failure();
        self.line(&format!(
            "if (unlikely(!stp_stat_print_hist(ctx, {location}, {kind}, {stat}, {buffer}))) {jump}"
        ));
        value
    }

    fn binary(&mut self, op: BinaryOp, lhs: &'p Expr, rhs: &'p Expr, expr: &'p Expr) -> Value {
        if matches!(op, BinaryOp::LogicalAnd | BinaryOp::LogicalOr) {
            return self.logical(op, lhs, rhs);
        }
        let values = self.operands(&[lhs, rhs]);
        let (l, r) = (&values[0].c, &values[1].c);
        if lhs.ty == Type::String {
            if op == BinaryOp::Concat {
                let temp = self.string_temp();
                self.line(&format!("stp_string_concat({temp}, {l}, {r});"));
                return Value::stable(temp);
            }
            return Value::place(format!("(strcmp({l}, {r}) {} 0)", op.symbol()));
        }
        let location = self.g.location(expr.span);
        let c = match op {
            BinaryOp::Div | BinaryOp::Mod => {
                let temp = self.long_temp();
                let function = if op == BinaryOp::Div {
                    "stp_divide"
                } else {
                    "stp_modulo"
                };
                let jump = self.jump_to_failure();
                self.line(&format!(
                    "if (unlikely(!{function}(ctx, {location}, {l}, {r}, &{temp}))) {jump}"
                ));
                return Value::stable(temp);
            }
            BinaryOp::Shl => format!("stp_shl({l}, {r})"),
            BinaryOp::Shr => format!("stp_shr({l}, {r})"),
            BinaryOp::UShr => format!("stp_ushr({l}, {r})"),
            _ => format!("({l} {} {r})", op.symbol()),
        };
        Value {
            c,
            stable: values.iter().all(|v| v.stable),
        }
    }

    fn logical(&mut self, op: BinaryOp, lhs: &'p Expr, rhs: &'p Expr) -> Value {
        let l = self.expr(lhs);
        let saved = std::mem::take(&mut self.out);
        self.indent += 1;
        let r = self.expr(rhs);
        self.indent -= 1;
        let rhs_code = std::mem::replace(&mut self.out, saved);
        if rhs_code.is_empty() {
            return Value {
                c: format!("({} {} {})", l.c, op.symbol(), r.c),
                stable: l.stable && r.stable,
            };
        }
        // The right operand has effects: evaluate it only when needed.
        let temp = self.long_temp();
        let (initial, test) = match op {
            BinaryOp::LogicalAnd => ("0", l.c.clone()),
            _ => ("1", format!("!{}", l.c)),
        };
        self.line(&format!("{temp} = {initial};"));
        self.line(&format!("if ({test}) {{"));
        self.out.push_str(&rhs_code);
        self.line(&format!("\t{temp} = {} != 0;", r.c));
        self.line("}");
        Value::stable(temp)
    }

    fn ternary(
        &mut self,
        cond: &'p Expr,
        then_value: &'p Expr,
        else_value: &'p Expr,
        ty: Type,
    ) -> Value {
        let cond = self.expr(cond);
        let saved = std::mem::take(&mut self.out);
        self.indent += 1;
        let then_v = self.expr(then_value);
        let then_code = std::mem::take(&mut self.out);
        let else_v = self.expr(else_value);
        let else_code = std::mem::replace(&mut self.out, saved);
        self.indent -= 1;
        if then_code.is_empty() && else_code.is_empty() {
            return Value {
                c: format!("({} ? {} : {})", cond.c, then_v.c, else_v.c),
                stable: cond.stable && then_v.stable && else_v.stable,
            };
        }
        let temp = if ty == Type::String {
            self.string_temp()
        } else {
            self.long_temp()
        };
        let store = |v: &Value| {
            if ty == Type::String {
                format!("\tstp_string_copy({temp}, {});", v.c)
            } else {
                format!("\t{temp} = {};", v.c)
            }
        };
        let (store_then, store_else) = (store(&then_v), store(&else_v));
        self.line(&format!("if ({}) {{", cond.c));
        self.out.push_str(&then_code);
        self.line(&store_then);
        self.line("} else {");
        self.out.push_str(&else_code);
        self.line(&store_else);
        self.line("}");
        Value::stable(temp)
    }

    /// `target <<< value`.
    fn aggregate(&mut self, target: &'p Expr, value: &'p Expr) -> Value {
        let stat = match &target.kind {
            ExprKind::Global(g) => {
                let value = self.expr(value);
                let (kind, name) = (self.g.stat_kind(*g), self.g.global_name(*g));
                self.line(&format!(
                    "stp_stat_add({kind}, stp_stat_var_slot(&{name}), {});",
                    value.c
                ));
                return Value::stable("0");
            }
            ExprKind::Index { array, keys } if keys.iter().all(Option::is_some) => {
                let mut operands: Vec<&'p Expr> = keys.iter().flatten().collect();
                operands.push(value);
                let mut values = self.operands(&operands);
                let value = values.pop().expect("the value is an operand");
                let parts: Vec<Option<Value>> = values.into_iter().map(Some).collect();
                let key = self.key_from(*array, &parts);
                let slot = self.slot(*array, &key, target.span);
                (self.g.stat_kind(*array), slot, value)
            }
            _ => return self.unsupported(target.span, "this `<<<` target"),
        };
        self.line(&format!(
            "stp_stat_add({}, {}, {});",
            stat.0, stat.1, stat.2.c
        ));
        Value::stable("0")
    }

    /// `@count(x)` and the like.
    fn stat(&mut self, op: StatOp, operand: &'p Expr, expr: &'p Expr) -> Value {
        let op_name = match op {
            StatOp::Count => "STP_STAT_COUNT",
            StatOp::Sum => "STP_STAT_SUM",
            StatOp::Min => "STP_STAT_MIN",
            StatOp::Max => "STP_STAT_MAX",
            StatOp::Avg => "STP_STAT_AVG",
            StatOp::Variance => "STP_STAT_VARIANCE",
        };
        let Some((_, stat)) = self.merged_stat(operand) else {
            return Value::stable("0");
        };
        let temp = self.long_temp();
        let location = self.g.location(expr.span);
        let jump = self.jump_to_failure();
        self.line(&format!(
            "if (unlikely(!stp_stat_get(ctx, {location}, {stat}, {op_name}, &{temp}))) {jump}"
        ));
        Value::stable(temp)
    }

    fn assign(&mut self, op: AssignOp, target: &'p Expr, value: &'p Expr, expr: &'p Expr) -> Value {
        if op == AssignOp::Aggregate {
            return self.aggregate(target, value);
        }
        // The target's keys, then the value, as SystemTap evaluates them.
        let (place, mut value) = match &target.kind {
            ExprKind::Index { array, keys } => {
                let mut operands: Vec<&'p Expr> = keys.iter().flatten().collect();
                if operands.len() != keys.len() {
                    return self.unsupported(target.span, "this assignment target");
                }
                operands.push(value);
                let mut values = self.operands(&operands);
                let value = values.pop().expect("the value is an operand");
                let parts: Vec<Option<Value>> = values.into_iter().map(Some).collect();
                let key = self.key_from(*array, &parts);
                let slot = self.slot(*array, &key, target.span);
                let place = if target.ty == Type::String {
                    format!("(char *){slot}")
                } else {
                    format!("(*(int64_t *){slot})")
                };
                (place, value)
            }
            ExprKind::Local(local) => (self.local_field(local.0 as usize), self.expr(value)),
            ExprKind::Global(g) => (self.g.global_name(*g), self.expr(value)),
            _ => return self.unsupported(target.span, "this assignment target"),
        };
        if target.ty == Type::String {
            match op {
                AssignOp::Concat => {
                    if value.c == place {
                        value = self.stabilize(Value::place(value.c), Type::String);
                    }
                    self.line(&format!(
                        "stp_string_concat({place}, {place}, {});",
                        value.c
                    ));
                }
                _ => self.line(&format!("stp_string_copy({place}, {});", value.c)),
            }
            return Value::place(place);
        }
        let location = self.g.location(expr.span);
        let v = &value.c;
        match op {
            AssignOp::Assign => self.line(&format!("{place} = {v};")),
            AssignOp::Div | AssignOp::Mod => {
                let function = if op == AssignOp::Div {
                    "stp_divide"
                } else {
                    "stp_modulo"
                };
                let jump = self.jump_to_failure();
                let temp = self.long_temp();
                self.line(&format!(
                    "if (unlikely(!{function}(ctx, {location}, {place}, {v}, &{temp}))) {jump}"
                ));
                self.line(&format!("{place} = {temp};"));
            }
            AssignOp::Shl => self.line(&format!("{place} = stp_shl({place}, {v});")),
            AssignOp::Shr => self.line(&format!("{place} = stp_shr({place}, {v});")),
            _ => {
                let symbol = op.symbol();
                self.line(&format!("{place} {symbol} {v};"));
            }
        }
        Value::place(place)
    }
}

/// A long value as the `long long` that `%lld` wants: comparisons are
/// `int` and scalar globals `long` in C.
fn as_long_long(value: String) -> String {
    let is_temp = value
        .strip_prefix('t')
        .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
    if is_temp || value.ends_with("LL") {
        value
    } else {
        format!("(int64_t){value}")
    }
}
