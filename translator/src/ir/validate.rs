//! IR validation: the invariants back ends rely on. Analysis calls this
//! last; a failure here is a bug in analysis, reported as a diagnostic
//! rather than a panic.

use std::ops::Deref;

use super::*;
use crate::diagnostic::Diagnostic;

/// A [`Program`] that passed [`validate`]: all ids in range, every
/// expression and variable typed, operand types consistent with operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidProgram(Program);

impl ValidProgram {
    pub fn program(&self) -> &Program {
        &self.0
    }

    pub fn into_program(self) -> Program {
        self.0
    }
}

impl Deref for ValidProgram {
    type Target = Program;

    fn deref(&self) -> &Program {
        &self.0
    }
}

pub fn validate(program: Program) -> Result<ValidProgram, Vec<Diagnostic>> {
    let mut validator = Validator {
        program: &program,
        locals: &[],
        return_type: None,
        errors: Vec::new(),
    };
    validator.program();
    if validator.errors.is_empty() {
        Ok(ValidProgram(program))
    } else {
        Err(validator.errors)
    }
}

struct Validator<'p> {
    program: &'p Program,
    /// Locals of the body being checked.
    locals: &'p [Local],
    /// Return type of the function being checked (`None` in probes).
    return_type: Option<Type>,
    errors: Vec<Diagnostic>,
}

/// Where an expression sits: statistics and whole arrays are only allowed
/// in some places.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Position {
    Value,
    Discarded,
    Stats,
    Delete,
}

impl<'p> Validator<'p> {
    fn fail(&mut self, span: Span, message: impl std::fmt::Display) {
        self.errors.push(Diagnostic::error(
            span,
            format!("internal error: invalid IR: {message}"),
        ));
    }

    fn program(&mut self) {
        let program = self.program;
        let mut privilege = Privilege::Stapusr;
        for global in &program.globals {
            if !matches!(global.ty.value, Type::Long | Type::String | Type::Stats) {
                self.fail(
                    global.span,
                    format_args!(
                        "global `{}` has type {}",
                        global.name,
                        global.ty.value.name()
                    ),
                );
            }
            if global.ty.keys.iter().any(|k| !k.is_value()) {
                self.fail(
                    global.span,
                    format_args!("global `{}` has an invalid key type", global.name),
                );
            }
        }
        for function in &program.functions {
            privilege = max_privilege(privilege, function.privilege);
            if !matches!(function.return_type, Type::Long | Type::String | Type::Void) {
                self.fail(
                    function.span,
                    format_args!(
                        "`{}` returns {}",
                        function.name,
                        function.return_type.name()
                    ),
                );
            }
            if function.param_count > function.locals.len() {
                self.fail(function.span, "more parameters than locals");
            }
            if let Some(next) = function.next_overload {
                if self
                    .function(next)
                    .is_none_or(|f| f.param_count != function.param_count)
                {
                    self.fail(function.span, "overload with another arity");
                }
            }
            self.locals = &function.locals;
            self.return_type = Some(function.return_type);
            self.check_locals();
            if let FunctionBody::Script(body) = &function.body {
                self.block(body);
            }
        }
        for probe in &program.probes {
            privilege = max_privilege(privilege, probe.privilege);
            self.locals = &probe.locals;
            self.return_type = None;
            self.check_locals();
            if probe.points.is_empty() {
                self.fail(probe.span, "probe without points");
            }
            for point in &probe.points {
                if point.components.first().map(|c| c.name.as_str()) != Some(point.family.name()) {
                    self.fail(point.span, "point does not start with its family");
                }
                if let Some(condition) = &point.condition {
                    self.expect(condition, Type::Long);
                }
            }
            self.block(&probe.body);
        }
        if max_privilege(privilege, program.privilege) != program.privilege {
            self.fail(Span::default(), "program privilege below that of its parts");
        }
    }

    fn check_locals(&mut self) {
        for local in self.locals {
            if !local.ty.is_value() {
                self.fail(
                    local.span,
                    format_args!("local `{}` has type {}", local.name, local.ty.name()),
                );
            }
        }
    }

