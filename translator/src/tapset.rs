//! The tapset library layout: which directories apply to a target, and the
//! library macros (`*.stpm`) that every script can use.

use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, SourceMap, Span};
use crate::preprocess::MacroLibrary;
use crate::target::{Runtime, Target};

/// Where Debian installs the tapset library.
pub const DEFAULT_TAPSET_DIR: &str = "/usr/share/systemtap/tapset";

/// The tapset directories used for `target`: the root, its architecture
/// subdirectory, the runtime's subdirectory (`linux` for the kernel runtime)
/// and that one's architecture subdirectory.
pub fn tapset_dirs(root: &Path, target: &Target) -> Vec<PathBuf> {
    let runtime_dir = match target.runtime {
        Runtime::Kernel => "linux",
        Runtime::Dyninst => "dyninst",
        Runtime::Bpf => "bpf",
    };
    vec![
        root.to_path_buf(),
        root.join(&target.arch),
        root.join(runtime_dir),
        root.join(runtime_dir).join(&target.arch),
    ]
}

/// Files in `dirs` (not recursive) whose name ends with `suffix`, sorted by path.
pub fn files_with_suffix(dirs: &[PathBuf], suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && path.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}

/// Loads the library macros of the tapsets at `roots` for `target`, adding
/// each macro file to `sources` so diagnostics can point into it. A macro
/// defined twice anywhere in the library is an error.
pub fn load_library_macros(
    roots: &[PathBuf],
    target: &Target,
    sources: &mut SourceMap,
) -> (MacroLibrary, Vec<Diagnostic>) {
    let mut library = MacroLibrary::new();
    let mut diagnostics = Vec::new();
    let dirs: Vec<PathBuf> = roots
        .iter()
        .flat_map(|root| tapset_dirs(root, target))
        .collect();
    for path in files_with_suffix(&dirs, ".stpm") {
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let id = sources.add(path.display().to_string(), text.clone());
                diagnostics.extend(library.add_file(id, &text, target));
            }
            Err(err) => {
                let id = sources.add(path.display().to_string(), String::new());
                diagnostics.push(Diagnostic::error(
                    Span::new(id, 0, 0),
                    format!("cannot read macro file {}: {err}", path.display()),
                ));
            }
        }
    }
    (library, diagnostics)
}
