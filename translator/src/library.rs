//! The tapset library that scripts draw functions, globals and probe aliases
//! from: the project's own library (compiled into the binary, so the tool
//! ships as one file) followed by the `-I` directories, read from disk.
//!
//! Every library file is parsed up front; analysis pulls a file into the
//! program only when the script (or an already pulled-in file) uses
//! something it defines, as SystemTap does.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::ast;
use crate::diagnostic::{Diagnostic, SourceMap, Span};
use crate::parser::{parse_with, ParseOptions};
use crate::preprocess::MacroLibrary;
use crate::tapset::{files_with_suffix, tapset_dirs};
use crate::target::{glob_matches, Target};

/// The project's own library (`translator/tapset/`), by file name.
const BUILTIN_FILES: &[(&str, &str)] = &[
    ("context.stp", include_str!("../tapset/context.stp")),
    ("kernel.stp", include_str!("../tapset/kernel.stp")),
    ("logging.stp", include_str!("../tapset/logging.stp")),
    ("string.stp", include_str!("../tapset/string.stp")),
    ("syscall.stp", include_str!("../tapset/syscall.stp")),
    ("time.stp", include_str!("../tapset/time.stp")),
];

/// Prefix of the display names of builtin library files.
pub const BUILTIN_PREFIX: &str = "<stap-pack>/tapset/";

/// Which library files to load.
#[derive(Debug, Clone, Default)]
pub struct LibraryOptions {
    /// Load the project's own library.
    pub builtin: bool,
    /// Tapset roots given with `-I`, in order (each expanded to its
    /// architecture and runtime subdirectories).
    pub include_dirs: Vec<PathBuf>,
    /// The script's arguments: library files may test them in conditionals
    /// (`%( $# >= 1 %? ... %)`), as in SystemTap.
    pub script_args: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct LibraryFile {
    /// Display name: a path, or [`BUILTIN_PREFIX`] plus the file name.
    pub name: String,
    pub ast: ast::File,
    /// Definitions shadow those of later sources: the builtin library is
    /// source 0, the `-I` roots follow in order.
    pub source: usize,
}

/// A function, global or alias defined by a library file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemRef {
    pub file: usize,
    pub item: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Library {
    files: Vec<LibraryFile>,
    functions: HashMap<String, Vec<ItemRef>>,
    globals: HashMap<String, Vec<ItemRef>>,
    /// Aliases by the first component of each of their names.
    aliases: HashMap<String, Vec<ItemRef>>,
}

impl Library {
    /// A library without files.
    pub fn empty() -> Library {
        Library::default()
    }

    /// Parses the library files selected by `options` for `target`, adding
    /// each to `sources`. `macros` are the library macros (`*.stpm`).
    pub fn load(
        options: &LibraryOptions,
        target: &Target,
        macros: Option<&MacroLibrary>,
        sources: &mut SourceMap,
    ) -> (Library, Vec<Diagnostic>) {
        let mut library = Library::default();
        let mut diagnostics = Vec::new();
        let parse_options = ParseOptions {
            target,
            macros,
            script_args: options.script_args.as_deref(),
        };
        if options.builtin {
            for (name, text) in BUILTIN_FILES {
                let name = format!("{BUILTIN_PREFIX}{name}");
                library.add(name, text, 0, &parse_options, sources, &mut diagnostics);
            }
            // syscall.NAME aliases: the kernel's own syscall table. Without
            // one (no build tree, another architecture) there are none, and
            // a script using them is told no alias matches.
            if let (Some(tree), "x86_64") = (&target.build_tree, target.arch.as_str()) {
                if let Ok(syscalls) = crate::kernel::syscalls(tree) {
                    let name = format!("{BUILTIN_PREFIX}syscalls-{}.stp", target.kernel_release);
                    let text = crate::kernel::syscall_tapset(&syscalls);
                    library.add(name, &text, 0, &parse_options, sources, &mut diagnostics);
                }
            }
        }
        for (index, root) in options.include_dirs.iter().enumerate() {
            for path in files_with_suffix(&tapset_dirs(root, target), ".stp") {
                let name = path.display().to_string();
                match std::fs::read_to_string(&path) {
                    Ok(text) => library.add(
                        name,
                        &text,
                        index + 1,
                        &parse_options,
                        sources,
                        &mut diagnostics,
                    ),
                    Err(err) => {
                        let id = sources.add(name.clone(), String::new());
                        diagnostics.push(Diagnostic::error(
                            Span::new(id, 0, 0),
                            format!("cannot read tapset file {name}: {err}"),
                        ));
                    }
                }
            }
        }
        (library, diagnostics)
    }

