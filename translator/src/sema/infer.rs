//! Type inference, SystemTap-style: walk every body repeatedly, typing
//! variables, array keys, parameters and return values from how they are
//! used, until nothing changes. A final walk reports conflicts (with the
//! place each type was first inferred) and anything still untyped.

use crate::ast::{AssignOp, BinaryOp};
use crate::diagnostic::{Diagnostic, Span};
use crate::ir::*;

/// A type variable: its type so far and where that was first inferred.
#[derive(Debug, Clone, Copy)]
struct Slot {
    ty: Type,
    origin: Option<Span>,
}

impl Slot {
    fn new(ty: Type, origin: Span) -> Slot {
        Slot {
            ty,
            origin: (ty != Type::Unknown).then_some(origin),
        }
    }
}

struct GlobalSlot {
    name: String,
    value: Slot,
    /// Key slots once the arity is known (empty for a scalar), and where
    /// the arity was first seen.
    keys: Option<(Vec<Slot>, Span)>,
}

struct LocalSlots {
    slots: Vec<Slot>,
    names: Vec<String>,
}

#[derive(Clone, Copy)]
enum Owner {
    Function(usize),
    Probe(usize),
}

struct Infer {
    globals: Vec<GlobalSlot>,
    function_locals: Vec<LocalSlots>,
    function_returns: Vec<Slot>,
    function_names: Vec<String>,
    probe_locals: Vec<LocalSlots>,
    /// Probes on procfs points, whose `$value` is a string.
    procfs_probes: Vec<bool>,
    owner: Owner,
    changed: bool,
    /// Only the last walk reports problems, so each is reported once.
    report: bool,
    diagnostics: Vec<Diagnostic>,
}

/// What unifying a slot with a type found.
enum Unified {
    Ok(Type),
    /// The slot already had another type (first inferred at the span).
    Conflict(Type, Option<Span>),
}

fn unify(slot: &mut Slot, ty: Type, span: Span, changed: &mut bool) -> Unified {
    if !matches!(ty, Type::Long | Type::String | Type::Stats) {
        return Unified::Ok(slot.ty);
    }
    match slot.ty {
        Type::Unknown => {
            slot.ty = ty;
            slot.origin = Some(span);
            *changed = true;
            Unified::Ok(ty)
        }
        have if have == ty => Unified::Ok(ty),
        have => Unified::Conflict(have, slot.origin),
    }
}

pub fn infer(program: &mut Program, diagnostics: &mut Vec<Diagnostic>) {
    let mut infer = Infer {
        globals: program
            .globals
            .iter()
            .map(|g| GlobalSlot {
                name: g.name.clone(),
                value: Slot::new(g.ty.value, g.span),
                keys: None,
            })
            .collect(),
        function_locals: program
            .functions
            .iter()
            .map(|f| local_slots(&f.locals))
            .collect(),
        function_returns: program
            .functions
            .iter()
            .map(|f| Slot::new(f.return_type, f.span))
            .collect(),
        function_names: program.functions.iter().map(|f| f.name.clone()).collect(),
        probe_locals: program
            .probes
            .iter()
            .map(|p| local_slots(&p.locals))
            .collect(),
        procfs_probes: program
            .probes
            .iter()
            .map(|p| p.points.iter().any(|point| point.family == Family::Procfs))
            .collect(),
        owner: Owner::Probe(0),
        changed: false,
        report: false,
        diagnostics: Vec::new(),
    };
    // Every round that changes something types at least one more slot.
    let slot_count: usize = infer.globals.len() * 2
        + infer.function_returns.len()
        + infer
            .function_locals
            .iter()
            .map(|l| l.slots.len())
            .sum::<usize>()
        + infer
            .probe_locals
            .iter()
            .map(|l| l.slots.len())
            .sum::<usize>();
    for _ in 0..slot_count.saturating_add(2) {
        infer.changed = false;
        infer.walk_program(program);
        if !infer.changed {
            break;
        }
    }
    // SystemTap's rule: a function that returns no value and whose calls
    // never needed one is void.
    for (index, function) in program.functions.iter().enumerate() {
        if infer.function_returns[index].ty == Type::Unknown && !returns_value(&function.body) {
            infer.function_returns[index].ty = Type::Void;
        }
    }
    infer.report = true;
    infer.walk_program(program);
    infer.report_untyped(program);
    infer.write_back(program);
    diagnostics.append(&mut infer.diagnostics);
}

