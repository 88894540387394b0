//! Resolution: lowers the syntax tree to IR with unknown types.
//!
//! Symbols are looked up as SystemTap does: a variable is a local of the
//! body if one of that name exists, else a global of the script or of an
//! included library file, else a global of some library file (which pulls
//! that file in), else a new local. Functions resolve by name and arity,
//! probe points through aliases down to builtin families. Only what is used
//! is lowered, so unused library functions never reach the program.

use std::collections::{HashMap, VecDeque};

use crate::ast::{self, Literal};
use crate::diagnostic::{Diagnostic, Span};
use crate::ir::{
    self, max_privilege, Family, FunctionId, GlobalId, LocalId, Pragmas, Type, VarType,
};
use crate::library::Library;
use crate::target::{glob_matches, Privilege};

use super::format::parse_format;
use super::probes::{check_shape, point_privilege};
use super::suggest::did_you_mean;
use super::Options;

/// Alias expansions nested deeper than this are refused (recursion is
/// caught earlier; this bounds the work on huge non-recursive chains).
const MAX_ALIAS_DEPTH: usize = 256;
/// Concrete points one written point may expand to (wildcards over aliases
/// multiply); beyond this the expansion is refused.
const MAX_EXPANDED_POINTS: usize = 100_000;

pub fn lower(
    script: &[ast::File],
    library: &Library,
    options: &Options,
) -> (ir::Program, Vec<Diagnostic>) {
    let mut resolver = Resolver::new(library, options);
    for file in script {
        resolver.include(file, None);
    }
    resolver.run();
    resolver.finish()
}

/// A file taking part in the program: a user file or a pulled-in library file.
struct Unit<'a> {
    ast: &'a ast::File,
    library_file: Option<usize>,
}

#[derive(Clone, Copy)]
struct FunctionDecl<'a> {
    unit: usize,
    item: usize,
    def: &'a ast::Function,
}

#[derive(Clone, Copy)]
struct GlobalDecl<'a> {
    unit: usize,
    /// (item, variable) within the unit.
    key: (usize, usize),
    private: bool,
    def: &'a ast::GlobalVar,
}

#[derive(Clone, Copy)]
struct AliasDecl<'a> {
    unit: usize,
    def: &'a ast::ProbeAlias,
}

/// What a body needs besides its own code: privilege and callees.
#[derive(Debug, Clone)]
struct Facts {
    privilege: Privilege,
    calls: Vec<FunctionId>,
}

impl Facts {
    fn new() -> Facts {
        Facts {
            privilege: Privilege::Stapusr,
            calls: Vec::new(),
        }
    }

    fn need(&mut self, privilege: Privilege) {
        self.privilege = max_privilege(self.privilege, privilege);
    }
}

/// The scope of one function or probe body being lowered.
struct BodyCx {
    /// Unit whose private names are visible (changes inside alias parts).
    unit: usize,
    locals: Vec<ir::Local>,
    names: HashMap<String, LocalId>,
    written: Vec<bool>,
    facts: Facts,
    /// Lowering a probe condition: only globals may be referenced.
    condition: bool,
    /// In a procfs probe, whose `$value` (the file's text) may be written.
    procfs: bool,
}

impl BodyCx {
    fn new(unit: usize) -> BodyCx {
        BodyCx {
            unit,
            locals: Vec::new(),
            names: HashMap::new(),
            written: Vec::new(),
            facts: Facts::new(),
            condition: false,
            procfs: false,
        }
    }

    fn declare(&mut self, name: &str, ty: Type, kind: ir::LocalKind, span: Span) -> LocalId {
        if let Some(&id) = self.names.get(name) {
            return id;
        }
        let id = LocalId(self.locals.len() as u32);
        self.locals.push(ir::Local {
            name: name.to_string(),
            ty,
            kind,
            span,
        });
        self.written.push(kind == ir::LocalKind::Param);
        self.names.insert(name.to_string(), id);
        id
    }

    /// A variable a statement binds (a `catch` or `foreach` variable): written there.
    fn declare_bound(&mut self, ident: &ast::Ident) -> LocalId {
        let id = self.declare(&ident.name, Type::Unknown, ir::LocalKind::Var, ident.span);
        self.written[id.0 as usize] = true;
        id
    }
}

/// A point after alias expansion, before lowering.
struct Concrete<'a> {
    family: Family,
    point: ast::ProbePoint,
    /// Conditions to AND together, each with the unit it was written in.
    conditions: Vec<(usize, &'a ast::Expr)>,
    written: String,
}

struct Resolver<'a> {
    library: &'a Library,
    options: &'a Options,
    units: Vec<Unit<'a>>,
    /// Library file index → unit.
    included: HashMap<usize, usize>,
    functions: HashMap<&'a str, Vec<FunctionDecl<'a>>>,
    globals: HashMap<&'a str, Vec<GlobalDecl<'a>>>,
    aliases: Vec<AliasDecl<'a>>,
    /// Indexes into `aliases` by the first component of each alias name.
    aliases_by_first: HashMap<&'a str, Vec<usize>>,
    pending_probes: VecDeque<(usize, &'a ast::Probe)>,
    pending_functions: VecDeque<FunctionId>,
    function_ids: HashMap<(usize, usize), FunctionId>,
    function_decls: Vec<FunctionDecl<'a>>,
    function_facts: Vec<Facts>,
    global_ids: HashMap<(usize, (usize, usize)), GlobalId>,
    probe_facts: Vec<Facts>,
    /// Top-level embedded C in the user's script (allowed by `-g`).
    user_embedded_c: bool,
    program: ir::Program,
    diagnostics: Vec<Diagnostic>,
}

