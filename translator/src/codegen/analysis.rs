//! Facts about the program the C code depends on: which globals each probe
//! reads and writes (for its locks), how deep function calls nest (for
//! MAXNESTING), and how each statistics global collects (its histogram and
//! @variance bit shift).

use std::collections::BTreeMap;

use crate::ast::{AssignOp, HistKind, StatOp};
use crate::diagnostic::{Diagnostic, Span};
use crate::ir::{
    Block, Expr, ExprKind, FunctionBody, FunctionId, GlobalId, Hist, Iterable, Program, Stmt,
    StmtKind, Type,
};

/// Globals a body uses: `true` when it writes the global.
pub type GlobalUses = BTreeMap<GlobalId, bool>;

/// How a statistics global collects, from every use in the program.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatKind {
    pub hist: Option<HistKind>,
    /// The bit shift of `@variance(s, shift)`, when @variance is used.
    pub variance_shift: Option<i64>,
}

/// A use of a statistics global that decides how it collects.
enum StatUse {
    Hist(HistKind),
    Variance(i64),
}

/// What one body (probe or function) does directly.
#[derive(Default)]
struct Direct {
    globals: GlobalUses,
    /// Statistics added to with `<<<` (each CPU adds to its own slot, so
    /// that alone needs only the read lock).
    adds: Vec<GlobalId>,
    stat_uses: Vec<(GlobalId, StatUse, Span)>,
    calls: Vec<FunctionId>,
}

pub struct Analysis {
    /// Per probe, every global its handler (and what it calls) uses.
    pub probe_globals: Vec<GlobalUses>,
    /// SystemTap's default MAXNESTING: the depth of the call graph plus
    /// one, plus ten when a function can recurse.
    pub max_nesting: usize,
    /// Per global (default for those that are not statistics).
    pub stat_kinds: Vec<StatKind>,
    /// Statistics used in conflicting ways.
    pub errors: Vec<Diagnostic>,
}

pub fn analyze(program: &Program) -> Analysis {
    let functions: Vec<Direct> = program
        .functions
        .iter()
        .map(|f| match &f.body {
            FunctionBody::Script(body) => {
                let mut direct = Direct::default();
                direct.block(body);
                direct
            }
            FunctionBody::Embedded(_) => Direct::default(),
        })
        .collect();
    let script_function = |id: FunctionId| {
        matches!(
            program.functions[id.0 as usize].body,
            FunctionBody::Script(_)
        )
    };

    let mut probe_globals = Vec::new();
    let mut probe_directs = Vec::new();
    let mut depth = 0;
    let mut recursive = false;
    for probe in &program.probes {
        let mut direct = Direct::default();
        direct.block(&probe.body);
        let mut uses = GlobalUses::new();
        // The probe and every function reachable from it.
        let mut seen = vec![false; functions.len()];
        let mut stack = direct.calls.clone();
        let mut bodies = vec![&direct];
        while let Some(id) = stack.pop() {
            if std::mem::replace(&mut seen[id.0 as usize], true) {
                continue;
            }
            bodies.push(&functions[id.0 as usize]);
            stack.extend(functions[id.0 as usize].calls.iter().copied());
        }
        for body in bodies {
            for (&global, &write) in &body.globals {
                // Reading statistics merges the slots every CPU adds to.
                let write = write || program.globals[global.0 as usize].ty.value == Type::Stats;
                *uses.entry(global).or_insert(false) |= write;
            }
            for &global in &body.adds {
                uses.entry(global).or_insert(false);
            }
        }
        probe_globals.push(uses);
        for &call in &direct.calls {
            let mut path = Vec::new();
            let (d, r) = call_depth(call, &functions, &script_function, &mut path);
            depth = depth.max(d);
            recursive |= r;
        }
        probe_directs.push(direct);
    }
    let (stat_kinds, errors) = stat_kinds(program, functions.iter().chain(&probe_directs));
    Analysis {
        probe_globals,
        max_nesting: depth + 1 + if recursive { 10 } else { 0 },
        stat_kinds,
        errors,
    }
}

/// One histogram type and one @variance bit shift per statistics global,
/// as SystemTap requires.
fn stat_kinds<'a>(
    program: &Program,
    bodies: impl Iterator<Item = &'a Direct>,
) -> (Vec<StatKind>, Vec<Diagnostic>) {
    let mut kinds = vec![StatKind::default(); program.globals.len()];
    let mut errors = Vec::new();
    for body in bodies {
        for (global, stat_use, span) in &body.stat_uses {
            let kind = &mut kinds[global.0 as usize];
            let name = &program.globals[global.0 as usize].name;
            match *stat_use {
                StatUse::Hist(hist) => match kind.hist {
                    Some(previous) if previous != hist => errors.push(Diagnostic::error(
                        *span,
                        format!("multiple histogram types declared on `{name}`: a statistic has one histogram (use another global for the other)"),
                    )),
                    _ => kind.hist = Some(hist),
                },
                StatUse::Variance(shift) => match kind.variance_shift {
                    Some(previous) if previous != 0 && shift != 0 && previous != shift => {
                        errors.push(Diagnostic::error(
                            *span,
                            format!("conflicting @variance bit shifts declared on `{name}` (previously {previous}): use one shift per statistic"),
                        ))
                    }
                    // A shift given once holds for the plain `@variance(s)` too.
                    Some(previous) if previous != 0 => {}
                    _ => kind.variance_shift = Some(shift),
                },
            }
        }
    }
    (kinds, errors)
}

