//! The C back end: a [`ValidProgram`] becomes the C source of one kernel
//! module, on top of the stap-pack runtime (`runtime-c/stp_runtime.h` for
//! the transport and probes, `runtime-c/stp_lang.h` for the language).
//!
//! The module is `stp_script.c` plus `stp_config.h` (the `-D` settings,
//! which stap-kbuild includes in every object, runtime included). Layout
//! of `stp_script.c`: globals (scalars are module parameters, arrays are
//! `stp_map`s, one lock each), the per-CPU area (locals of each probe, a
//! frame per nesting level for functions), functions, probe handlers, the
//! probe table and `stp_script`.
//!
//! Handlers take the locks of every global they (or the functions they
//! call) use, in global order, before running, and release them at the
//! end: a handler never waits for a lock while holding one it took out of
//! order, and never sleeps.

mod analysis;
mod body;
mod c;

use std::fmt::Write as _;

use crate::ast::{HistKind, Literal};
use crate::diagnostic::{Diagnostic, SourceMap, Span};
use crate::ir::{
    Family, FunctionBody, FunctionId, GlobalId, ProbePoint, Program, Type, ValidProgram,
};
use body::{BodyGen, BodyKind};
use c::{c_str, c_string, decode_escapes, ident, long_literal};

/// The generated C file and the module-wide settings header.
pub const SCRIPT_FILE: &str = "stp_script.c";
pub const CONFIG_FILE: &str = "stp_config.h";

pub struct Options<'a> {
    /// The script's display name (in messages and `stp_script.name`).
    pub script_name: &'a str,
    /// The kernel module's name (in its description).
    pub module_name: &'a str,
    /// `-D NAME[=VALUE]`: C macros for the whole module (limits such as
    /// MAXACTION).
    pub defines: &'a [(String, Option<String>)],
}

/// The type of a module parameter (a scalar global).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamKind {
    Long,
    String,
}

#[derive(Debug, Clone)]
pub struct Output {
    /// (file name, contents), for `stap_kbuild::ModuleSources`.
    pub files: Vec<(String, Vec<u8>)>,
    /// The module parameters: the script's scalar globals, in order.
    pub parameters: Vec<(String, ParamKind)>,
}

/// Generates the module's C sources. Constructs the back end does not
/// support yet are errors (one per use), never silently dropped.
pub fn generate(
    program: &ValidProgram,
    sources: &SourceMap,
    options: &Options,
) -> Result<Output, Vec<Diagnostic>> {
    let program = program.program();
    let mut generator = Generator::new(program, sources, options);
    let config = generator.config_header(options.defines);
    let script = generator.script_file(options);
    if !generator.diagnostics.is_empty() {
        return Err(generator.diagnostics);
    }
    let parameters = program
        .globals
        .iter()
        .filter(|g| is_parameter(g))
        .map(|g| {
            let kind = match g.ty.value {
                Type::String => ParamKind::String,
                _ => ParamKind::Long,
            };
            (g.name.clone(), kind)
        })
        .collect();
    Ok(Output {
        files: vec![
            (SCRIPT_FILE.to_string(), script.into_bytes()),
            (CONFIG_FILE.to_string(), config.into_bytes()),
        ],
        parameters,
    })
}

/// Buckets of `@hist_linear(s, low, high, step)`, with the underflow and
/// overflow ones (sema checked low < high and step > 0).
pub fn linear_buckets(low: i64, high: i64, step: i64) -> i64 {
    (high - low) / step + 3
}

/// Scalar long and string globals of the script are module parameters.
fn is_parameter(global: &crate::ir::Global) -> bool {
    !global.from_library
        && !global.ty.is_array()
        && matches!(global.ty.value, Type::Long | Type::String)
}

pub(crate) struct Generator<'p> {
    pub program: &'p Program,
    sources: &'p SourceMap,
    /// MAXSTRINGLEN as the module will be built (literals are cut to it).
    pub max_string_len: usize,
    diagnostics: Vec<Diagnostic>,
    function_names: Vec<String>,
    /// How each statistics global collects (see [`analysis::StatKind`]).
    pub stat_kinds: Vec<analysis::StatKind>,
}

