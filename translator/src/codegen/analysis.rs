//! Facts about the program the C code depends on: which globals each probe
//! reads and writes (for its locks), and how deep function calls nest (for
//! MAXNESTING).

use std::collections::BTreeMap;

use crate::ir::{
    Block, Expr, ExprKind, FunctionBody, FunctionId, GlobalId, Iterable, Program, Stmt, StmtKind,
};

/// Globals a body uses: `true` when it writes the global.
pub type GlobalUses = BTreeMap<GlobalId, bool>;

/// What one body (probe or function) does directly.
#[derive(Default)]
struct Direct {
    globals: GlobalUses,
    calls: Vec<FunctionId>,
}

pub struct Analysis {
    /// Per probe, every global its handler (and what it calls) uses.
    pub probe_globals: Vec<GlobalUses>,
    /// SystemTap's default MAXNESTING: the depth of the call graph plus
    /// one, plus ten when a function can recurse.
    pub max_nesting: usize,
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
    let mut depth = 0;
    let mut recursive = false;
    for probe in &program.probes {
        let mut direct = Direct::default();
        direct.block(&probe.body);
        let mut uses = direct.globals.clone();
        // Every function reachable from the probe.
        let mut seen = vec![false; functions.len()];
        let mut stack = direct.calls.clone();
        while let Some(id) = stack.pop() {
            if std::mem::replace(&mut seen[id.0 as usize], true) {
                continue;
            }
            let callee = &functions[id.0 as usize];
            for (&global, &write) in &callee.globals {
                *uses.entry(global).or_insert(false) |= write;
            }
            stack.extend(callee.calls.iter().copied());
        }
        probe_globals.push(uses);
        for &call in &direct.calls {
            let mut path = Vec::new();
            let (d, r) = call_depth(call, &functions, &script_function, &mut path);
            depth = depth.max(d);
            recursive |= r;
        }
    }
    Analysis {
        probe_globals,
        max_nesting: depth + 1 + if recursive { 10 } else { 0 },
    }
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
                if let Iterable::Global(g) = &foreach.source {
                    self.global(*g, false);
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
            ExprKind::Print(print) => print.args.iter().for_each(|a| self.expr(a)),
            ExprKind::Stat { operand, .. } => self.expr(operand),
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
            ExprKind::Assign { target, value, .. } => {
                self.target(target);
                self.expr(value);
            }
            // The rest is refused by the generator or uses no global.
            _ => {}
        }
    }
}