impl<'a> Resolver<'a> {
    fn new(library: &'a Library, options: &'a Options) -> Resolver<'a> {
        Resolver {
            library,
            options,
            units: Vec::new(),
            included: HashMap::new(),
            functions: HashMap::new(),
            globals: HashMap::new(),
            aliases: Vec::new(),
            aliases_by_first: HashMap::new(),
            pending_probes: VecDeque::new(),
            pending_functions: VecDeque::new(),
            function_ids: HashMap::new(),
            function_decls: Vec::new(),
            function_facts: Vec::new(),
            global_ids: HashMap::new(),
            probe_facts: Vec::new(),
            user_embedded_c: false,
            program: ir::Program {
                globals: Vec::new(),
                functions: Vec::new(),
                probes: Vec::new(),
                embedded_c: Vec::new(),
                library_files: Vec::new(),
                privilege: Privilege::Stapusr,
            },
            diagnostics: Vec::new(),
        }
    }

    /// Records a diagnostic once: alias bodies are lowered once per probe
    /// using them, and would repeat their problems.
    fn report(&mut self, diagnostic: Diagnostic) {
        if !self.diagnostics.contains(&diagnostic) {
            self.diagnostics.push(diagnostic);
        }
    }

    fn is_library(&self, unit: usize) -> bool {
        self.units[unit].library_file.is_some()
    }

    /// Adds a file's declarations to the symbol tables and queues its probes.
    fn include(&mut self, file: &'a ast::File, library_file: Option<usize>) -> usize {
        let unit = self.units.len();
        self.units.push(Unit {
            ast: file,
            library_file,
        });
        if let Some(index) = library_file {
            self.included.insert(index, unit);
            self.program
                .library_files
                .push(self.library.files()[index].name.clone());
        }
        for (item_index, item) in file.items.iter().enumerate() {
            match item {
                ast::Item::Function(def) => {
                    self.functions
                        .entry(&def.name.name)
                        .or_default()
                        .push(FunctionDecl {
                            unit,
                            item: item_index,
                            def,
                        })
                }
                ast::Item::Global(decl) => {
                    for (var_index, def) in decl.vars.iter().enumerate() {
                        self.globals
                            .entry(&def.name.name)
                            .or_default()
                            .push(GlobalDecl {
                                unit,
                                key: (item_index, var_index),
                                private: decl.private,
                                def,
                            });
                    }
                }
                ast::Item::Alias(def) => {
                    let index = self.aliases.len();
                    self.aliases.push(AliasDecl { unit, def });
                    for name in &def.names {
                        if let Some(first) = name.components.first() {
                            let indexes = self.aliases_by_first.entry(&first.name).or_default();
                            if !indexes.contains(&index) {
                                indexes.push(index);
                            }
                        }
                    }
                }
                ast::Item::Probe(probe) => self.pending_probes.push_back((unit, probe)),
                ast::Item::Embedded(code) => {
                    let mut facts = Facts::new();
                    if self.require_guru(unit, code.span, "embedded C", &mut facts) {
                        self.user_embedded_c |= !self.is_library(unit);
                        self.program.embedded_c.push(ir::EmbeddedC {
                            code: code.code.clone(),
                            pragmas: Pragmas::of(&code.code),
                            span: code.span,
                        });
                    }
                }
            }
        }
        unit
    }

    fn include_library_file(&mut self, index: usize) {
        if self.included.contains_key(&index) {
            return;
        }
        let library: &'a Library = self.library;
        if let Some(file) = library.files().get(index) {
            self.include(&file.ast, Some(index));
        }
    }

    /// Lowers queued probes and functions until none are left (lowering
    /// one may pull in library files and queue more).
    fn run(&mut self) {
        loop {
            if let Some((unit, probe)) = self.pending_probes.pop_front() {
                self.lower_probe(unit, probe);
            } else if let Some(id) = self.pending_functions.pop_front() {
                self.lower_function(id);
            } else {
                break;
            }
        }
    }

    fn finish(mut self) -> (ir::Program, Vec<Diagnostic>) {
        self.warn_unused_globals();
        // Function privileges include their callees': propagate to a fixed point.
        let mut function_privilege: Vec<Privilege> =
            self.function_facts.iter().map(|f| f.privilege).collect();
        loop {
            let mut changed = false;
            for (index, facts) in self.function_facts.iter().enumerate() {
                for callee in &facts.calls {
                    let needed = max_privilege(
                        function_privilege[index],
                        function_privilege[callee.0 as usize],
                    );
                    if needed != function_privilege[index] {
                        function_privilege[index] = needed;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let mut total = Privilege::Stapusr;
        for (function, privilege) in self.program.functions.iter_mut().zip(&function_privilege) {
            function.privilege = *privilege;
            total = max_privilege(total, *privilege);
        }
        for (probe, facts) in self.program.probes.iter_mut().zip(&self.probe_facts) {
            let mut privilege = facts.privilege;
            for point in &probe.points {
                privilege = max_privilege(privilege, point_privilege(point));
            }
            for callee in &facts.calls {
                privilege = max_privilege(privilege, function_privilege[callee.0 as usize]);
            }
            probe.privilege = privilege;
            total = max_privilege(total, privilege);
        }
        if self.user_embedded_c {
            total = Privilege::Stapdev;
        }
        self.program.privilege = total;
        if self.program.probes.is_empty() && !self.diagnostics.iter().any(Diagnostic::is_error) {
            let span = self.units.first().map(|u| u.ast.span).unwrap_or_default();
            self.report(Diagnostic::error(
                Span {
                    end: span.start,
                    ..span
                },
                "the script has no probes",
            ));
        }
        (self.program, self.diagnostics)
    }

    fn warn_unused_globals(&mut self) {
        let mut unused = Vec::new();
        for decls in self.globals.values() {
            for decl in decls {
                if !self.is_library(decl.unit)
                    && !self.global_ids.contains_key(&(decl.unit, decl.key))
                {
                    unused.push((decl.def.span, decl.def.name.name.clone()));
                }
            }
        }
        unused.sort_by_key(|(span, _)| (span.file, span.start));
        for (span, name) in unused {
            self.report(Diagnostic::warning(
                span,
                format!("global `{name}` is never used"),
            ));
        }
    }

    /// Checks a guru-mode construct: always allowed in library files, in the
    /// user's script only with `-g`. Returns whether it is allowed.
    fn require_guru(&mut self, unit: usize, span: Span, what: &str, facts: &mut Facts) -> bool {
        if self.is_library(unit) {
            return true;
        }
        facts.need(Privilege::Stapdev);
        if self.options.guru {
            return true;
        }
        self.report(
            Diagnostic::error(span, format!("{what} requires guru mode"))
                .with_note("run with -g to allow it (the script then needs stapdev privilege)"),
        );
        false
    }

    // ---- symbols --------------------------------------------------------

    fn visible(&self, from: usize, unit: usize, private: bool) -> bool {
        !private || from == unit
    }

    fn global_id(&mut self, decl: GlobalDecl<'a>) -> GlobalId {
        if let Some(&id) = self.global_ids.get(&(decl.unit, decl.key)) {
            return id;
        }
        let id = GlobalId(self.program.globals.len() as u32);
        let value = match decl.def.init {
            Some(Literal::Number(_)) => Type::Long,
            Some(Literal::String(_)) => Type::String,
            None => Type::Unknown,
        };
        self.program.globals.push(ir::Global {
            name: decl.def.name.name.clone(),
            ty: VarType::scalar(value),
            wrap: decl.def.wrap,
            size: decl.def.size,
            init: decl.def.init.clone(),
            from_library: self.is_library(decl.unit),
            span: decl.def.name.span,
        });
        self.global_ids.insert((decl.unit, decl.key), id);
        id
    }

    /// The global `name` visible from `unit`, pulling in a library file if needed.
    fn lookup_global(&mut self, name: &str, unit: usize) -> Option<GlobalId> {
        for attempt in 0..2 {
            let found = self.globals.get(name).and_then(|decls| {
                decls
                    .iter()
                    .find(|d| self.visible(unit, d.unit, d.private))
                    .copied()
            });
            if let Some(decl) = found {
                return Some(self.global_id(decl));
            }
            if attempt == 0 {
                let refs = self.library.globals_named(name);
                if refs.iter().all(|r| self.included.contains_key(&r.file)) {
                    return None;
                }
                for r in refs {
                    self.include_library_file(r.file);
                }
            }
        }
        None
    }

    fn function_id(&mut self, decl: FunctionDecl<'a>) -> FunctionId {
        if let Some(&id) = self.function_ids.get(&(decl.unit, decl.item)) {
            return id;
        }
        let id = FunctionId(self.program.functions.len() as u32);
        let def = decl.def;
        // Unannotated: inferred from returns and from calls; a function with
        // neither is void (see `infer`).
        let return_type = def.return_type.map_or(Type::Unknown, annotation);
        self.program.functions.push(ir::Function {
            name: def.name.name.clone(),
            param_count: def.params.len(),
            locals: Vec::new(),
            return_type,
            body: ir::FunctionBody::Script(ir::Block {
                stmts: Vec::new(),
                span: def.span,
            }),
            next_overload: None,
            privilege: Privilege::Stapusr,
            from_library: self.is_library(decl.unit),
            span: def.name.span,
        });
        self.function_decls.push(decl);
        self.function_facts.push(Facts::new());
        self.function_ids.insert((decl.unit, decl.item), id);
        self.pending_functions.push_back(id);
        id
    }

    /// Resolves a call of `name` with `arity` arguments from `unit`.
    fn resolve_call(&mut self, name: &ast::Ident, arity: usize, unit: usize) -> Option<FunctionId> {
        for attempt in 0..2 {
            let mut matching: Vec<FunctionDecl<'a>> = self
                .functions
                .get(name.name.as_str())
                .map(|decls| {
                    decls
                        .iter()
                        .filter(|d| {
                            self.visible(unit, d.unit, d.def.private) && d.def.params.len() == arity
                        })
                        .copied()
                        .collect()
                })
                .unwrap_or_default();
            if !matching.is_empty() {
                // Overloads run in priority order; `next` falls through to the following one.
                matching.sort_by_key(|d| d.def.priority.unwrap_or(0));
                let ids: Vec<FunctionId> =
                    matching.into_iter().map(|d| self.function_id(d)).collect();
                for pair in ids.windows(2) {
                    let function = &mut self.program.functions[pair[0].0 as usize];
                    function.next_overload.get_or_insert(pair[1]);
                }
                return Some(ids[0]);
            }
            if attempt == 0 {
                let refs = self.library.functions_named(&name.name);
                if refs.iter().all(|r| self.included.contains_key(&r.file)) {
                    break;
                }
                for r in refs {
                    self.include_library_file(r.file);
                }
            }
        }
        let others: Vec<FunctionDecl<'a>> = self
            .functions
            .get(name.name.as_str())
            .map(|decls| {
                decls
                    .iter()
                    .filter(|d| self.visible(unit, d.unit, d.def.private))
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        if others.is_empty() {
            let mut diagnostic =
                Diagnostic::error(name.span, format!("unresolved function `{}`", name.name));
            let candidates = self
                .functions
                .keys()
                .copied()
                .chain(self.library.function_names())
                .chain(ast::PrintFn::ALL.iter().map(|f| f.name()));
            if let Some(note) = did_you_mean(&name.name, candidates) {
                diagnostic = diagnostic.with_note(note);
            }
            self.report(diagnostic);
        } else {
            let mut diagnostic = Diagnostic::error(
                name.span,
                format!(
                    "function `{}` takes {}, but {} supplied",
                    name.name,
                    others
                        .iter()
                        .map(|d| plural(d.def.params.len(), "argument"))
                        .collect::<Vec<_>>()
                        .join(" or "),
                    plural_verb(arity)
                ),
            );
            for decl in others {
                diagnostic = diagnostic.with_label(
                    decl.def.name.span,
                    format!(
                        "defined here with {}",
                        plural(decl.def.params.len(), "parameter")
                    ),
                );
            }
            self.report(diagnostic);
        }
        None
    }

    // ---- functions ------------------------------------------------------

    fn lower_function(&mut self, id: FunctionId) {
        let decl = self.function_decls[id.0 as usize];
        let def = decl.def;
        let mut cx = BodyCx::new(decl.unit);
        for param in &def.params {
            let ty = param.ty.map_or(Type::Unknown, annotation);
            cx.declare(&param.name.name, ty, ir::LocalKind::Param, param.name.span);
        }
        let body = match &def.body {
            ast::FunctionBody::Block(block) => {
                ir::FunctionBody::Script(self.lower_block(block, &mut cx))
            }
            ast::FunctionBody::Embedded(code) => {
                let pragmas = Pragmas::of(&code.code);
                if self.require_guru(
                    decl.unit,
                    code.span,
                    "a function in embedded C",
                    &mut cx.facts,
                ) {
                    cx.facts.need(embedded_privilege(pragmas));
                }
                ir::FunctionBody::Embedded(ir::EmbeddedC {
                    code: code.code.clone(),
                    pragmas,
                    span: code.span,
                })
            }
        };
        self.warn_never_assigned(&cx);
        let function = &mut self.program.functions[id.0 as usize];
        function.locals = cx.locals;
        function.body = body;
        self.function_facts[id.0 as usize] = cx.facts;
    }

    fn warn_never_assigned(&mut self, cx: &BodyCx) {
        for (local, written) in cx.locals.iter().zip(&cx.written) {
            if *written {
                continue;
            }
            let mut diagnostic = Diagnostic::warning(
                local.span,
                format!("local variable `{}` is never assigned", local.name),
            );
            let candidates = self
                .globals
                .keys()
                .copied()
                .chain(cx.locals.iter().map(|l| l.name.as_str()));
            if let Some(note) = did_you_mean(&local.name, candidates) {
                diagnostic = diagnostic.with_note(note);
            }
            self.report(diagnostic);
        }
    }

    // ---- probes ---------------------------------------------------------

    fn lower_probe(&mut self, unit: usize, probe: &'a ast::Probe) {
        // Points expanded through the same aliases share one handler.
        let mut groups: Vec<(Vec<usize>, Vec<Concrete<'a>>)> = Vec::new();
        for point in &probe.points {
            let written = point_text(point);
            let mut expanded = Vec::new();
            let mut start = point.clone();
            let conditions: Vec<(usize, &'a ast::Expr)> = point
                .condition
                .as_ref()
                .map(|c| (unit, c))
                .into_iter()
                .collect();
            start.condition = None;
            self.expand(
                unit,
                start,
                conditions,
                &written,
                Vec::new(),
                0,
                &mut expanded,
            );
            for (chain, concrete) in expanded {
                match groups.iter_mut().find(|(c, _)| *c == chain) {
                    Some((_, points)) => points.push(concrete),
                    None => groups.push((chain, vec![concrete])),
                }
            }
        }
        for (chain, points) in groups {
            let mut cx = BodyCx::new(unit);
            cx.procfs = points.iter().any(|p| p.family == Family::Procfs);
            let mut ir_points = Vec::new();
            for concrete in points {
                let condition = self.lower_conditions(&concrete.conditions, &mut cx);
                ir_points.push(ir::ProbePoint {
                    family: concrete.family,
                    components: concrete.point.components,
                    optional: concrete.point.optional,
                    sufficient: concrete.point.sufficient,
                    condition,
                    written: concrete.written,
                    span: concrete.point.span,
                });
            }
            let body = if chain.is_empty() {
                self.lower_block(&probe.body, &mut cx)
            } else {
                let mut stmts = Vec::new();
                for &alias in chain.iter().rev() {
                    let AliasDecl {
                        unit: alias_unit,
                        def,
                    } = self.aliases[alias];
                    if let Some(prologue) = &def.prologue {
                        cx.unit = alias_unit;
                        stmts.push(self.block_stmt(prologue, &mut cx));
                    }
                }
                cx.unit = unit;
                stmts.push(self.block_stmt(&probe.body, &mut cx));
                for &alias in &chain {
                    let AliasDecl {
                        unit: alias_unit,
                        def,
                    } = self.aliases[alias];
                    if let Some(epilogue) = &def.epilogue {
                        cx.unit = alias_unit;
                        stmts.push(self.block_stmt(epilogue, &mut cx));
                    }
                }
                cx.unit = unit;
                ir::Block {
                    stmts,
                    span: probe.body.span,
                }
            };
            self.warn_never_assigned(&cx);
            let aliases = chain
                .iter()
                .map(|&a| point_text(&self.aliases[a].def.names[0]))
                .collect();
            self.program.probes.push(ir::Probe {
                points: ir_points,
                locals: cx.locals,
                body,
                aliases,
                privilege: Privilege::Stapusr,
                from_library: self.is_library(unit),
                span: probe.span,
            });
            self.probe_facts.push(cx.facts);
        }
    }

    fn block_stmt(&mut self, block: &ast::Block, cx: &mut BodyCx) -> ir::Stmt {
        ir::Stmt {
            kind: ir::StmtKind::Block(self.lower_block(block, cx)),
            span: block.span,
        }
    }

    fn lower_conditions(
        &mut self,
        conditions: &[(usize, &ast::Expr)],
        cx: &mut BodyCx,
    ) -> Option<ir::Expr> {
        let saved = cx.unit;
        let mut combined: Option<ir::Expr> = None;
        for (unit, condition) in conditions {
            cx.unit = *unit;
            cx.condition = true;
            let lowered = self.lower_expr(condition, cx);
            cx.condition = false;
            combined = Some(match combined {
                None => lowered,
                Some(previous) => ir::Expr {
                    span: previous.span,
                    kind: ir::ExprKind::Binary {
                        op: ast::BinaryOp::LogicalAnd,
                        lhs: Box::new(previous),
                        rhs: Box::new(lowered),
                    },
                    ty: Type::Long,
                },
            });
        }
        cx.unit = saved;
        combined
    }

    /// Expands `point` through matching aliases, recursively, down to
    /// builtin families. Each result carries the aliases used, outermost first.
    #[allow(clippy::too_many_arguments)]
    fn expand(
        &mut self,
        unit: usize,
        point: ast::ProbePoint,
        conditions: Vec<(usize, &'a ast::Expr)>,
        written: &str,
        chain: Vec<usize>,
        depth: usize,
        out: &mut Vec<(Vec<usize>, Concrete<'a>)>,
    ) {
        if out.len() >= MAX_EXPANDED_POINTS {
            self.report(Diagnostic::error(
                point.span,
                format!(
                    "probe point `{written}` expands to more than {MAX_EXPANDED_POINTS} points"
                ),
            ));
            return;
        }
        if depth > MAX_ALIAS_DEPTH {
            self.report(Diagnostic::error(
                point.span,
                format!(
                    "probe point `{written}` expands through more than {MAX_ALIAS_DEPTH} aliases"
                ),
            ));
            return;
        }
        let matches = self.matching_aliases(&point);
        if !matches.is_empty() {
            for (alias_index, name_len) in matches {
                let AliasDecl {
                    unit: alias_unit,
                    def,
                } = self.aliases[alias_index];
                if chain.contains(&alias_index) {
                    let cycle: Vec<String> = chain
                        .iter()
                        .skip_while(|&&a| a != alias_index)
                        .chain(std::iter::once(&alias_index))
                        .map(|&a| format!("`{}`", point_text(&self.aliases[a].def.names[0])))
                        .collect();
                    self.report(
                        Diagnostic::error(
                            point.span,
                            format!("recursive probe alias `{}`", point_text(&def.names[0])),
                        )
                        .with_label(def.span, "defined here")
                        .with_note(format!("expansion cycle: {}", cycle.join(" -> "))),
                    );
                    continue;
                }
                for target in &def.points {
                    let mut next = target.clone();
                    next.components
                        .extend(point.components[name_len..].iter().cloned());
                    next.optional |= point.optional;
                    next.sufficient |= point.sufficient;
                    next.condition = None;
                    let mut next_conditions = conditions.clone();
                    if let Some(condition) = &target.condition {
                        next_conditions.push((alias_unit, condition));
                    }
                    let mut next_chain = chain.clone();
                    next_chain.push(alias_index);
                    self.expand(
                        alias_unit,
                        next,
                        next_conditions,
                        written,
                        next_chain,
                        depth + 1,
                        out,
                    );
                }
            }
            return;
        }
        let Some(first) = point.components.first() else {
            return;
        };
        let guru = self.options.guru || self.is_library(unit);
        match Family::from_name(&first.name) {
            Some(family) => match check_shape(family, &point, guru) {
                Ok(()) => out.push((
                    chain,
                    Concrete {
                        family,
                        point,
                        conditions,
                        written: written.to_string(),
                    },
                )),
                Err(diagnostic) => self.report(diagnostic),
            },
            None if point.optional => {}
            None => self.report_unknown_point(unit, &point, written),
        }
    }

    fn report_unknown_point(&mut self, _unit: usize, point: &ast::ProbePoint, written: &str) {
        let text = point_text(point);
        let mut names: Vec<String> = Family::ALL.iter().map(|f| f.name().to_string()).collect();
        for alias in &self.aliases {
            names.extend(alias.def.names.iter().map(point_text));
        }
        names.extend(self.library.alias_names());
        let message = if text == written {
            format!("probe point `{text}` matches no probe alias or probe family")
        } else {
            format!(
                "probe point `{text}` (from `{written}`) matches no probe alias or probe family"
            )
        };
        let mut diagnostic = Diagnostic::error(point.span, message);
        if let Some(note) = did_you_mean(&text, names.iter().map(String::as_str)) {
            diagnostic = diagnostic.with_note(note);
        }
        self.report(diagnostic);
    }

    /// Aliases whose name matches `point` (pulling in library files that
    /// define such aliases): full-length matches if any, else the longest
    /// prefix matches, the rest of the point then being a suffix appended to
    /// the alias's points. Returns (alias index, name length) pairs.
    fn matching_aliases(&mut self, point: &ast::ProbePoint) -> Vec<(usize, usize)> {
        let library = self.library;
        let mut to_include = Vec::new();
        let Some(first) = point.components.first() else {
            return Vec::new();
        };
        for r in library.aliases_matching(&first.name) {
            if self.included.contains_key(&r.file) || to_include.contains(&r.file) {
                continue;
            }
            if let Some(ast::Item::Alias(alias)) = library.item(r) {
                if alias
                    .names
                    .iter()
                    .any(|name| name_match(name, point).is_some())
                {
                    to_include.push(r.file);
                }
            }
        }
        for file in to_include {
            self.include_library_file(file);
        }
        let mut candidates: Vec<usize> = if first.name.contains(['*', '?', '[']) {
            self.aliases_by_first
                .iter()
                .filter(|(name, _)| glob_matches(&first.name, name))
                .flat_map(|(_, indexes)| indexes.iter().copied())
                .collect()
        } else {
            self.aliases_by_first
                .get(first.name.as_str())
                .cloned()
                .unwrap_or_default()
        };
        candidates.sort_unstable();
        candidates.dedup();
        let mut matches: Vec<(usize, usize)> = Vec::new();
        for index in candidates {
            let alias = self.aliases[index];
            if let Some(len) = alias
                .def
                .names
                .iter()
                .filter_map(|n| name_match(n, point))
                .max()
            {
                matches.push((index, len));
            }
        }
        let Some(best) = matches.iter().map(|(_, len)| *len).max() else {
            return matches;
        };
        // A builtin point beats an alias that only matches a prefix of it
        // (`timer.profile.tick` is builtin although `timer.profile` is an alias).
        if best < point.components.len() && Family::from_name(&first.name).is_some() {
            return Vec::new();
        }
        matches.retain(|(_, len)| *len == best);
        matches
    }

    // ---- statements -----------------------------------------------------

    fn lower_block(&mut self, block: &ast::Block, cx: &mut BodyCx) -> ir::Block {
        ir::Block {
            stmts: block
                .stmts
                .iter()
                .filter_map(|s| self.lower_stmt(s, cx))
                .collect(),
            span: block.span,
        }
    }

    fn lower_boxed(&mut self, stmt: &ast::Stmt, cx: &mut BodyCx) -> Box<ir::Stmt> {
        Box::new(self.lower_stmt(stmt, cx).unwrap_or(ir::Stmt {
            kind: ir::StmtKind::Block(ir::Block {
                stmts: Vec::new(),
                span: stmt.span,
            }),
            span: stmt.span,
        }))
    }

    fn lower_stmt(&mut self, stmt: &ast::Stmt, cx: &mut BodyCx) -> Option<ir::Stmt> {
        use ast::StmtKind as S;
        let kind = match &stmt.kind {
            S::Empty => return None,
            S::Block(block) => ir::StmtKind::Block(self.lower_block(block, cx)),
            S::Expr(expr) => ir::StmtKind::Expr(self.lower_expr(expr, cx)),
            S::If {
                cond,
                then_branch,
                else_branch,
            } => ir::StmtKind::If {
                cond: self.lower_expr(cond, cx),
                then_branch: self.lower_boxed(then_branch, cx),
                else_branch: else_branch.as_ref().map(|s| self.lower_boxed(s, cx)),
            },
            S::While { cond, body } => ir::StmtKind::While {
                cond: self.lower_expr(cond, cx),
                body: self.lower_boxed(body, cx),
            },
            S::For {
                init,
                cond,
                step,
                body,
            } => ir::StmtKind::For {
                init: init.as_ref().map(|e| self.lower_expr(e, cx)),
                cond: cond.as_ref().map(|e| self.lower_expr(e, cx)),
                step: step.as_ref().map(|e| self.lower_expr(e, cx)),
                body: self.lower_boxed(body, cx),
            },
            S::Foreach(foreach) => {
                ir::StmtKind::Foreach(Box::new(self.lower_foreach(foreach, cx)?))
            }
            S::Break => ir::StmtKind::Break,
            S::Continue => ir::StmtKind::Continue,
            S::Next => ir::StmtKind::Next,
            S::Return(value) => {
                ir::StmtKind::Return(value.as_ref().map(|e| self.lower_expr(e, cx)))
            }
            S::Delete(target) => ir::StmtKind::Delete(self.lower_delete(target, cx)),
            S::Try {
                body,
                catch_var,
                catch_body,
            } => {
                let body = self.lower_block(body, cx);
                let catch_var = catch_var.as_ref().map(|v| cx.declare_bound(v));
                ir::StmtKind::Try {
                    body,
                    catch_var,
                    catch_body: self.lower_block(catch_body, cx),
                }
            }
        };
        Some(ir::Stmt {
            kind,
            span: stmt.span,
        })
    }

    fn lower_foreach(&mut self, foreach: &ast::Foreach, cx: &mut BodyCx) -> Option<ir::Foreach> {
        let source = match &foreach.array {
            ast::Indexable::Name(name) => ir::Iterable::Global(self.lookup_array(name, cx)?),
            ast::Indexable::Hist(hist) => ir::Iterable::Hist(Box::new(self.lower_hist(hist, cx))),
        };
        let value = foreach.value.as_ref().map(|v| cx.declare_bound(v));
        let keys: Vec<LocalId> = foreach.keys.iter().map(|k| cx.declare_bound(k)).collect();
        let sort = foreach.sort.as_ref().map(|sort| ir::Sort {
            key: match sort.column {
                ast::SortColumn::Value => None,
                ast::SortColumn::Key(index) => Some(index),
            },
            direction: sort.direction,
            aggregate: sort.aggregate,
        });
        if let Some(ir::Sort {
            key: Some(index), ..
        }) = sort
        {
            if index >= keys.len() {
                self.report(Diagnostic::error(
                    foreach.body.span,
                    "sort mark on a key that does not exist",
                ));
            }
        }
        let slice = foreach.slice.as_ref().map(|keys| {
            keys.iter()
                .map(|k| k.as_ref().map(|e| self.lower_expr(e, cx)))
                .collect()
        });
        Some(ir::Foreach {
            value,
            keys,
            source,
            slice,
            sort,
            limit: foreach.limit.as_ref().map(|e| self.lower_expr(e, cx)),
            body: self.lower_boxed(&foreach.body, cx),
        })
    }

    fn lower_delete(&mut self, target: &ast::Expr, cx: &mut BodyCx) -> ir::Expr {
        match &target.kind {
            ast::ExprKind::Var(name) => self.lower_written_var(name, target.span, cx),
            ast::ExprKind::Index { base, indexes } => {
                self.lower_index(base, indexes, true, target.span, cx)
            }
            _ => {
                self.report(Diagnostic::error(
                    target.span,
                    "`delete` needs a variable, an array or an array element",
                ));
                error_expr(target.span)
            }
        }
    }

    // ---- expressions ----------------------------------------------------

    fn lookup_var(&mut self, name: &str, span: Span, cx: &mut BodyCx) -> ir::ExprKind {
        if let Some(&id) = cx.names.get(name) {
            return ir::ExprKind::Local(id);
        }
        if let Some(id) = self.lookup_global(name, cx.unit) {
            return ir::ExprKind::Global(id);
        }
        if cx.condition {
            let mut diagnostic = Diagnostic::error(
                span,
                format!("probe conditions may only use globals, and `{name}` is not a global"),
            );
            if let Some(note) = did_you_mean(name, self.globals.keys().copied()) {
                diagnostic = diagnostic.with_note(note);
            }
            self.report(diagnostic);
            return ir::ExprKind::Number(0);
        }
        ir::ExprKind::Local(cx.declare(name, Type::Unknown, ir::LocalKind::Var, span))
    }

    fn lookup_array(&mut self, name: &ast::Ident, cx: &BodyCx) -> Option<GlobalId> {
        if cx.names.contains_key(&name.name) {
            self.report(
                Diagnostic::error(
                    name.span,
                    format!("`{}` is a local variable and cannot be indexed", name.name),
                )
                .with_note("arrays must be declared global"),
            );
            return None;
        }
        if let Some(id) = self.lookup_global(&name.name, cx.unit) {
            return Some(id);
        }
        let mut diagnostic =
            Diagnostic::error(name.span, format!("unresolved array `{}`", name.name))
                .with_note("arrays must be declared global");
        if let Some(note) = did_you_mean(
            &name.name,
            self.globals
                .keys()
                .copied()
                .chain(self.library.global_names()),
        ) {
            diagnostic = diagnostic.with_note(note);
        }
        self.report(diagnostic);
        None
    }

    fn lower_index(
        &mut self,
        base: &ast::Indexable,
        indexes: &[Option<ast::Expr>],
        wildcards: bool,
        span: Span,
        cx: &mut BodyCx,
    ) -> ir::Expr {
        let keys: Vec<Option<ir::Expr>> = indexes
            .iter()
            .map(|index| match index {
                Some(e) => Some(self.lower_expr(e, cx)),
                None => {
                    if !wildcards {
                        self.report(Diagnostic::error(
                            span,
                            "`*` is only allowed in `delete` and in membership tests",
                        ));
                    }
                    None
                }
            })
            .collect();
        match base {
            ast::Indexable::Name(name) => match self.lookup_array(name, cx) {
                Some(array) => expr(ir::ExprKind::Index { array, keys }, span),
                None => error_expr(span),
            },
            ast::Indexable::Hist(hist) => {
                let hist = self.lower_hist(hist, cx);
                match <[Option<ir::Expr>; 1]>::try_from(keys) {
                    Ok([Some(bucket)]) => expr(
                        ir::ExprKind::HistBucket {
                            hist: Box::new(hist),
                            bucket: Box::new(bucket),
                        },
                        span,
                    ),
                    _ => {
                        self.report(Diagnostic::error(
                            span,
                            "a histogram is indexed by one bucket number",
                        ));
                        error_expr(span)
                    }
                }
            }
        }
    }

    fn lower_hist(&mut self, hist: &ast::HistOp, cx: &mut BodyCx) -> ir::Hist {
        if let ast::HistKind::Linear { low, high, step } = hist.kind {
            let in_int = |n: i64| i32::try_from(n).is_ok();
            if step <= 0 || high <= low {
                self.report(Diagnostic::error(
                    hist.span,
                    "`@hist_linear` needs low < high and a positive step",
                ));
            } else if !(in_int(low) && in_int(high) && in_int(step)) {
                self.report(Diagnostic::error(
                    hist.span,
                    "`@hist_linear` bounds and step must fit in 32 bits, as in SystemTap",
                ));
            } else if (high - low) / step + 3 > 128 {
                // SystemTap's limit, the underflow and overflow buckets included.
                self.report(Diagnostic::error(
                    hist.span,
                    format!(
                        "`@hist_linear` would have {} buckets with the underflow and overflow ones, at most 128 are allowed: use a larger step or a narrower range",
                        (high - low) / step + 3
                    ),
                ));
            }
        }
        ir::Hist {
            kind: hist.kind,
            stat: self.lower_expr(&hist.stat, cx),
            span: hist.span,
        }
    }

    /// A variable assigned to or deleted; marks a local as written.
    fn lower_written_var(&mut self, name: &str, span: Span, cx: &mut BodyCx) -> ir::Expr {
        let kind = self.lookup_var(name, span, cx);
        if let ir::ExprKind::Local(id) = kind {
            cx.written[id.0 as usize] = true;
        }
        expr(kind, span)
    }

    /// Lowers something assigned to; marks a local as written.
    fn lower_lvalue(&mut self, target: &ast::Expr, cx: &mut BodyCx) -> ir::Expr {
        match &target.kind {
            ast::ExprKind::Var(name) => self.lower_written_var(name, target.span, cx),
            ast::ExprKind::Index { base, indexes } => {
                self.lower_index(base, indexes, false, target.span, cx)
            }
            ast::ExprKind::Target(target_expr) => {
                if !(cx.procfs && is_procfs_value(target_expr)) {
                    let unit = cx.unit;
                    self.require_guru(
                        unit,
                        target.span,
                        "assigning to a target variable",
                        &mut cx.facts,
                    );
                }
                self.lower_expr(target, cx)
            }
            _ => {
                self.report(Diagnostic::error(
                    target.span,
                    "cannot assign to this expression",
                ));
                error_expr(target.span)
            }
        }
    }

    fn lower_expr(&mut self, e: &ast::Expr, cx: &mut BodyCx) -> ir::Expr {
        use ast::ExprKind as E;
        let span = e.span;
        let kind = match &e.kind {
            E::Number(n) => ir::ExprKind::Number(*n),
            E::String(s) => ir::ExprKind::String(s.clone()),
            E::Var(name) => self.lookup_var(name, span, cx),
            E::Index { base, indexes } => return self.lower_index(base, indexes, false, span, cx),
            E::Call { name, args } => {
                let args: Vec<ir::Expr> = args.iter().map(|a| self.lower_expr(a, cx)).collect();
                match self.resolve_call(name, args.len(), cx.unit) {
                    Some(function) => {
                        cx.facts.calls.push(function);
                        ir::ExprKind::Call { function, args }
                    }
                    None => return error_expr(span),
                }
            }
            E::Print(print) => return self.lower_print(print, span, cx),
            E::Unary { op, operand } => ir::ExprKind::Unary {
                op: *op,
                operand: Box::new(self.lower_expr(operand, cx)),
            },
            E::PreIncrement { op, operand } | E::PostIncrement { op, operand } => {
                ir::ExprKind::Increment {
                    op: *op,
                    prefix: matches!(e.kind, E::PreIncrement { .. }),
                    target: Box::new(self.lower_lvalue(operand, cx)),
                }
            }
            E::Binary { op, lhs, rhs } => ir::ExprKind::Binary {
                op: *op,
                lhs: Box::new(self.lower_expr(lhs, cx)),
                rhs: Box::new(self.lower_expr(rhs, cx)),
            },
            E::Regex {
                subject,
                negated,
                pattern,
            } => ir::ExprKind::Regex {
                subject: Box::new(self.lower_expr(subject, cx)),
                negated: *negated,
                pattern: pattern.clone(),
            },
            E::Ternary {
                cond,
                then_value,
                else_value,
            } => ir::ExprKind::Ternary {
                cond: Box::new(self.lower_expr(cond, cx)),
                then_value: Box::new(self.lower_expr(then_value, cx)),
                else_value: Box::new(self.lower_expr(else_value, cx)),
            },
            E::Assign { op, target, value } => {
                let value = self.lower_expr(value, cx);
                ir::ExprKind::Assign {
                    op: *op,
                    target: Box::new(self.lower_lvalue(target, cx)),
                    value: Box::new(value),
                }
            }
            E::In { keys, array } => {
                let keys = keys
                    .iter()
                    .map(|k| k.as_ref().map(|e| self.lower_expr(e, cx)))
                    .collect();
                match array {
                    ast::Indexable::Name(name) => match self.lookup_array(name, cx) {
                        Some(array) => ir::ExprKind::In { keys, array },
                        None => return error_expr(span),
                    },
                    ast::Indexable::Hist(hist) => {
                        self.report(Diagnostic::error(
                            hist.span,
                            "membership tests need an array, not a histogram",
                        ));
                        return error_expr(span);
                    }
                }
            }
            E::Stat { op, operand, param } => {
                if let Some(shift) = param.filter(|shift| !(0..=62).contains(shift)) {
                    self.report(Diagnostic::error(
                        span,
                        format!("bit shift ({shift}) out of range <0..62>"),
                    ));
                }
                ir::ExprKind::Stat {
                    op: *op,
                    operand: Box::new(self.lower_expr(operand, cx)),
                    param: *param,
                }
            }
            E::Target(target) => {
                ir::ExprKind::Target(Box::new(target.map(|operand| self.lower_expr(operand, cx))))
            }
            E::Defined(inner) => ir::ExprKind::Defined(Box::new(self.lower_expr(inner, cx))),
            E::Entry(inner) => ir::ExprKind::Entry(Box::new(self.lower_expr(inner, cx))),
            E::Const(name) => {
                let unit = cx.unit;
                self.require_guru(unit, span, "`@const`", &mut cx.facts);
                ir::ExprKind::Const(name.clone())
            }
            E::Probewrite(name) => ir::ExprKind::Probewrite(name.name.clone()),
            E::Perf(name) => {
                cx.facts.need(Privilege::Stapsys);
                ir::ExprKind::Perf(name.clone())
            }
            E::Register { user, number } => {
                cx.facts.need(if *user {
                    Privilege::Stapusr
                } else {
                    Privilege::Stapsys
                });
                ir::ExprKind::Register {
                    user: *user,
                    number: *number,
                }
            }
            E::Deref { user, size, addr } => {
                cx.facts.need(if *user {
                    Privilege::Stapusr
                } else {
                    Privilege::Stapsys
                });
                ir::ExprKind::Deref {
                    user: *user,
                    size: *size,
                    addr: Box::new(self.lower_expr(addr, cx)),
                }
            }
            E::Embedded(code) => {
                let pragmas = Pragmas::of(code);
                let unit = cx.unit;
                if self.require_guru(unit, span, "embedded C", &mut cx.facts) {
                    cx.facts.need(embedded_privilege(pragmas));
                }
                ir::ExprKind::Embedded(ir::EmbeddedC {
                    code: code.clone(),
                    pragmas,
                    span,
                })
            }
            E::ScriptArg(arg) => ir::ExprKind::ScriptArg(*arg),
        };
        expr(kind, span)
    }

    fn lower_print(&mut self, print: &ast::PrintCall, span: Span, cx: &mut BodyCx) -> ir::Expr {
        let args: Vec<ir::Expr> = print.args.iter().map(|a| self.lower_expr(a, cx)).collect();
        let mut format = None;
        let mut delimiter = None;
        if print.function.has_format() {
            match parse_format(print.format.as_deref().unwrap_or_default()) {
                Ok(parsed) => {
                    let wanted = parsed.arguments().len();
                    if wanted != args.len() {
                        self.report(Diagnostic::error(
                            span,
                            format!(
                                "the format of `{}` takes {}, but {} supplied",
                                print.function.name(),
                                plural(wanted, "argument"),
                                plural_verb(args.len())
                            ),
                        ));
                    }
                    format = Some(parsed);
                }
                Err(problem) => self.diagnostics.push(Diagnostic::error(
                    span,
                    format!("invalid format string: {problem}"),
                )),
            }
        } else if print.function.has_delimiter() {
            delimiter = print.format.clone();
        }
        let hist = print.hist.as_ref().map(|h| self.lower_hist(h, cx));
        expr(
            ir::ExprKind::Print(Box::new(ir::Print {
                function: print.function,
                format,
                delimiter,
                args,
                hist,
            })),
            span,
        )
    }
}

/// `$value` of a procfs probe: the text read from or written to the file.
fn is_procfs_value(target: &ast::TargetExpr) -> bool {
    matches!(&target.base, ast::TargetBase::Var(name) if name == "$value")
        && target.components.is_empty()
}

fn expr(kind: ir::ExprKind, span: Span) -> ir::Expr {
    ir::Expr {
        kind,
        ty: Type::Unknown,
        span,
    }
}

/// Stands in for an expression whose resolution failed (an error was reported).
fn error_expr(span: Span) -> ir::Expr {
    expr(ir::ExprKind::Number(0), span)
}

fn annotation(ty: ast::TypeAnnotation) -> Type {
    match ty {
        ast::TypeAnnotation::Long => Type::Long,
        ast::TypeAnnotation::String => Type::String,
    }
}

/// What embedded C in a library file needs, by its pragmas.
fn embedded_privilege(pragmas: Pragmas) -> Privilege {
    if pragmas.guru {
        Privilege::Stapdev
    } else if pragmas.unprivileged || pragmas.myproc_unprivileged {
        Privilege::Stapusr
    } else {
        Privilege::Stapsys
    }
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn plural_verb(n: usize) -> String {
    if n == 1 {
        "1 was".to_string()
    } else {
        format!("{n} were")
    }
}

/// The length of the alias name matched by `point`, if it matches: every
/// component of the name matches the point's component at the same place
/// (the point may use wildcards); a longer point leaves a suffix.
fn name_match(name: &ast::ProbePoint, point: &ast::ProbePoint) -> Option<usize> {
    let len = name.components.len();
    if len == 0 || len > point.components.len() {
        return None;
    }
    let all = name
        .components
        .iter()
        .zip(&point.components)
        .all(|(n, p)| glob_matches(&p.name, &n.name) && p.arg == n.arg);
    all.then_some(len)
}

/// A probe point as written (without condition), but for a statement
/// address in hex, as pp() shows it.
pub fn point_text(point: &ast::ProbePoint) -> String {
    let mut text = components_text(
        point
            .components
            .iter()
            .map(|c| (c.name.as_str(), c.arg.as_ref())),
    );
    if point.sufficient {
        text.push('!');
    } else if point.optional {
        text.push('?');
    }
    text
}

pub fn components_text<'c>(
    components: impl Iterator<Item = (&'c str, Option<&'c Literal>)>,
) -> String {
    let mut text = String::new();
    for (i, (name, arg)) in components.enumerate() {
        if i > 0 {
            text.push('.');
        }
        text.push_str(name);
        match arg {
            // An address, as SystemTap's pp() shows it.
            Some(Literal::Number(n)) if name == "statement" => {
                text.push_str(&format!("(0x{:x})", *n as u64))
            }
            Some(Literal::Number(n)) => text.push_str(&format!("({n})")),
            Some(Literal::String(s)) => text.push_str(&format!("(\"{}\")", s.replace('"', "\\\""))),
            None => {}
        }
    }
    text
}