    fn function(&self, id: FunctionId) -> Option<&'p Function> {
        self.program.functions.get(id.0 as usize)
    }

    fn global(&mut self, id: GlobalId, span: Span) -> Option<&'p Global> {
        let global = self.program.globals.get(id.0 as usize);
        if global.is_none() {
            self.fail(span, format_args!("global id {} out of range", id.0));
        }
        global
    }

    fn block(&mut self, block: &Block) {
        for stmt in &block.stmts {
            self.stmt(stmt);
        }
    }

    fn stmt(&mut self, stmt: &Stmt) {
        match &stmt.kind {
            StmtKind::Block(block) => self.block(block),
            StmtKind::Expr(e) => self.expr(e, Position::Discarded),
            StmtKind::If {
                cond,
                then_branch,
                else_branch,
            } => {
                self.expect(cond, Type::Long);
                self.stmt(then_branch);
                if let Some(else_branch) = else_branch {
                    self.stmt(else_branch);
                }
            }
            StmtKind::While { cond, body } => {
                self.expect(cond, Type::Long);
                self.stmt(body);
            }
            StmtKind::For {
                init,
                cond,
                step,
                body,
            } => {
                for e in [init, step].into_iter().flatten() {
                    self.expr(e, Position::Discarded);
                }
                if let Some(cond) = cond {
                    self.expect(cond, Type::Long);
                }
                self.stmt(body);
            }
            StmtKind::Foreach(foreach) => self.foreach(foreach, stmt.span),
            StmtKind::Break | StmtKind::Continue | StmtKind::Next => {}
            StmtKind::Return(value) => match (value, self.return_type) {
                (Some(value), Some(ty)) if ty.is_value() => self.expect(value, ty),
                (Some(value), _) => {
                    self.fail(value.span, "return with a value where none is expected")
                }
                (None, _) => {}
            },
            StmtKind::Delete(target) => self.expr(target, Position::Delete),
            StmtKind::Try {
                body,
                catch_var,
                catch_body,
            } => {
                self.block(body);
                if let Some(var) = catch_var {
                    if self.local_type(*var, stmt.span) != Some(Type::String) {
                        self.fail(stmt.span, "catch variable is not a string");
                    }
                }
                self.block(catch_body);
            }
        }
    }

    fn foreach(&mut self, foreach: &Foreach, span: Span) {
        let (keys, value) = match &foreach.source {
            Iterable::Global(id) => match self.global(*id, span) {
                Some(global) => (global.ty.keys.clone(), global.ty.value),
                None => return,
            },
            Iterable::Hist(hist) => {
                self.expr(&hist.stat, Position::Stats);
                (vec![Type::Long], Type::Long)
            }
        };
        if keys.len() != foreach.keys.len() {
            self.fail(span, "foreach key count differs from the array's");
        }
        for (key, ty) in foreach.keys.iter().zip(&keys) {
            if self.local_type(*key, span) != Some(*ty) {
                self.fail(span, "foreach key variable of the wrong type");
            }
        }
        if let Some(var) = foreach.value {
            if self.local_type(var, span) != Some(value) {
                self.fail(span, "foreach value variable of the wrong type");
            }
        }
        if let Some(slice) = &foreach.slice {
            for (key, ty) in slice.iter().zip(&keys) {
                if let Some(key) = key {
                    self.expect(key, *ty);
                }
            }
        }
        if let Some(Sort {
            key: Some(index), ..
        }) = foreach.sort
        {
            if index >= keys.len() {
                self.fail(span, "sort on a missing key");
            }
        }
        if let Some(limit) = &foreach.limit {
            self.expect(limit, Type::Long);
        }
        self.stmt(&foreach.body);
    }

    fn local_type(&mut self, id: LocalId, span: Span) -> Option<Type> {
        let ty = self.locals.get(id.0 as usize).map(|l| l.ty);
        if ty.is_none() {
            self.fail(span, format_args!("local id {} out of range", id.0));
        }
        ty
    }

    fn expect(&mut self, e: &Expr, ty: Type) {
        if e.ty != ty {
            self.fail(
                e.span,
                format_args!("expected {}, found {}", ty.name(), e.ty.name()),
            );
        }
        self.expr(e, Position::Value);
    }

    fn expr(&mut self, e: &Expr, position: Position) {
        let span = e.span;
        if e.ty == Type::Unknown {
            self.fail(span, "expression of unknown type");
        }
        if e.ty == Type::Stats && !matches!(position, Position::Stats | Position::Delete) {
            self.fail(span, "statistics used as a value");
        }
        if e.ty == Type::Void && position != Position::Discarded {
            self.fail(span, "value-less expression used as a value");
        }
        match &e.kind {
            ExprKind::Number(_) => self.same(e, Type::Long),
            ExprKind::String(_) => self.same(e, Type::String),
            ExprKind::Local(id) => {
                if let Some(ty) = self.local_type(*id, span) {
                    self.same(e, ty);
                }
            }
            ExprKind::Global(id) => {
                if let Some(global) = self.global(*id, span) {
                    if global.ty.is_array() && position != Position::Delete {
                        self.fail(span, "whole array used as a value");
                    }
                    self.same(e, global.ty.value);
                }
            }
            ExprKind::Index { array, keys } => {
                if let Some(global) = self.global(*array, span) {
                    if global.ty.keys.len() != keys.len() {
                        self.fail(span, "index with the wrong number of keys");
                    }
                    for (key, ty) in keys.iter().zip(&global.ty.keys) {
                        match key {
                            Some(key) => self.expect(key, *ty),
                            None if position == Position::Delete => {}
                            None => self.fail(span, "wildcard outside delete"),
                        }
                    }
                    self.same(e, global.ty.value);
                }
            }
            ExprKind::HistBucket { hist, bucket } => {
                self.expr(&hist.stat, Position::Stats);
                self.expect(bucket, Type::Long);
                self.same(e, Type::Long);
            }
            ExprKind::Call { function, args } => match self.function(*function) {
                None => self.fail(
                    span,
                    format_args!("function id {} out of range", function.0),
                ),
                Some(callee) => {
                    if callee.param_count != args.len() {
                        self.fail(span, "call with the wrong number of arguments");
                    }
                    for (arg, param) in args.iter().zip(callee.params()) {
                        self.expect(arg, param.ty);
                    }
                    self.same(e, callee.return_type);
                }
            },
            ExprKind::Print(print) => {
                if let Some(hist) = &print.hist {
                    self.expr(&hist.stat, Position::Stats);
                }
                match &print.format {
                    Some(format) => {
                        let wanted: Vec<Type> =
                            format.arguments().into_iter().map(|(ty, _)| ty).collect();
                        if wanted.len() != print.args.len() {
                            self.fail(span, "format and arguments disagree in number");
                        }
                        for (arg, ty) in print.args.iter().zip(wanted) {
                            self.expect(arg, ty);
                        }
                    }
                    None => {
                        for arg in &print.args {
                            self.expr(arg, Position::Value);
                        }
                    }
                }
                let ty = if print.function.returns_string() {
                    Type::String
                } else {
                    Type::Void
                };
                self.same(e, ty);
            }
            ExprKind::Unary { operand, .. } => {
                self.expect(operand, Type::Long);
                self.same(e, Type::Long);
            }
            ExprKind::Increment { target, .. } => {
                self.lvalue(target);
                self.expect(target, Type::Long);
                self.same(e, Type::Long);
            }
            ExprKind::Binary { op, lhs, rhs } => {
                if *op == crate::ast::BinaryOp::Concat {
                    self.expect(lhs, Type::String);
                    self.expect(rhs, Type::String);
                    self.same(e, Type::String);
                } else if op.is_comparison() {
                    self.expr(lhs, Position::Value);
                    self.expect(rhs, lhs.ty);
                    self.same(e, Type::Long);
                } else {
                    self.expect(lhs, Type::Long);
                    self.expect(rhs, Type::Long);
                    self.same(e, Type::Long);
                }
            }
            ExprKind::Regex { subject, .. } => {
                self.expect(subject, Type::String);
                self.same(e, Type::Long);
            }
            ExprKind::Ternary {
                cond,
                then_value,
                else_value,
            } => {
                self.expect(cond, Type::Long);
                for branch in [then_value, else_value] {
                    self.same(branch, e.ty);
                    self.expr(branch, position);
                }
            }
            ExprKind::Assign { op, target, value } => {
                self.lvalue(target);
                match op {
                    crate::ast::AssignOp::Aggregate => {
                        self.expr(target, Position::Stats);
                        self.same(target, Type::Stats);
                        self.expect(value, Type::Long);
                        self.same(e, Type::Void);
                    }
                    crate::ast::AssignOp::Assign => {
                        self.expr(target, Position::Value);
                        self.expect(value, target.ty);
                        self.same(e, target.ty);
                    }
                    crate::ast::AssignOp::Concat => {
                        self.expect(target, Type::String);
                        self.expect(value, Type::String);
                        self.same(e, Type::String);
                    }
                    _ => {
                        self.expect(target, Type::Long);
                        self.expect(value, Type::Long);
                        self.same(e, Type::Long);
                    }
                }
            }
            ExprKind::In { keys, array } => {
                if let Some(global) = self.global(*array, span) {
                    if global.ty.keys.len() != keys.len() {
                        self.fail(span, "membership test with the wrong number of keys");
                    }
                    for (key, ty) in keys.iter().zip(&global.ty.keys) {
                        if let Some(key) = key {
                            self.expect(key, *ty);
                        }
                    }
                }
                self.same(e, Type::Long);
            }
            ExprKind::Stat { operand, .. } => {
                self.expr(operand, Position::Stats);
                self.same(operand, Type::Stats);
                self.same(e, Type::Long);
            }
            ExprKind::Target(target) => {
                match &target.base {
                    TargetBase::Cast { operand, .. } => self.expect(operand, Type::Long),
                    TargetBase::Autocast(operand) => self.expr(operand, Position::Value),
                    TargetBase::Var(_) | TargetBase::AtVar { .. } => {}
                }
                for component in &target.components {
                    if let TargetComponent::Index(index) = component {
                        self.expect(index, Type::Long);
                    }
                }
                if !e.ty.is_value() {
                    self.fail(span, "target expression without a value type");
                }
            }
            ExprKind::Defined(inner) => {
                self.expr(inner, Position::Value);
                self.same(e, Type::Long);
            }
            ExprKind::Entry(inner) => {
                self.expr(inner, Position::Value);
                self.same(e, inner.ty);
            }
            ExprKind::Deref { addr, .. } => {
                self.expect(addr, Type::Long);
                self.same(e, Type::Long);
            }
            ExprKind::Const(_)
            | ExprKind::Probewrite(_)
            | ExprKind::Perf(_)
            | ExprKind::Register { .. } => self.same(e, Type::Long),
            ExprKind::Embedded(_) | ExprKind::ScriptArg(_) => {
                if !e.ty.is_value() {
                    self.fail(span, "embedded expression without a value type");
                }
            }
        }
    }

    fn same(&mut self, e: &Expr, ty: Type) {
        if e.ty != ty {
            self.fail(
                e.span,
                format_args!(
                    "expression typed {} but should be {}",
                    e.ty.name(),
                    ty.name()
                ),
            );
        }
    }

    fn lvalue(&mut self, target: &Expr) {
        let assignable = match &target.kind {
            ExprKind::Local(_) | ExprKind::Target(_) => true,
            ExprKind::Global(_) => true,
            ExprKind::Index { keys, .. } => keys.iter().all(Option::is_some),
            _ => false,
        };
        if !assignable {
            self.fail(target.span, "assignment to a non-lvalue");
        }
    }
}