fn returns_value(body: &FunctionBody) -> bool {
    fn block(block: &Block) -> bool {
        block.stmts.iter().any(stmt)
    }
    fn stmt(s: &Stmt) -> bool {
        match &s.kind {
            StmtKind::Return(value) => value.is_some(),
            StmtKind::Block(b) => block(b),
            StmtKind::If {
                then_branch,
                else_branch,
                ..
            } => stmt(then_branch) || else_branch.as_deref().is_some_and(stmt),
            StmtKind::While { body, .. } | StmtKind::For { body, .. } => stmt(body),
            StmtKind::Foreach(foreach) => stmt(&foreach.body),
            StmtKind::Try {
                body, catch_body, ..
            } => block(body) || block(catch_body),
            _ => false,
        }
    }
    match body {
        FunctionBody::Script(body) => block(body),
        FunctionBody::Embedded(_) => false,
    }
}

fn local_slots(locals: &[Local]) -> LocalSlots {
    LocalSlots {
        slots: locals.iter().map(|l| Slot::new(l.ty, l.span)).collect(),
        names: locals.iter().map(|l| l.name.clone()).collect(),
    }
}

impl Infer {
    fn error(&mut self, diagnostic: Diagnostic) {
        // An expression may be walked twice in one pass (to push a type
        // back into it); report what it finds once.
        if self.report && !self.diagnostics.contains(&diagnostic) {
            self.diagnostics.push(diagnostic);
        }
    }

    fn walk_program(&mut self, program: &mut Program) {
        for (index, function) in program.functions.iter_mut().enumerate() {
            self.owner = Owner::Function(index);
            if let FunctionBody::Script(body) = &mut function.body {
                self.block(body);
            }
        }
        for (index, probe) in program.probes.iter_mut().enumerate() {
            self.owner = Owner::Probe(index);
            for point in &mut probe.points {
                if let Some(condition) = &mut point.condition {
                    self.expect(condition, Type::Long);
                }
            }
            self.block(&mut probe.body);
        }
    }

    fn locals(&mut self) -> &mut LocalSlots {
        match self.owner {
            Owner::Function(index) => &mut self.function_locals[index],
            Owner::Probe(index) => &mut self.probe_locals[index],
        }
    }

    // ---- slots ----------------------------------------------------------

    fn conflict(&mut self, span: Span, what: &str, found: Type, have: Type, origin: Option<Span>) {
        let mut diagnostic = Diagnostic::error(
            span,
            format!(
                "type mismatch: {what} is {} here, but {} elsewhere",
                found.name(),
                have.name()
            ),
        );
        if let Some(origin) = origin {
            diagnostic = diagnostic.with_label(
                origin,
                format!("{what} was first inferred as {} here", have.name()),
            );
        }
        self.error(diagnostic);
    }

    fn unify_local(&mut self, id: LocalId, ty: Type, span: Span) -> Type {
        let mut changed = false;
        let locals = self.locals();
        let Some(slot) = locals.slots.get_mut(id.0 as usize) else {
            return Type::Unknown;
        };
        let outcome = unify(slot, ty, span, &mut changed);
        let name = locals.names[id.0 as usize].clone();
        self.changed |= changed;
        match outcome {
            Unified::Ok(ty) => ty,
            Unified::Conflict(have, origin) => {
                self.conflict(span, &format!("`{name}`"), ty, have, origin);
                have
            }
        }
    }