impl<'p> Generator<'p> {
    fn new(program: &'p Program, sources: &'p SourceMap, options: &Options) -> Self {
        let max_string_len = options
            .defines
            .iter()
            .find(|(name, _)| name == "MAXSTRINGLEN")
            .and_then(|(_, value)| value.as_deref()?.parse().ok())
            .filter(|&n: &usize| n >= 2)
            .unwrap_or(512);
        // Overloads share a name: the later ones get their index appended.
        let mut function_names: Vec<String> = Vec::new();
        for (index, function) in program.functions.iter().enumerate() {
            let base = format!("stp_function_{}", ident(&function.name));
            let name = if function_names.contains(&base) {
                format!("{base}_{index}")
            } else {
                base
            };
            function_names.push(name);
        }
        Generator {
            program,
            sources,
            max_string_len,
            diagnostics: Vec::new(),
            function_names,
            stat_kinds: Vec::new(),
        }
    }

    pub fn unsupported(&mut self, span: Span, what: &str) {
        self.diagnostics.push(Diagnostic::error(
            span,
            format!("{what} is not supported by the stap-pack C back end yet"),
        ));
    }

    /// `"file:line:col"` of a span, as a C string literal.
    pub fn location(&self, span: Span) -> String {
        c_str(&self.location_text(span))
    }

    fn location_text(&self, span: Span) -> String {
        match self.sources.get(span.file) {
            Some(file) => {
                let (line, column) = file.line_col(span.start);
                format!("{}:{line}:{column}", file.name)
            }
            None => "<unknown>".to_string(),
        }
    }

    pub fn global_name(&self, id: GlobalId) -> String {
        format!(
            "stp_global_{}",
            ident(&self.program.globals[id.0 as usize].name)
        )
    }

    pub fn key_type(&self, id: GlobalId) -> String {
        format!(
            "struct stp_key_{}",
            ident(&self.program.globals[id.0 as usize].name)
        )
    }

    pub fn function_name(&self, id: FunctionId) -> String {
        self.function_names[id.0 as usize].clone()
    }

    /// The `struct stp_stat_kind` of a statistics global, as a pointer.
    pub fn stat_kind(&self, id: GlobalId) -> String {
        format!(
            "&stp_stat_kind_{}",
            ident(&self.program.globals[id.0 as usize].name)
        )
    }

    /// The definition of a statistics global's `struct stp_stat_kind`.
    fn stat_kind_definition(&self, id: GlobalId) -> String {
        let kind = self.stat_kinds[id.0 as usize];
        let hist = match kind.hist {
            None => ".hist = STP_HIST_NONE".to_string(),
            Some(HistKind::Log) => {
                ".hist = STP_HIST_LOG, .buckets = STP_HIST_LOG_BUCKETS".to_string()
            }
            Some(HistKind::Linear { low, high, step }) => format!(
                ".hist = STP_HIST_LINEAR, .buckets = {}, .start = {}, .interval = {step}",
                linear_buckets(low, high, step),
                long_literal(low)
            ),
        };
        format!(
            "static const struct stp_stat_kind {} = {{ {hist}, .shift = {}, .variance = {} }};",
            &self.stat_kind(id)[1..],
            kind.variance_shift.unwrap_or(0),
            kind.variance_shift.is_some()
        )
    }

    /// Entries an array holds: its declared size, or MAXMAPENTRIES.
    pub fn capacity(&self, id: GlobalId) -> String {
        match self.program.globals[id.0 as usize].size {
            Some(size) => size.to_string(),
            None => "MAXMAPENTRIES".to_string(),
        }
    }

