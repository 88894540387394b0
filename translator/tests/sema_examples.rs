//! Analysis over SystemTap's example scripts with the Debian tapset library
//! as the `-I` directory. Many examples need kernel debuginfo for their
//! target variables or use tapset features beyond this front end, so errors
//! are counted, not failed on; what must hold is that analysis never panics
//! and that whatever it accepts passes IR validation.
//!
//! `SEMA_EXAMPLE=NAME` restricts the run to scripts whose path contains
//! NAME and prints their diagnostics in full.

use std::path::{Path, PathBuf};

use stap_translator::ir::print_program;
use stap_translator::library::{Library, LibraryOptions};
use stap_translator::sema::{analyze, Options};
use stap_translator::tapset::{load_library_macros, DEFAULT_TAPSET_DIR};
use stap_translator::{parse_with, Diagnostic, ParseOptions, SourceMap, Target};

const EXAMPLES_DIR: &str = "/usr/share/systemtap/examples";

fn stp_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            stp_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "stp") {
            out.push(path);
        }
    }
}

/// An installed kernel's target (the examples' conditionals test its
/// version and configuration), or the default one.
fn examples_target() -> Target {
    let mut releases: Vec<String> = std::fs::read_dir("/lib/modules")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    releases.sort();
    releases
        .iter()
        .find_map(|release| Target::for_installed_kernel(release).ok())
        .unwrap_or_default()
}

#[test]
fn examples_analyse_without_panicking() {
    let tapset = PathBuf::from(DEFAULT_TAPSET_DIR);
    let mut scripts = Vec::new();
    stp_files(Path::new(EXAMPLES_DIR), &mut scripts);
    scripts.sort();
    let only = std::env::var("SEMA_EXAMPLE").ok();
    if let Some(only) = &only {
        scripts.retain(|s| s.to_string_lossy().contains(only.as_str()));
    }
    if !tapset.is_dir() || scripts.is_empty() {
        println!("skipped: no SystemTap tapsets or examples installed");
        return;
    }
    let target = examples_target();
    let mut sources = SourceMap::new();
    let roots = [tapset.clone()];
    let (macros, _) = load_library_macros(&roots, &target, &mut sources);
    let options = LibraryOptions {
        builtin: true,
        include_dirs: vec![tapset],
        script_args: Some(Vec::new()),
    };
    let (library, library_diagnostics) =
        Library::load(&options, &target, Some(&macros), &mut sources);
    println!(
        "library: {} files, {} diagnostics",
        library.files().len(),
        library_diagnostics.len()
    );
    if only.is_some() {
        print!("{}", sources.render_all(&library_diagnostics));
    }

    let (mut parse_failed, mut analysed, mut rejected) = (0, 0, 0);
    let mut first_errors: Vec<String> = Vec::new();
    for script in &scripts {
        let text = std::fs::read_to_string(script).unwrap();
        let file = sources.add(script.display().to_string(), text.clone());
        let parse_options = ParseOptions {
            target: &target,
            macros: Some(&macros),
            script_args: None,
        };
        let (tree, parse_diagnostics) = parse_with(file, &text, &parse_options);
        if parse_diagnostics.iter().any(Diagnostic::is_error) {
            parse_failed += 1;
            continue;
        }
        let analysis = analyze(&[tree], &library, &Options { guru: true });
        if only.is_some() {
            print!("{}", sources.render_all(&analysis.diagnostics));
        }
        match &analysis.program {
            Some(program) => {
                analysed += 1;
                assert!(!print_program(program).is_empty());
            }
            None => {
                rejected += 1;
                if let Some(error) = analysis.diagnostics.iter().find(|d| d.is_error()) {
                    first_errors.push(format!("{}: {}", script.display(), error.message));
                }
            }
        }
    }
    println!(
        "examples: {} scripts, {parse_failed} not parsed, {analysed} analysed, {rejected} rejected",
        scripts.len()
    );
    for error in &first_errors {
        println!("  {error}");
    }
}