    fn add(
        &mut self,
        name: String,
        text: &str,
        source: usize,
        options: &ParseOptions<'_>,
        sources: &mut SourceMap,
        diagnostics: &mut Vec<Diagnostic>,
    ) {
        let id = sources.add(name.clone(), text.to_string());
        let (ast, parse_diagnostics) = parse_with(id, text, options);
        diagnostics.extend(parse_diagnostics);
        let file = self.files.len();
        for (item, decl) in ast.items.iter().enumerate() {
            let at = ItemRef { file, item };
            match decl {
                ast::Item::Function(function) => {
                    self.functions
                        .entry(function.name.name.clone())
                        .or_default()
                        .push(at);
                }
                ast::Item::Global(global) => {
                    for var in &global.vars {
                        self.globals
                            .entry(var.name.name.clone())
                            .or_default()
                            .push(at);
                    }
                }
                ast::Item::Alias(alias) => {
                    for name in &alias.names {
                        if let Some(first) = name.components.first() {
                            let refs = self.aliases.entry(first.name.clone()).or_default();
                            if !refs.contains(&at) {
                                refs.push(at);
                            }
                        }
                    }
                }
                ast::Item::Probe(_) | ast::Item::Embedded(_) => {}
            }
        }
        self.files.push(LibraryFile { name, ast, source });
    }

    pub fn files(&self) -> &[LibraryFile] {
        &self.files
    }

    /// Definitions of functions named `name`, from the first source defining any.
    pub fn functions_named(&self, name: &str) -> Vec<ItemRef> {
        self.first_source(self.functions.get(name))
    }

    /// Declarations of globals named `name`, from the first source declaring any.
    pub fn globals_named(&self, name: &str) -> Vec<ItemRef> {
        self.first_source(self.globals.get(name))
    }

    /// Aliases with a name whose first component matches the glob `first`.
    pub fn aliases_matching(&self, first: &str) -> Vec<ItemRef> {
        if !first.contains(['*', '?', '[']) {
            return self.aliases.get(first).cloned().unwrap_or_default();
        }
        let mut refs: Vec<ItemRef> = self
            .aliases
            .iter()
            .filter(|(name, _)| glob_matches(first, name))
            .flat_map(|(_, refs)| refs.iter().copied())
            .collect();
        refs.sort_by_key(|r| (r.file, r.item));
        refs.dedup();
        refs
    }

    /// Every alias name (for suggestions).
    pub fn alias_names(&self) -> impl Iterator<Item = String> + '_ {
        let mut refs: Vec<ItemRef> = self.aliases.values().flatten().copied().collect();
        refs.sort_by_key(|r| (r.file, r.item));
        refs.dedup();
        refs.into_iter()
            .filter_map(|r| match self.item(r) {
                Some(ast::Item::Alias(alias)) => Some(alias),
                _ => None,
            })
            .flat_map(|alias| alias.names.iter().map(crate::sema::point_text))
    }

    /// Every function name defined anywhere (for suggestions).
    pub fn function_names(&self) -> impl Iterator<Item = &str> {
        self.functions.keys().map(String::as_str)
    }

    pub fn global_names(&self) -> impl Iterator<Item = &str> {
        self.globals.keys().map(String::as_str)
    }

    pub fn item(&self, at: ItemRef) -> Option<&ast::Item> {
        self.files.get(at.file)?.ast.items.get(at.item)
    }

    fn first_source(&self, refs: Option<&Vec<ItemRef>>) -> Vec<ItemRef> {
        let Some(refs) = refs else {
            return Vec::new();
        };
        let Some(first) = refs.iter().map(|r| self.files[r.file].source).min() else {
            return Vec::new();
        };
        refs.iter()
            .copied()
            .filter(|r| self.files[r.file].source == first)
            .collect()
    }
}