    fn config_header(&mut self, defines: &[(String, Option<String>)]) -> String {
        let mut out = String::from(
            "/* Generated by stap-pack: module-wide settings (-D), included in every object of the module. */\n",
        );
        for (name, value) in defines {
            let valid_name = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            let value = value.as_deref().unwrap_or("1");
            if !valid_name || value.contains(['\n', '\r', '\\']) {
                self.diagnostics.push(Diagnostic::error(
                    Span::default(),
                    format!("-D {name}={value}: expected NAME=VALUE with a C identifier and a one-line value"),
                ));
                continue;
            }
            let _ = writeln!(out, "#define {name} {value}");
        }
        out
    }

    fn script_file(&mut self, options: &Options) -> String {
        let program = self.program;
        let script_name = options.script_name;
        let analysis = analysis::analyze(program);
        self.stat_kinds = analysis.stat_kinds.clone();
        self.diagnostics.extend(analysis.errors.iter().cloned());
        let mut out = String::new();
        let _ = write!(
            out,
            "// SPDX-License-Identifier: GPL-2.0-or-later\n\
             /* Generated by stap-pack from {script_name}. */\n\
             #include <linux/cred.h>\n\
             #include <linux/jiffies.h>\n\
             #include <linux/kernel.h>\n\
             #include <linux/module.h>\n\
             #include <linux/sched.h>\n\
             #include <linux/string.h>\n\
             #include <linux/timekeeping.h>\n\
             #include <linux/uidgid.h>\n\
             \n\
             /* SystemTap's default: the call graph's depth + 1, + 10 if functions recurse. */\n\
             #ifndef MAXNESTING\n\
             #define MAXNESTING {}\n\
             #endif\n\
             #include \"stp_lang.h\"\n",
            analysis.max_nesting,
        );
        for embedded in &program.embedded_c {
            let _ = writeln!(out, "\n{}", embedded.code);
        }

        self.globals(&mut out);

        // Bodies first (they decide the fields of the locals structs).
        let mut functions = String::new();
        let mut prototypes = String::new();
        let mut function_structs = Vec::new();
        for index in 0..program.functions.len() {
            let (prototype, definition, fields) = self.function(FunctionId(index as u32));
            let _ = writeln!(prototypes, "static __maybe_unused {prototype};");
            let _ = write!(functions, "\nstatic {prototype}\n{definition}");
            if let Some(fields) = fields {
                function_structs.push((index, fields));
            }
        }
        let mut handlers = String::new();
        let mut probe_structs = Vec::new();
        for (index, probe) in program.probes.iter().enumerate() {
            let (code, fields) = self.probe(index, &analysis.probe_globals[index]);
            let _ = write!(handlers, "\n/* {} */\n{code}", self.probe_title(probe));
            probe_structs.push((index, fields));
        }

        out.push_str(
            "\n/* ---- Per-CPU locals: a handler owns its CPU's area while it runs ---- */\n",
        );
        for (index, fields) in &probe_structs {
            let _ = writeln!(out, "\nstruct stp_locals_probe_{index} {{");
            for field in fields {
                let _ = writeln!(out, "\t{field}");
            }
            out.push_str("};\n");
        }
        for (index, fields) in &function_structs {
            let _ = writeln!(
                out,
                "\nstruct stp_locals_{} {{",
                self.function_struct(*index)
            );
            for field in fields {
                let _ = writeln!(out, "\t{field}");
            }
            out.push_str("};\n");
        }
        out.push_str("\nstruct stp_cpu_area {\n\tstruct stp_lang lang;\n");
        if !probe_structs.is_empty() {
            out.push_str("\tunion {\n");
            for (index, _) in &probe_structs {
                let _ = writeln!(out, "\t\tstruct stp_locals_probe_{index} probe_{index};");
            }
            out.push_str("\t} probe;\n");
        }
        if !function_structs.is_empty() {
            out.push_str("\t/* One frame per nesting level of script functions. */\n\tunion {\n");
            for (index, _) in &function_structs {
                let name = self.function_struct(*index);
                let _ = writeln!(out, "\t\tstruct stp_locals_{name} {name};");
            }
            out.push_str("\t} frames[MAXNESTING];\n");
        }
        out.push_str("};\n");

        if !prototypes.is_empty() {
            out.push_str("\n/* ---- Functions ---- */\n\n");
            out.push_str(&prototypes);
            out.push_str(&functions);
        }
        out.push_str("\n/* ---- Probes ---- */\n");
        out.push_str(&handlers);
        self.probe_table(&mut out);
        self.script_struct(&mut out, options);
        out
    }

