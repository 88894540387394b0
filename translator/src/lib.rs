#![forbid(unsafe_code)]
//! SystemTap script language translator: lexer, preprocessor, parser and
//! pretty-printer, semantic analysis to a validated IR, and the C back end
//! ([`translate`] runs them all).

pub mod ast;
pub mod codegen;
pub mod diagnostic;
pub mod erase_spans;
pub mod ir;
pub mod kernel;
pub mod lexer;
pub mod library;
pub mod parser;
pub mod preprocess;
pub mod printer;
pub mod sema;
pub mod tapset;
pub mod target;

use std::path::PathBuf;

pub use codegen::ParamKind;
pub use diagnostic::{Diagnostic, FileId, Severity, SourceMap, Span};
pub use parser::{parse, parse_with, ParseOptions};
pub use preprocess::MacroLibrary;
pub use target::{Privilege, Target};

/// What [`translate`] needs: the script and how the module is built.
pub struct TranslateInput<'a> {
    /// Display name of the script (messages, error locations).
    pub script_name: &'a str,
    pub script_text: &'a str,
    /// `$1`, `@1`, ...
    pub script_args: &'a [String],
    pub target: &'a Target,
    /// `-I` tapset directories (after the builtin library).
    pub include_dirs: &'a [PathBuf],
    /// `-g`: guru mode.
    pub guru: bool,
    pub module_name: &'a str,
    /// `-D NAME[=VALUE]`, for the whole module (limits such as MAXACTION).
    pub defines: &'a [(String, Option<String>)],
}

/// One kernel's module sources and what the bundle needs to know about it.
#[derive(Debug)]
pub struct Translation {
    /// (file name, contents) for `stap_kbuild::ModuleSources`.
    pub files: Vec<(String, Vec<u8>)>,
    /// Module parameters (the script's scalar globals), in order.
    pub parameters: Vec<(String, ParamKind)>,
    /// The privilege needed to run the script.
    pub privilege: Privilege,
    /// Library files the script pulled in.
    pub library_files: Vec<String>,
    /// Every file the diagnostics refer to.
    pub sources: SourceMap,
    pub warnings: Vec<Diagnostic>,
    /// The functions of the kernel proper that kprobes name: a build checks
    /// them against each kernel's symbol table where it has one.
    pub kernel_functions: Vec<KernelFunction>,
}

/// A `kprobe.function("NAME")` (not in a module), with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelFunction {
    pub name: String,
    /// The probe point as written, for messages.
    pub point: String,
    pub span: Span,
}

fn kernel_functions(program: &ir::Program) -> Vec<KernelFunction> {
    let points = program.probes.iter().flat_map(|probe| &probe.points);
    points
        .filter(|point| point.family == ir::Family::Kprobe && point.component("module").is_none())
        .filter_map(|point| match &point.component("function")?.arg {
            Some(ast::Literal::String(name)) => Some(KernelFunction {
                name: name.clone(),
                point: point.written.clone(),
                span: point.span,
            }),
            _ => None,
        })
        .collect()
}

/// Why translation failed: every diagnostic (warnings included).
#[derive(Debug)]
pub struct TranslateError {
    pub sources: SourceMap,
    pub diagnostics: Vec<Diagnostic>,
}

impl TranslateError {
    /// The diagnostics as text, `file:line:col` with source lines, and a count.
    pub fn render(&self) -> String {
        let errors = self.diagnostics.iter().filter(|d| d.is_error()).count();
        format!(
            "{}{errors} error(s)\n",
            self.sources.render_all(&self.diagnostics)
        )
    }
}

/// Parses the script for the target, loads the library, analyses the
/// program and generates the module's C sources.
pub fn translate(input: &TranslateInput) -> Result<Translation, TranslateError> {
    let mut sources = SourceMap::new();
    let (macros, mut diagnostics) =
        tapset::load_library_macros(input.include_dirs, input.target, &mut sources);
    let file = sources.add(input.script_name, input.script_text);
    let options = ParseOptions {
        target: input.target,
        macros: Some(&macros),
        script_args: Some(input.script_args),
    };
    let (tree, parse_diagnostics) = parse_with(file, input.script_text, &options);
    diagnostics.extend(parse_diagnostics);
    let library_options = library::LibraryOptions {
        builtin: true,
        include_dirs: input.include_dirs.to_vec(),
        script_args: Some(input.script_args.to_vec()),
    };
    let (library, library_diagnostics) =
        library::Library::load(&library_options, input.target, Some(&macros), &mut sources);
    diagnostics.extend(library_diagnostics);
    let failed = |diagnostics: &[Diagnostic]| diagnostics.iter().any(Diagnostic::is_error);
    if failed(&diagnostics) {
        return Err(TranslateError {
            sources,
            diagnostics,
        });
    }
    let analysis = sema::analyze(
        std::slice::from_ref(&tree),
        &library,
        &sema::Options { guru: input.guru },
    );
    diagnostics.extend(analysis.diagnostics);
    let program = match analysis.program {
        Some(program) if !failed(&diagnostics) => program,
        _ => {
            return Err(TranslateError {
                sources,
                diagnostics,
            })
        }
    };
    diagnostics.extend(check_tracepoints(&program, input.target));
    if failed(&diagnostics) {
        return Err(TranslateError {
            sources,
            diagnostics,
        });
    }
    let options = codegen::Options {
        script_name: input.script_name,
        module_name: input.module_name,
        defines: input.defines,
    };
    match codegen::generate(&program, &sources, &options) {
        Ok(output) => Ok(Translation {
            kernel_functions: kernel_functions(&program),
            files: output.files,
            parameters: output.parameters,
            privilege: program.privilege,
            library_files: program.library_files.clone(),
            sources,
            warnings: diagnostics,
        }),
        Err(errors) => {
            diagnostics.extend(errors);
            Err(TranslateError {
                sources,
                diagnostics,
            })
        }
    }
}

/// `kernel.trace("SUBSYSTEM:EVENT")` points checked against the target
/// kernel's tracepoint headers (see [`kernel::check_tracepoint`]).
fn check_tracepoints(program: &ir::ValidProgram, target: &Target) -> Vec<Diagnostic> {
    let Some(tree) = &target.build_tree else {
        return Vec::new();
    };
    let mut diagnostics = Vec::new();
    for point in program.program().probes.iter().flat_map(|p| &p.points) {
        let name = match point.components.get(1) {
            Some(c) if point.family == ir::Family::Kernel && c.name == "trace" => &c.arg,
            _ => continue,
        };
        let Some(ast::Literal::String(name)) = name else {
            continue;
        };
        if let Ok((Some(subsystem), event)) = sema::split_tracepoint(name) {
            if let Err(why) = kernel::check_tracepoint(tree, subsystem, event) {
                diagnostics.push(
                    Diagnostic::error(
                        point.span,
                        format!("`{}`: no such tracepoint in kernel {}: {why}", point.written, target.kernel_release),
                    )
                    .with_note("the event may be misspelt, or belong to another subsystem or to a kernel module"),
                );
            }
        }
    }
    diagnostics
}