/// The longest chain of script-function calls starting with `id` (cycles
/// cut), and whether a cycle was found.
fn call_depth(
    id: FunctionId,
    functions: &[Direct],
    script_function: &dyn Fn(FunctionId) -> bool,
    path: &mut Vec<FunctionId>,
) -> (usize, bool) {
    if path.contains(&id) {
        return (0, true);
    }
    if !script_function(id) {
        return (0, false);
    }
    path.push(id);
    let mut deepest = 0;
    let mut recursive = false;
    for &callee in &functions[id.0 as usize].calls {
        let (d, r) = call_depth(callee, functions, script_function, path);
        deepest = deepest.max(d);
        recursive |= r;
    }
    path.pop();
    (deepest + 1, recursive)
}

impl Direct {
    fn block(&mut self, block: &Block) {
        for stmt in &block.stmts {
            self.stmt(stmt);
        }
    }

    fn stmt(&mut self, stmt: &Stmt) {
        match &stmt.kind {
            StmtKind::Block(b) => self.block(b),
            StmtKind::Expr(e) => self.expr(e),
            StmtKind::If {
                cond,
                then_branch,
                else_branch,
            } => {
                self.expr(cond);
                self.stmt(then_branch);
                if let Some(e) = else_branch {
                    self.stmt(e);
                }
            }
            StmtKind::While { cond, body } => {
                self.expr(cond);
                self.stmt(body);
            }
            StmtKind::For {
                init,
                cond,
                step,
                body,
            } => {
                for e in [init, cond, step].into_iter().flatten() {
                    self.expr(e);
                }
                self.stmt(body);
            }
            StmtKind::Foreach(foreach) => {
                match &foreach.source {
                    Iterable::Global(g) => self.global(*g, false),
                    Iterable::Hist(hist) => self.hist(hist),
                }
                for key in foreach.slice.iter().flatten().flatten() {
                    self.expr(key);
                }
                if let Some(limit) = &foreach.limit {
                    self.expr(limit);
                }
                self.stmt(&foreach.body);
            }
            StmtKind::Return(Some(e)) => self.expr(e),
            StmtKind::Delete(target) => self.target(target),
            StmtKind::Try {
                body, catch_body, ..
            } => {
                self.block(body);
                self.block(catch_body);
            }
            StmtKind::Break | StmtKind::Continue | StmtKind::Next | StmtKind::Return(None) => {}
        }
    }

    fn hist(&mut self, hist: &Hist) {
        if let Some(global) = stat_global(&hist.stat) {
            self.stat_uses
                .push((global, StatUse::Hist(hist.kind), hist.span));
        }
        self.expr(&hist.stat);
    }

    fn global(&mut self, global: GlobalId, write: bool) {
        *self.globals.entry(global).or_insert(false) |= write;
    }

    /// An assigned, incremented or deleted place.
    fn target(&mut self, target: &Expr) {
        match &target.kind {
            ExprKind::Global(g) => self.global(*g, true),
            ExprKind::Index { array, keys } => {
                self.global(*array, true);
                for key in keys.iter().flatten() {
                    self.expr(key);
                }
            }
            _ => self.expr(target),
        }
    }

    fn expr(&mut self, expr: &Expr) {
        match &expr.kind {
            ExprKind::Global(g) => self.global(*g, false),
            ExprKind::Index { array, keys } | ExprKind::In { keys, array } => {
                self.global(*array, false);
                for key in keys.iter().flatten() {
                    self.expr(key);
                }
            }
            ExprKind::Call { function, args } => {
                self.calls.push(*function);
                args.iter().for_each(|a| self.expr(a));
            }
            ExprKind::Print(print) => {
                print.args.iter().for_each(|a| self.expr(a));
                if let Some(hist) = &print.hist {
                    self.hist(hist);
                }
            }
            ExprKind::HistBucket { hist, bucket } => {
                self.hist(hist);
                self.expr(bucket);
            }
            ExprKind::Stat { op, operand, param } => {
                if let (StatOp::Variance, Some(global)) = (op, stat_global(operand)) {
                    self.stat_uses
                        .push((global, StatUse::Variance(param.unwrap_or(0)), expr.span));
                }
                self.expr(operand)
            }
            ExprKind::Unary { operand, .. } => self.expr(operand),
            ExprKind::Increment { target, .. } => self.target(target),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            ExprKind::Ternary {
                cond,
                then_value,
                else_value,
            } => {
                self.expr(cond);
                self.expr(then_value);
                self.expr(else_value);
            }
            ExprKind::Assign {
                op: AssignOp::Aggregate,
                target,
                value,
            } => {
                match &target.kind {
                    ExprKind::Global(g) => self.adds.push(*g),
                    ExprKind::Index { array, keys } => {
                        self.adds.push(*array);
                        keys.iter().flatten().for_each(|k| self.expr(k));
                    }
                    _ => self.expr(target),
                }
                self.expr(value);
            }
            ExprKind::Assign { target, value, .. } => {
                self.target(target);
                self.expr(value);
            }
            // The rest is refused by the generator or uses no global.
            _ => {}
        }
    }
}

/// The global a statistics operand (`s` or `a[k]`) refers to.
fn stat_global(operand: &Expr) -> Option<GlobalId> {
    match &operand.kind {
        ExprKind::Global(g) | ExprKind::Index { array: g, .. } => Some(*g),
        _ => None,
    }
}