    fn function_struct(&self, index: usize) -> String {
        self.function_names[index]
            .strip_prefix("stp_function_")
            .unwrap_or(&self.function_names[index])
            .to_string()
    }

    fn probe_title(&self, probe: &crate::ir::Probe) -> String {
        let points: Vec<&str> = probe.points.iter().map(|p| p.written.as_str()).collect();
        format!(
            "probe {} at {}",
            points.join(", "),
            self.location_text(probe.span)
        )
        .replace("*/", "* /")
    }

    fn globals(&mut self, out: &mut String) {
        let program = self.program;
        if program.globals.is_empty() {
            return;
        }
        out.push_str("\n/* ---- Globals ---- */\n");
        for (index, global) in program.globals.iter().enumerate() {
            let name = self.global_name(GlobalId(index as u32));
            let _ = writeln!(
                out,
                "\n/* global {} at {} */",
                global.name,
                self.location_text(global.span)
            );
            if global.ty.value == Type::Stats {
                let _ = writeln!(out, "{}", self.stat_kind_definition(GlobalId(index as u32)));
            }
            if global.ty.is_array() {
                let _ = write!(out, "{} {{", self.key_type(GlobalId(index as u32)));
                for (i, key) in global.ty.keys.iter().enumerate() {
                    match key {
                        Type::String => {
                            let _ = write!(out, " char k{i}[MAXSTRINGLEN];");
                        }
                        _ => {
                            let _ = write!(out, " int64_t k{i};");
                        }
                    }
                }
                let map = if global.ty.value == Type::Stats {
                    "stp_stat_map"
                } else {
                    "stp_map"
                };
                let _ = writeln!(out, " }};\nstatic struct {map} {name};");
                continue;
            }
            let parameter = is_parameter(global);
            match global.ty.value {
                Type::Stats => {
                    let _ = writeln!(out, "static struct stp_stat_var {name};");
                }
                Type::String => {
                    let init = match &global.init {
                        Some(Literal::String(text)) => {
                            let mut bytes = decode_escapes(text);
                            bytes.truncate(self.max_string_len - 1);
                            format!(" = {}", c_string(&bytes))
                        }
                        _ => String::new(),
                    };
                    let _ = writeln!(out, "static char {name}[MAXSTRINGLEN]{init};");
                    if parameter {
                        let _ = writeln!(out, "STP_PARAM_STRING({}, {name});", global.name);
                    }
                }
                _ => {
                    let init = match &global.init {
                        Some(Literal::Number(n)) => format!(" = {}", long_literal(*n)),
                        _ => String::new(),
                    };
                    // `long`, not int64_t: what module_param's type check wants.
                    let _ = writeln!(out, "static long {name}{init};");
                    if parameter {
                        let _ = writeln!(out, "STP_PARAM_LONG({}, {name});", global.name);
                    }
                }
            }
        }
        let _ = writeln!(
            out,
            "\n/* One lock per global, by index; handlers take them in index order. */\nstatic struct stp_lock stp_lock_table[{}];",
            program.globals.len()
        );
    }