    fn unify_global(&mut self, id: GlobalId, ty: Type, span: Span) -> Type {
        let global = &mut self.globals[id.0 as usize];
        match unify(&mut global.value, ty, span, &mut self.changed) {
            Unified::Ok(ty) => ty,
            Unified::Conflict(have, origin) => {
                let what = format!("`{}`", global.name);
                self.conflict(span, &what, ty, have, origin);
                have
            }
        }
    }

    fn unify_key(&mut self, id: GlobalId, index: usize, ty: Type, span: Span) -> Type {
        let global = &mut self.globals[id.0 as usize];
        let Some(slot) = global
            .keys
            .as_mut()
            .and_then(|(keys, _)| keys.get_mut(index))
        else {
            return Type::Unknown;
        };
        if ty == Type::Stats {
            let what = format!("key {} of `{}`", index + 1, global.name);
            self.error(Diagnostic::error(
                span,
                format!("{what} cannot be statistics"),
            ));
            return Type::Unknown;
        }
        match unify(slot, ty, span, &mut self.changed) {
            Unified::Ok(ty) => ty,
            Unified::Conflict(have, origin) => {
                let what = format!("key {} of `{}`", index + 1, global.name);
                self.conflict(span, &what, ty, have, origin);
                have
            }
        }
    }

    fn unify_return(&mut self, id: FunctionId, ty: Type, span: Span) -> Type {
        let index = id.0 as usize;
        if ty == Type::Stats {
            return self.function_returns[index].ty;
        }
        match unify(
            &mut self.function_returns[index],
            ty,
            span,
            &mut self.changed,
        ) {
            Unified::Ok(ty) => ty,
            Unified::Conflict(have, origin) => {
                let what = format!("the return value of `{}`", self.function_names[index]);
                self.conflict(span, &what, ty, have, origin);
                have
            }
        }
    }

    fn unify_param(&mut self, function: FunctionId, index: usize, ty: Type, span: Span) -> Type {
        let locals = &mut self.function_locals[function.0 as usize];
        let Some(slot) = locals.slots.get_mut(index) else {
            return Type::Unknown;
        };
        if ty == Type::Stats {
            return slot.ty;
        }
        match unify(slot, ty, span, &mut self.changed) {
            Unified::Ok(ty) => ty,
            Unified::Conflict(have, origin) => {
                let what = format!(
                    "parameter `{}` of `{}`",
                    locals.names[index], self.function_names[function.0 as usize]
                );
                self.conflict(span, &what, ty, have, origin);
                have
            }
        }
    }

    /// Records that `id` is used with `arity` keys (0: as a scalar).
    fn use_arity(&mut self, id: GlobalId, arity: usize, span: Span) -> bool {
        let global = &mut self.globals[id.0 as usize];
        match &global.keys {
            None => {
                global.keys = Some((vec![Slot::new(Type::Unknown, span); arity], span));
                self.changed = true;
                true
            }
            Some((keys, _)) if keys.len() == arity => true,
            Some((keys, first)) => {
                let describe = |n: usize| match n {
                    0 => "as a scalar".to_string(),
                    1 => "with 1 key".to_string(),
                    n => format!("with {n} keys"),
                };
                let diagnostic = Diagnostic::error(
                    span,
                    format!(
                        "inconsistent use of `{}`: {} here",
                        global.name,
                        describe(arity)
                    ),
                )
                .with_label(*first, format!("but {} here", describe(keys.len())));
                self.error(diagnostic);
                false
            }
        }
    }

    // ---- statements -----------------------------------------------------

    fn block(&mut self, block: &mut Block) {
        for stmt in &mut block.stmts {
            self.stmt(stmt);
        }
    }

