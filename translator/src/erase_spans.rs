//! Resetting every span of a tree, so that trees parsed from different text
//! (e.g. a script and its pretty-printed form) compare equal with `==`.

use crate::ast::*;
use crate::diagnostic::Span;

/// Sets every span in `file` to `Span::default()`.
pub fn erase_spans(file: &mut File) {
    file.span = Span::default();
    for item in &mut file.items {
        item_spans(item);
    }
}

fn item_spans(item: &mut Item) {
    match item {
        Item::Probe(probe) => {
            probe.span = Span::default();
            probe.points.iter_mut().for_each(point_spans);
            block_spans(&mut probe.body);
        }
        Item::Alias(alias) => {
            alias.span = Span::default();
            alias.names.iter_mut().for_each(point_spans);
            alias.points.iter_mut().for_each(point_spans);
            [&mut alias.prologue, &mut alias.epilogue]
                .into_iter()
                .flatten()
                .for_each(block_spans);
        }
        Item::Function(function) => {
            function.span = Span::default();
            function.name.span = Span::default();
            for param in &mut function.params {
                param.span = Span::default();
                param.name.span = Span::default();
            }
            match &mut function.body {
                FunctionBody::Block(block) => block_spans(block),
                FunctionBody::Embedded(code) => code.span = Span::default(),
            }
        }
        Item::Global(global) => {
            global.span = Span::default();
            for var in &mut global.vars {
                var.span = Span::default();
                var.name.span = Span::default();
            }
        }
        Item::Embedded(code) => code.span = Span::default(),
    }
}

fn point_spans(point: &mut ProbePoint) {
    point.span = Span::default();
    for component in &mut point.components {
        component.span = Span::default();
    }
    if let Some(condition) = &mut point.condition {
        expr_spans(condition);
    }
}

fn block_spans(block: &mut Block) {
    block.span = Span::default();
    block.stmts.iter_mut().for_each(stmt_spans);
}

fn stmt_spans(stmt: &mut Stmt) {
    stmt.span = Span::default();
    match &mut stmt.kind {
        StmtKind::Block(block) => block_spans(block),
        StmtKind::Expr(expr) | StmtKind::Delete(expr) | StmtKind::Return(Some(expr)) => {
            expr_spans(expr)
        }
        StmtKind::If {
            cond,
            then_branch,
            else_branch,
        } => {
            expr_spans(cond);
            stmt_spans(then_branch);
            if let Some(else_branch) = else_branch {
                stmt_spans(else_branch);
            }
        }
        StmtKind::While { cond, body } => {
            expr_spans(cond);
            stmt_spans(body);
        }
        StmtKind::For {
            init,
            cond,
            step,
            body,
        } => {
            [init, cond, step]
                .into_iter()
                .flatten()
                .for_each(expr_spans);
            stmt_spans(body);
        }
        StmtKind::Foreach(foreach) => {
            if let Some(value) = &mut foreach.value {
                value.span = Span::default();
            }
            for key in &mut foreach.keys {
                key.span = Span::default();
            }
            indexable_spans(&mut foreach.array);
            if let Some(slice) = &mut foreach.slice {
                slice.iter_mut().flatten().for_each(expr_spans);
            }
            if let Some(limit) = &mut foreach.limit {
                expr_spans(limit);
            }
            stmt_spans(&mut foreach.body);
        }
        StmtKind::Try {
            body,
            catch_var,
            catch_body,
        } => {
            block_spans(body);
            if let Some(var) = catch_var {
                var.span = Span::default();
            }
            block_spans(catch_body);
        }
        StmtKind::Break
        | StmtKind::Continue
        | StmtKind::Next
        | StmtKind::Return(None)
        | StmtKind::Empty => {}
    }
}

fn indexable_spans(indexable: &mut Indexable) {
    match indexable {
        Indexable::Name(name) => name.span = Span::default(),
        Indexable::Hist(hist) => hist_spans(hist),
    }
}

fn hist_spans(hist: &mut HistOp) {
    hist.span = Span::default();
    expr_spans(&mut hist.stat);
}

fn expr_spans(expr: &mut Expr) {
    expr.span = Span::default();
    match &mut expr.kind {
        ExprKind::Number(_)
        | ExprKind::String(_)
        | ExprKind::Var(_)
        | ExprKind::Const(_)
        | ExprKind::Perf(_)
        | ExprKind::Register { .. }
        | ExprKind::Embedded(_)
        | ExprKind::ScriptArg(_) => {}
        ExprKind::Index { base, indexes } => {
            indexable_spans(base);
            indexes.iter_mut().flatten().for_each(expr_spans);
        }
        ExprKind::Call { name, args } => {
            name.span = Span::default();
            args.iter_mut().for_each(expr_spans);
        }
        ExprKind::Print(call) => {
            call.args.iter_mut().for_each(expr_spans);
            if let Some(hist) = &mut call.hist {
                hist_spans(hist);
            }
        }
        ExprKind::Unary { operand, .. }
        | ExprKind::PreIncrement { operand, .. }
        | ExprKind::PostIncrement { operand, .. }
        | ExprKind::Stat { operand, .. }
        | ExprKind::Defined(operand)
        | ExprKind::Entry(operand)
        | ExprKind::Deref { addr: operand, .. } => expr_spans(operand),
        ExprKind::Binary { lhs, rhs, .. } => {
            expr_spans(lhs);
            expr_spans(rhs);
        }
        ExprKind::Regex { subject, .. } => expr_spans(subject),
        ExprKind::Ternary {
            cond,
            then_value,
            else_value,
        } => {
            expr_spans(cond);
            expr_spans(then_value);
            expr_spans(else_value);
        }
        ExprKind::Assign { target, value, .. } => {
            expr_spans(target);
            expr_spans(value);
        }
        ExprKind::In { keys, array } => {
            keys.iter_mut().flatten().for_each(expr_spans);
            indexable_spans(array);
        }
        ExprKind::Target(target) => {
            match &mut target.base {
                TargetBase::Var(_) | TargetBase::AtVar { .. } => {}
                TargetBase::Cast { operand, .. } | TargetBase::Autocast(operand) => {
                    expr_spans(operand)
                }
            }
            for component in &mut target.components {
                match component {
                    TargetComponent::Member(name) => name.span = Span::default(),
                    TargetComponent::Index(index) => expr_spans(index),
                    TargetComponent::PrettyPrint { span, .. } => *span = Span::default(),
                }
            }
        }
        ExprKind::Probewrite(var) => var.span = Span::default(),
    }
}