    /// (prototype, body, locals struct fields if a script function).
    fn function(&mut self, id: FunctionId) -> (String, String, Option<Vec<String>>) {
        let program = self.program;
        let function = &program.functions[id.0 as usize];
        let name = self.function_name(id);
        let returns = function.return_type;
        let mut params = vec![
            "struct stp_context *ctx".to_string(),
            "struct stp_cpu_area *area".to_string(),
            "const char *callsite".to_string(),
        ];
        if returns == Type::String {
            params.push("char *stp_ret".to_string());
        }
        for param in function.params() {
            let param_name = format!("arg_{}", ident(&param.name));
            params.push(match param.ty {
                Type::String => format!("const char *{param_name}"),
                _ => format!("int64_t {param_name}"),
            });
        }
        let c_return = if returns == Type::Long {
            "int64_t"
        } else {
            "void"
        };
        let prototype = format!("{c_return} {name}({})", params.join(", "));
        let return_stmt = if returns == Type::Long {
            "return stp_ret;"
        } else {
            "return;"
        };
        let mut def = String::from("{\n");
        match &function.body {
            FunctionBody::Embedded(embedded) => {
                let mut defines = vec![
                    ("CONTEXT".to_string(), "ctx".to_string()),
                    ("STAP_CALLSITE".to_string(), "callsite".to_string()),
                ];
                match returns {
                    Type::Long => {
                        def.push_str("\tint64_t stp_ret = 0;\n\n");
                        defines.push(("STAP_RETVALUE".to_string(), "stp_ret".to_string()));
                    }
                    Type::String => {
                        def.push_str("\tstp_ret[0] = '\\0';\n");
                        defines.push(("STAP_RETVALUE".to_string(), "stp_ret".to_string()));
                    }
                    _ => {}
                }
                for param in function.params() {
                    let p = ident(&param.name);
                    defines.push((format!("STAP_ARG_{p}"), format!("arg_{p}")));
                }
                for (macro_name, value) in &defines {
                    let _ = writeln!(def, "#define {macro_name} {value}");
                }
                let _ = writeln!(def, "\t{{\n{}\n\t}}", embedded.code.trim_matches('\n'));
                for (macro_name, _) in defines.iter().rev() {
                    let _ = writeln!(def, "#undef {macro_name}");
                }
                if returns == Type::Long {
                    def.push_str("\treturn stp_ret;\n");
                }
                def.push_str("}\n");
                (prototype, def, None)
            }
            FunctionBody::Script(block) => {
                let struct_name = self.function_struct(id.0 as usize);
                let mut body = BodyGen::new(self, &function.locals, BodyKind::Function { returns });
                for (index, param) in function.params().iter().enumerate() {
                    let field = body.local_field(index);
                    let arg = format!("arg_{}", ident(&param.name));
                    match param.ty {
                        Type::String => body.line(&format!("stp_string_copy({field}, {arg});")),
                        _ => body.line(&format!("{field} = {arg};")),
                    }
                }
                body.init_locals(function.param_count);
                body.block_body(block);
                let compiled = body.finish();
                if !compiled.fields.is_empty() {
                    let _ = writeln!(def, "\tstruct stp_locals_{struct_name} *l;");
                }
                match returns {
                    Type::Long => def.push_str("\tint64_t stp_ret = 0;\n"),
                    Type::String => def.push_str("\t/* stp_ret: the caller's buffer */\n"),
                    _ => {}
                }
                for local in &compiled.c_locals {
                    let _ = writeln!(def, "\t{local}");
                }
                def.push('\n');
                if returns == Type::String {
                    def.push_str("\tstp_ret[0] = '\\0';\n");
                }
                let _ = writeln!(
                    def,
                    "\tif (!stp_nest(ctx, &area->lang, callsite))\n\t\t{return_stmt}"
                );
                if !compiled.fields.is_empty() {
                    let _ = writeln!(
                        def,
                        "\tl = &area->frames[area->lang.nesting - 1].{struct_name};"
                    );
                }
                def.push_str(&compiled.code);
                if compiled.out_used {
                    def.push_str("out:\n");
                }
                def.push_str("\tarea->lang.nesting--;\n");
                if returns == Type::Long {
                    def.push_str("\treturn stp_ret;\n");
                }
                def.push_str("}\n");
                let fields = compiled.fields;
                (prototype, def, Some(fields))
            }
        }
    }