    fn stmt(&mut self, stmt: &mut Stmt) {
        let span = stmt.span;
        match &mut stmt.kind {
            StmtKind::Block(block) => self.block(block),
            StmtKind::Expr(e) => {
                self.expr(e, Type::Void);
            }
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
                if let Some(init) = init {
                    self.expr(init, Type::Void);
                }
                if let Some(cond) = cond {
                    self.expect(cond, Type::Long);
                }
                if let Some(step) = step {
                    self.expr(step, Type::Void);
                }
                self.stmt(body);
            }
            StmtKind::Foreach(foreach) => self.foreach(foreach, span),
            StmtKind::Break | StmtKind::Continue | StmtKind::Next => {}
            StmtKind::Return(value) => {
                if let (Some(value), Owner::Function(index)) = (value, self.owner) {
                    let id = FunctionId(index as u32);
                    let want = self.function_returns[index].ty;
                    let ty = self.expr(value, want);
                    if ty == Type::Stats || ty == Type::Void {
                        self.error(Diagnostic::error(
                            value.span,
                            format!("cannot return a {} value", ty.name()),
                        ));
                    } else {
                        self.unify_return(id, ty, value.span);
                    }
                }
            }
            StmtKind::Delete(target) => self.delete(target),
            StmtKind::Try {
                body,
                catch_var,
                catch_body,
            } => {
                self.block(body);
                if let Some(var) = catch_var {
                    self.unify_local(*var, Type::String, span);
                }
                self.block(catch_body);
            }
        }
    }

    fn foreach(&mut self, foreach: &mut Foreach, span: Span) {
        match &mut foreach.source {
            Iterable::Global(array) => {
                let array = *array;
                let arity = foreach.keys.len();
                if self.use_arity(array, arity, span) {
                    for (index, key) in foreach.keys.iter().enumerate() {
                        let key_type = self.key_type(array, index);
                        let ty = self.unify_local(*key, key_type, span);
                        self.unify_key(array, index, ty, span);
                    }
                    if let Some(slice) = &mut foreach.slice {
                        if slice.len() != arity {
                            self.error(Diagnostic::error(
                                span,
                                "the slice has a different number of keys than the array",
                            ));
                        }
                        for (index, key) in slice.iter_mut().enumerate() {
                            if let Some(key) = key {
                                let want = self.key_type(array, index);
                                let ty = self.expr(key, want);
                                self.unify_key(array, index, ty, key.span);
                            }
                        }
                    }
                }
                if let Some(value) = foreach.value {
                    let value_type = self.globals[array.0 as usize].value.ty;
                    if value_type == Type::Stats {
                        self.error(
                            Diagnostic::error(
                                span,
                                "the value of a statistics array cannot be bound to a variable",
                            )
                            .with_note("use @count(a[k]), @sum(a[k]), ... in the loop body"),
                        );
                    } else {
                        let ty = self.unify_local(value, value_type, span);
                        self.unify_global(array, ty, span);
                    }
                }
            }
            Iterable::Hist(hist) => {
                self.stats_operand(&mut hist.stat);
                if foreach.keys.len() != 1 {
                    self.error(Diagnostic::error(
                        span,
                        "a histogram is iterated with one key, the bucket",
                    ));
                }
                for key in &foreach.keys {
                    self.unify_local(*key, Type::Long, span);
                }
                if let Some(value) = foreach.value {
                    self.unify_local(value, Type::Long, span);
                }
            }
        }
        if let Some(limit) = &mut foreach.limit {
            self.expect(limit, Type::Long);
        }
        self.stmt(&mut foreach.body);
    }

    fn key_type(&self, array: GlobalId, index: usize) -> Type {
        self.globals[array.0 as usize]
            .keys
            .as_ref()
            .and_then(|(keys, _)| keys.get(index))
            .map_or(Type::Unknown, |slot| slot.ty)
    }

    fn delete(&mut self, target: &mut Expr) {
        let span = target.span;
        target.ty = match &mut target.kind {
            // A whole array or scalar: any arity, any value type.
            ExprKind::Global(id) => self.globals[id.0 as usize].value.ty,
            ExprKind::Index { array, keys } => {
                let array = *array;
                self.index(array, keys, span)
            }
            _ => self.expr(target, Type::Unknown),
        };
    }

    // ---- expressions ----------------------------------------------------

    /// Infers `e` and requires type `want`.
    fn expect(&mut self, e: &mut Expr, want: Type) -> Type {
        let ty = self.expr(e, want);
        if ty != Type::Unknown && ty != want {
            self.error(Diagnostic::error(
                e.span,
                format!(
                    "type mismatch: expected {}, found {}",
                    want.name(),
                    ty.name()
                ),
            ));
        }
        ty
    }

    /// Infers `e`; `want` is the type the context would like (`Void` when
    /// the value is discarded, `Unknown` when any value will do).
    fn expr(&mut self, e: &mut Expr, want: Type) -> Type {
        let ty = self.expr_kind(e, want);
        e.ty = ty;
        ty
    }

    fn expr_kind(&mut self, e: &mut Expr, want: Type) -> Type {
        let span = e.span;
        match &mut e.kind {
            ExprKind::Number(_) => Type::Long,
            ExprKind::String(_) => Type::String,
            ExprKind::Local(id) => self.unify_local(*id, want, span),
            ExprKind::Global(id) => {
                let id = *id;
                self.use_arity(id, 0, span);
                if self.is_stats(id, &format!("`{}`", self.globals[id.0 as usize].name), span) {
                    return Type::Unknown;
                }
                self.unify_global(id, want, span)
            }
            ExprKind::Index { array, keys } => {
                let array = *array;
                if keys.iter().any(Option::is_none) {
                    self.error(Diagnostic::error(
                        span,
                        "`*` is only allowed in `delete` and in membership tests",
                    ));
                }
                self.index(array, keys, span);
                let what = format!("an element of `{}`", self.globals[array.0 as usize].name);
                if self.is_stats(array, &what, span) {
                    return Type::Unknown;
                }
                self.unify_global(array, want, span)
            }
            ExprKind::HistBucket { hist, bucket } => {
                self.stats_operand(&mut hist.stat);
                self.expect(bucket, Type::Long);
                Type::Long
            }
            ExprKind::Call { function, args } => {
                let function = *function;
                let index = function.0 as usize;
                for (position, arg) in args.iter_mut().enumerate() {
                    let want = self.function_locals[index]
                        .slots
                        .get(position)
                        .map_or(Type::Unknown, |s| s.ty);
                    let ty = self.expr(arg, want);
                    if ty == Type::Void || ty == Type::Stats {
                        self.error(Diagnostic::error(
                            arg.span,
                            format!("a {} value cannot be passed to a function", ty.name()),
                        ));
                    } else {
                        self.unify_param(function, position, ty, arg.span);
                    }
                }
                let ty = self.unify_return(
                    function,
                    if want.is_value() { want } else { Type::Unknown },
                    span,
                );
                if ty == Type::Void && want != Type::Void {
                    let name = self.function_names[index].clone();
                    self.error(Diagnostic::error(
                        span,
                        format!("`{name}` returns no value"),
                    ));
                    return Type::Unknown;
                }
                ty
            }
            ExprKind::Print(print) => self.print(print, span, want),
            ExprKind::Unary { operand, .. } => {
                self.expect(operand, Type::Long);
                Type::Long
            }
            ExprKind::Increment { target, .. } => {
                self.expect(target, Type::Long);
                Type::Long
            }
            ExprKind::Binary { op, lhs, rhs } => match op {
                BinaryOp::Concat => {
                    self.expect(lhs, Type::String);
                    self.expect(rhs, Type::String);
                    Type::String
                }
                op if op.is_comparison() => {
                    self.compare(lhs, rhs, span);
                    Type::Long
                }
                _ => {
                    self.expect(lhs, Type::Long);
                    self.expect(rhs, Type::Long);
                    Type::Long
                }
            },
            ExprKind::Regex { subject, .. } => {
                self.expect(subject, Type::String);
                Type::Long
            }
            ExprKind::Ternary {
                cond,
                then_value,
                else_value,
            } => {
                self.expect(cond, Type::Long);
                let mut then_type = self.expr(then_value, want);
                let else_type = self.expr(
                    else_value,
                    if then_type.is_value() {
                        then_type
                    } else {
                        want
                    },
                );
                if then_type == Type::Unknown && else_type.is_value() {
                    then_type = self.expr(then_value, else_type);
                }
                if then_type.is_value() && else_type.is_value() && then_type != else_type {
                    self.error(
                        Diagnostic::error(
                            else_value.span,
                            format!("type mismatch: this branch is {}", else_type.name()),
                        )
                        .with_label(
                            then_value.span,
                            format!("but this one is {}", then_type.name()),
                        ),
                    );
                }
                if then_type == Type::Unknown {
                    else_type
                } else {
                    then_type
                }
            }
            ExprKind::Assign { op, target, value } => self.assign(*op, target, value),
            ExprKind::In { keys, array } => {
                let array = *array;
                self.index(array, keys, span);
                Type::Long
            }
            ExprKind::Stat { operand, .. } => {
                self.stats_operand(operand);
                Type::Long
            }
            ExprKind::Target(target) => self.target(target),
            ExprKind::Defined(inner) => {
                self.expr(inner, Type::Unknown);
                Type::Long
            }
            ExprKind::Entry(inner) => self.expr(inner, want),
            ExprKind::Deref { addr, .. } => {
                self.expect(addr, Type::Long);
                Type::Long
            }
            ExprKind::Const(_)
            | ExprKind::Probewrite(_)
            | ExprKind::Perf(_)
            | ExprKind::Register { .. } => Type::Long,
            ExprKind::Embedded(code) => {
                if code.pragmas.string {
                    Type::String
                } else {
                    Type::Long
                }
            }
            ExprKind::ScriptArg(arg) => {
                if arg.string && arg.index.is_some() {
                    Type::String
                } else {
                    Type::Long
                }
            }
        }
    }

    /// Statistics are only usable through `<<<` and the `@` operators:
    /// reports a use of the statistics global `id` as a plain value.
    fn is_stats(&mut self, id: GlobalId, what: &str, span: Span) -> bool {
        let stats = self.globals[id.0 as usize].value.ty == Type::Stats;
        if stats {
            self.error(
                Diagnostic::error(
                    span,
                    format!("{what} holds statistics and is used as a value"),
                )
                .with_note(
                    "read statistics with @count, @sum, @min, @max, @avg, @variance or @hist_*",
                ),
            );
        }
        stats
    }

    /// Types the keys of `array[keys]`; returns the element type so far.
    fn index(&mut self, array: GlobalId, keys: &mut [Option<Expr>], span: Span) -> Type {
        if keys.is_empty() {
            return self.globals[array.0 as usize].value.ty;
        }
        if self.use_arity(array, keys.len(), span) {
            for (index, key) in keys.iter_mut().enumerate() {
                if let Some(key) = key {
                    let want = self.key_type(array, index);
                    let ty = self.expr(key, want);
                    self.unify_key(array, index, ty, key.span);
                }
            }
        }
        self.globals[array.0 as usize].value.ty
    }

    /// The operand of `<<<`, `@count(...)`, `@hist_*(...)`: a global
    /// (or global array element) of statistics.
    fn stats_operand(&mut self, e: &mut Expr) {
        let span = e.span;
        match &mut e.kind {
            ExprKind::Global(id) => {
                let id = *id;
                self.use_arity(id, 0, span);
                e.ty = self.unify_global(id, Type::Stats, span);
            }
            ExprKind::Index { array, keys } => {
                let array = *array;
                self.index(array, keys, span);
                e.ty = self.unify_global(array, Type::Stats, span);
            }
            ExprKind::Local(id) => {
                let name = self.locals().names[id.0 as usize].clone();
                self.error(
                    Diagnostic::error(
                        span,
                        format!("`{name}` is a local variable; statistics must be global"),
                    )
                    .with_note(format!("declare it with `global {name}`")),
                );
            }
            _ => {
                self.expr(e, Type::Unknown);
                self.error(Diagnostic::error(
                    span,
                    "expected a global statistics variable or array element",
                ));
            }
        }
    }

    fn compare(&mut self, lhs: &mut Expr, rhs: &mut Expr, span: Span) {
        let mut lhs_type = self.expr(lhs, Type::Unknown);
        let rhs_type = self.expr(
            rhs,
            if lhs_type.is_value() {
                lhs_type
            } else {
                Type::Unknown
            },
        );
        if lhs_type == Type::Unknown && rhs_type.is_value() {
            lhs_type = self.expr(lhs, rhs_type);
        }
        for (side, ty) in [(&*lhs, lhs_type), (&*rhs, rhs_type)] {
            if matches!(ty, Type::Void | Type::Stats) {
                self.error(Diagnostic::error(
                    side.span,
                    format!("cannot compare a {} value", ty.name()),
                ));
            }
        }
        if lhs_type.is_value() && rhs_type.is_value() && lhs_type != rhs_type {
            self.error(
                Diagnostic::error(
                    span,
                    format!(
                        "cannot compare {} with {}",
                        lhs_type.name(),
                        rhs_type.name()
                    ),
                )
                .with_label(lhs.span, format!("this is {}", lhs_type.name()))
                .with_label(rhs.span, format!("this is {}", rhs_type.name())),
            );
        }
    }

    fn assign(&mut self, op: AssignOp, target: &mut Expr, value: &mut Expr) -> Type {
        match op {
            AssignOp::Aggregate => {
                self.stats_operand(target);
                self.expect(value, Type::Long);
                Type::Void
            }
            AssignOp::Concat => {
                self.expect(target, Type::String);
                self.expect(value, Type::String);
                Type::String
            }
            AssignOp::Assign => {
                let mut target_type = self.expr(target, Type::Unknown);
                let value_type = self.expr(value, target_type);
                if matches!(value_type, Type::Void | Type::Stats) {
                    self.error(Diagnostic::error(
                        value.span,
                        format!("cannot assign a {} value", value_type.name()),
                    ));
                    return target_type;
                }
                if value_type.is_value() {
                    target_type = self.expr(target, value_type);
                    // Slots report their own conflicts; other targets are checked here.
                    let has_slot = matches!(
                        target.kind,
                        ExprKind::Local(_) | ExprKind::Global(_) | ExprKind::Index { .. }
                    );
                    if !has_slot && target_type.is_value() && target_type != value_type {
                        self.error(Diagnostic::error(
                            value.span,
                            format!(
                                "type mismatch: assigning {} to a {} target",
                                value_type.name(),
                                target_type.name()
                            ),
                        ));
                    }
                }
                target_type
            }
            _ => {
                self.expect(target, Type::Long);
                self.expect(value, Type::Long);
                Type::Long
            }
        }
    }

    fn target(&mut self, target: &mut TargetRef) -> Type {
        match &mut target.base {
            TargetBase::Cast { operand, .. } => {
                self.expect(operand, Type::Long);
            }
            TargetBase::Autocast(operand) => {
                self.expr(operand, Type::Unknown);
            }
            TargetBase::Var(_) | TargetBase::AtVar { .. } => {}
        }
        let mut pretty = false;
        for component in &mut target.components {
            match component {
                TargetComponent::Index(index) => {
                    self.expect(index, Type::Long);
                }
                TargetComponent::PrettyPrint { .. } => pretty = true,
                TargetComponent::Member(_) => {}
            }
        }
        let whole_context = matches!(&target.base, TargetBase::Var(name) if name.starts_with("$$"));
        let procfs_value = matches!(self.owner, Owner::Probe(index) if self.procfs_probes[index])
            && matches!(&target.base, TargetBase::Var(name) if name == "$value")
            && target.components.is_empty();
        if pretty || whole_context || procfs_value {
            Type::String
        } else {
            Type::Long
        }
    }

    fn print(&mut self, print: &mut Print, span: Span, want: Type) -> Type {
        if let Some(hist) = &mut print.hist {
            self.stats_operand(&mut hist.stat);
        }
        let wanted = print.format.as_ref().map(Format::arguments);
        for (position, arg) in print.args.iter_mut().enumerate() {
            match wanted.as_ref().and_then(|w| w.get(position)) {
                Some((ty, conversion)) => {
                    let found = self.expr(arg, *ty);
                    if found != Type::Unknown && found != *ty {
                        self.error(Diagnostic::error(
                            arg.span,
                            format!(
                                "type mismatch: {conversion} expects a {}, but this argument is a {}",
                                ty.name(),
                                found.name()
                            ),
                        ));
                    }
                }
                None => {
                    let found = self.expr(arg, Type::Unknown);
                    if matches!(found, Type::Void | Type::Stats) {
                        self.error(Diagnostic::error(
                            arg.span,
                            format!("cannot print a {} value", found.name()),
                        ));
                    }
                }
            }
        }
        if print.function.returns_string() {
            return Type::String;
        }
        if want != Type::Void {
            self.error(Diagnostic::error(
                span,
                format!("`{}` returns no value", print.function.name()),
            ));
            return Type::Unknown;
        }
        Type::Void
    }

    // ---- results --------------------------------------------------------

    fn report_untyped(&mut self, program: &Program) {
        for (global, slot) in program.globals.iter().zip(&self.globals) {
            if slot.value.ty == Type::Unknown {
                self.diagnostics.push(
                    Diagnostic::error(
                        global.span,
                        format!("cannot infer the type of global `{}`", global.name),
                    )
                    .with_note("it is never assigned a value of known type"),
                );
            }
            if let Some((keys, span)) = &slot.keys {
                for (index, key) in keys.iter().enumerate() {
                    if key.ty == Type::Unknown {
                        self.diagnostics.push(Diagnostic::error(
                            *span,
                            format!(
                                "cannot infer the type of key {} of `{}`",
                                index + 1,
                                global.name
                            ),
                        ));
                    }
                }
            }
        }
        for (index, function) in program.functions.iter().enumerate() {
            if self.function_returns[index].ty == Type::Unknown {
                self.diagnostics.push(Diagnostic::error(
                    function.span,
                    format!("cannot infer the return type of `{}`", function.name),
                ));
            }
            let slots = &self.function_locals[index].slots;
            for (local, slot) in function.locals.iter().zip(slots) {
                if slot.ty == Type::Unknown {
                    let what = match local.kind {
                        LocalKind::Param => {
                            format!("parameter `{}` of `{}`", local.name, function.name)
                        }
                        LocalKind::Var => format!("`{}`", local.name),
                    };
                    self.diagnostics.push(Diagnostic::error(
                        local.span,
                        format!("cannot infer the type of {what}"),
                    ));
                }
            }
        }
        for (probe, locals) in program.probes.iter().zip(&self.probe_locals) {
            for (local, slot) in probe.locals.iter().zip(&locals.slots) {
                if slot.ty == Type::Unknown {
                    self.diagnostics.push(Diagnostic::error(
                        local.span,
                        format!("cannot infer the type of `{}`", local.name),
                    ));
                }
            }
        }
    }

    fn write_back(&self, program: &mut Program) {
        for (global, slot) in program.globals.iter_mut().zip(&self.globals) {
            global.ty = VarType {
                value: slot.value.ty,
                keys: slot
                    .keys
                    .as_ref()
                    .map(|(keys, _)| keys.iter().map(|k| k.ty).collect())
                    .unwrap_or_default(),
            };
        }
        for (index, function) in program.functions.iter_mut().enumerate() {
            function.return_type = self.function_returns[index].ty;
            for (local, slot) in function
                .locals
                .iter_mut()
                .zip(&self.function_locals[index].slots)
            {
                local.ty = slot.ty;
            }
        }
        for (probe, locals) in program.probes.iter_mut().zip(&self.probe_locals) {
            for (local, slot) in probe.locals.iter_mut().zip(&locals.slots) {
                local.ty = slot.ty;
            }
        }
    }
}