    /// A probe's handler and the fields of its locals struct.
    fn probe(&mut self, index: usize, globals: &analysis::GlobalUses) -> (String, Vec<String>) {
        let program = self.program;
        let probe = &program.probes[index];
        for point in &probe.points {
            if point.condition.is_some() {
                self.unsupported(point.span, "a probe condition (`if`)");
            }
        }
        let mut body = BodyGen::new(self, &probe.locals, BodyKind::Probe);
        body.init_locals(0);
        body.block_body(&probe.body);
        let compiled = body.finish();

        let mut out = String::new();
        let locks = format!("stp_probe_{index}_locks");
        if !globals.is_empty() {
            let _ = writeln!(out, "static const struct stp_lock_use {locks}[] = {{");
            for (global, write) in globals {
                let _ = writeln!(
                    out,
                    "\t{{ &stp_lock_table[{}], {write} }}, /* {} */",
                    global.0, program.globals[global.0 as usize].name
                );
            }
            out.push_str("};\n\n");
        }
        let _ = writeln!(
            out,
            "static void stp_probe_{index}(struct stp_context *ctx)\n{{"
        );
        if compiled.code.trim().is_empty() && compiled.c_locals.is_empty() && globals.is_empty() {
            // `probe kernel.trace("...") {}`: nothing to set up.
            out.push_str("}\n");
            return (out, compiled.fields);
        }
        out.push_str("\tstruct stp_cpu_area *area = stp_lang_enter(ctx);\n");
        if !compiled.fields.is_empty() {
            let _ = writeln!(
                out,
                "\tstruct stp_locals_probe_{index} *l = &area->probe.probe_{index};"
            );
        }
        for local in &compiled.c_locals {
            let _ = writeln!(out, "\t{local}");
        }
        out.push('\n');
        if !globals.is_empty() {
            let _ = writeln!(
                out,
                "\tif (!stp_locks_take(ctx, {locks}, ARRAY_SIZE({locks})))\n\t\treturn;"
            );
        }
        out.push_str(&compiled.code);
        if compiled.out_used {
            out.push_str("out:\n");
            if globals.is_empty() {
                out.push_str("\t;\n");
            }
        }
        if !globals.is_empty() {
            let _ = writeln!(out, "\tstp_locks_release({locks}, ARRAY_SIZE({locks}));");
        }
        out.push_str("}\n");
        (out, compiled.fields)
    }

    fn probe_table(&mut self, out: &mut String) {
        let program = self.program;
        // Begin, end and error probes run in table order: by their
        // sequence number (`begin(N)`, default 0), then in script order.
        let mut entries = Vec::new();
        for (index, probe) in program.probes.iter().enumerate() {
            for point in &probe.points {
                if let Some(entry) = self.probe_entry(index, point) {
                    entries.push(entry);
                }
            }
        }
        entries.sort_by_key(|(sequence, _)| *sequence);
        out.push_str("\nstatic const struct stp_probe stp_probes[] = {\n");
        for (_, entry) in entries {
            out.push_str(&entry);
        }
        out.push_str("};\n");
    }

    /// (sequence, table entry) of one probe point.
    fn probe_entry(&mut self, index: usize, point: &ProbePoint) -> Option<(i64, String)> {
        let kind = match point.family {
            Family::Begin => "STP_PROBE_BEGIN",
            Family::End => "STP_PROBE_END",
            Family::Error => "STP_PROBE_ERROR",
            Family::Never => "STP_PROBE_NEVER",
            Family::Timer => "STP_PROBE_TIMER",
            Family::Kprobe if !kprobe_supported(point) => {
                self.unsupported(
                    point.span,
                    &format!(
                        "the kprobe `{}` (a function named by a wildcard or not by a literal)",
                        point.written
                    ),
                );
                return None;
            }
            Family::Kprobe if point.component("return").is_some() => "STP_PROBE_KRETPROBE",
            Family::Kprobe => "STP_PROBE_KPROBE",
            Family::Kernel => return self.kernel_probe_entry(index, point),
            _ => {
                self.unsupported(point.span, &format!("`{}` probes", point.family.name()));
                return None;
            }
        };
        let number = |literal: &Option<Literal>| match literal {
            Some(Literal::Number(n)) => Some(*n),
            _ => None,
        };
        let mut entry = format!(
            "\t{{ .point = {}, .location = {}, .kind = {kind}, .handler = stp_probe_{index}",
            c_str(&point.written),
            self.location(point.span)
        );
        let mut sequence = 0;
        if point.family == Family::Timer {
            let unit = point.components.get(1);
            let randomize = point.components.get(2);
            let unit_name = unit.map(|u| match u.name.as_str() {
                "s" | "sec" => Some("STP_TIMER_S"),
                "ms" | "msec" => Some("STP_TIMER_MS"),
                "us" | "usec" => Some("STP_TIMER_US"),
                "ns" | "nsec" => Some("STP_TIMER_NS"),
                "jiffies" => Some("STP_TIMER_JIFFIES"),
                "hz" => Some("STP_TIMER_HZ"),
                _ => None,
            });
            let interval = unit.and_then(|u| number(&u.arg));
            let randomize_by = match randomize {
                Some(r) if r.name == "randomize" => number(&r.arg),
                Some(_) => None,
                None => Some(0),
            };
            match (unit_name.flatten(), interval, randomize_by) {
                // The runtime refuses these at load; say so now.
                (Some(unit), Some(interval), Some(randomize))
                    if randomize >= interval || (unit == "STP_TIMER_HZ" && randomize > 0) =>
                {
                    self.diagnostics.push(Diagnostic::error(
                        point.span,
                        format!(
                            "`{}`: the randomization must be smaller than the interval, and timer.hz cannot be randomized",
                            point.written
                        ),
                    ));
                    return None;
                }
                (Some(unit), Some(interval), Some(randomize))
                    if interval > 0 && randomize >= 0 && point.components.len() <= 3 =>
                {
                    let _ = write!(
                        entry,
                        ",\n\t  .unit = {unit}, .interval = {interval}, .randomize = {randomize}"
                    );
                }
                _ => {
                    self.unsupported(point.span, &format!("the timer probe `{}`", point.written));
                    return None;
                }
            }
        } else if point.family == Family::Kprobe {
            kprobe_fields(&mut entry, point);
        } else if let Some(first) = point.components.first() {
            sequence = number(&first.arg).unwrap_or(0);
        }
        entry.push_str(" },\n");
        Some((sequence, entry))
    }

    /// The table entry of `kernel.trace("...")` or `kernel.syscall_nr(N)`
    /// (sema checked their shape); other `kernel.*` points need debuginfo.
    fn kernel_probe_entry(&mut self, index: usize, point: &ProbePoint) -> Option<(i64, String)> {
        let kind = point.components.get(1);
        let fields = match (
            kind.map(|k| (k.name.as_str(), &k.arg)),
            point.components.get(2),
        ) {
            (Some(("trace", Some(Literal::String(name)))), None) => {
                let (_, event) = crate::sema::split_tracepoint(name).ok()?;
                format!(".kind = STP_PROBE_TRACEPOINT, .event = {}", c_str(event))
            }
            (Some(("syscall_nr", Some(Literal::Number(nr)))), returns) => {
                let kind = if returns.is_some() {
                    "STP_PROBE_SYSCALL_RETURN"
                } else {
                    "STP_PROBE_SYSCALL"
                };
                format!(".kind = {kind}, .syscall = {nr}")
            }
            _ => {
                let what = match kind {
                    Some(k) => format!(
                        "`kernel.{}` probes (they need the kernel's debuginfo)",
                        k.name
                    ),
                    None => "`kernel` probes".to_string(),
                };
                self.unsupported(point.span, &what);
                return None;
            }
        };
        let entry = format!(
            "\t{{ .point = {}, .location = {}, {fields}, .handler = stp_probe_{index} }},\n",
            c_str(&point.written),
            self.location(point.span)
        );
        Some((0, entry))
    }

    fn script_struct(&self, out: &mut String, options: &Options) {
        let program = self.program;
        // Everything allocated at load: arrays and statistics.
        let allocated: Vec<(GlobalId, &crate::ir::Global)> = program
            .globals
            .iter()
            .enumerate()
            .filter(|(_, g)| g.ty.is_array() || g.ty.value == Type::Stats)
            .map(|(i, g)| (GlobalId(i as u32), g))
            .collect();
        out.push_str("\n/* ---- Load and unload ---- */\n\nstatic void stp_script_exit(void)\n{\n");
        for (id, global) in &allocated {
            let free = match (global.ty.is_array(), global.ty.value) {
                (true, Type::Stats) => "stp_stat_map_free",
                (true, _) => "stp_map_free",
                _ => "stp_stat_var_free",
            };
            let _ = writeln!(out, "\t{free}(&{});", self.global_name(*id));
        }
        out.push_str("\tstp_lang_free();\n}\n\n");
        out.push_str("static int stp_script_init(void)\n{\n");
        if allocated.is_empty() {
            out.push_str("\treturn stp_lang_alloc(sizeof(struct stp_cpu_area));\n}\n");
        } else {
            out.push_str("\tint err = stp_lang_alloc(sizeof(struct stp_cpu_area));\n\n");
        }
        for (id, global) in &allocated {
            let name = self.global_name(*id);
            let init = match (global.ty.is_array(), global.ty.value) {
                (true, Type::Stats) => format!(
                    "stp_stat_map_init(&{name}, {}, {}, sizeof({}), {})",
                    self.stat_kind(*id),
                    self.capacity(*id),
                    self.key_type(*id),
                    global.wrap
                ),
                (true, value) => format!(
                    "stp_map_init(&{name}, {}, sizeof({}), {}, {})",
                    self.capacity(*id),
                    self.key_type(*id),
                    if value == Type::String {
                        "MAXSTRINGLEN"
                    } else {
                        "sizeof(int64_t)"
                    },
                    global.wrap
                ),
                _ => format!("stp_stat_var_init(&{name}, {})", self.stat_kind(*id)),
            };
            let _ = writeln!(out, "\terr = err ?: {init};");
        }
        if !allocated.is_empty() {
            out.push_str("\tif (err)\n\t\tstp_script_exit();\n\treturn err;\n}\n");
        }
        let _ = write!(
            out,
            "\nconst struct stp_script stp_script = {{\n\
             \t.name = {},\n\
             \t.probes = stp_probes,\n\
             \t.probe_count = ARRAY_SIZE(stp_probes),\n\
             \t.max_errors = MAXERRORS,\n\
             \t.max_skipped = MAXSKIPPED,\n\
             \t.init = stp_script_init,\n\
             \t.exit = stp_script_exit,\n\
             }};\n\n\
             MODULE_DESCRIPTION({});\n",
            c_str(options.script_name),
            c_str(&format!(
                "stap-pack module {} of {}",
                options.module_name, options.script_name
            )),
        );
    }
}

/// The `stp_probe` fields of a kprobe point (its shape was checked by sema).
/// Whether the back end can arm this kprobe point: one named function (or
/// an absolute address), since the kernel resolves exactly one symbol.
fn kprobe_supported(point: &ProbePoint) -> bool {
    let named = |name: &str| match point.component(name).map(|c| &c.arg) {
        None => true,
        Some(Some(Literal::String(text))) => !text.contains(['*', '?', '[']),
        Some(_) => false,
    };
    named("function") && named("module")
}

fn kprobe_fields(entry: &mut String, point: &ProbePoint) {
    let arg = |name: &str| point.component(name).and_then(|c| c.arg.as_ref());
    let mut fields = Vec::new();
    if let Some(Literal::String(module)) = arg("module") {
        fields.push(format!(".module = {}", c_str(module)));
    }
    if let Some(Literal::String(symbol)) = arg("function") {
        fields.push(format!(".symbol = {}", c_str(symbol)));
    }
    if let Some(Literal::Number(address)) = arg("statement") {
        fields.push(format!(".address = {:#x}UL", *address as u64));
    }
    if let Some(Literal::Number(n)) = arg("maxactive") {
        fields.push(format!(".maxactive = {n}"));
    }
    let _ = write!(entry, ",\n\t  {}", fields.join(", "));
}
