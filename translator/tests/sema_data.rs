//! Data-driven semantic-analysis tests: each `tests/data/sema/{ok,err}/NAME.stp`
//! has an expected `NAME.out` next to it. `ok` cases must analyse without
//! errors (the expectation is the `-p2` listing, then any warnings); `err`
//! cases must report errors (the expectation is the rendered diagnostics).
//!
//! The library is the builtin one plus `tests/data/sema/tapset` as an `-I`
//! directory. A first line `// options: -g` turns on guru mode.
//!
//! Regenerate expectations with `UPDATE_EXPECT=1 cargo test --test sema_data`
//! and review the diff before committing.

mod common;

use std::path::{Path, PathBuf};

use common::{case_name, cases, check_expectation, test_target};
use stap_translator::ir::print_program;
use stap_translator::library::{Library, LibraryOptions};
use stap_translator::sema::{analyze, Analysis, Options};
use stap_translator::{parse, Diagnostic, SourceMap};

/// Relative, so that file names in expectations do not depend on the checkout.
const INCLUDE_DIR: &str = "tests/data/sema/tapset";

fn analyse_case(case: &Path) -> (SourceMap, Analysis) {
    let text = std::fs::read_to_string(case).unwrap();
    let guru = text
        .lines()
        .next()
        .is_some_and(|line| line.trim() == "// options: -g");
    let target = test_target();
    let mut sources = SourceMap::new();
    let options = LibraryOptions {
        builtin: true,
        include_dirs: vec![PathBuf::from(INCLUDE_DIR)],
        script_args: None,
    };
    let (library, library_diagnostics) = Library::load(&options, &target, None, &mut sources);
    assert!(
        library_diagnostics.is_empty(),
        "library: {}",
        sources.render_all(&library_diagnostics)
    );
    let file = sources.add(case_name(case), text.clone());
    let (tree, parse_diagnostics) = parse(file, &text, &target);
    assert!(
        parse_diagnostics.is_empty(),
        "{}: parse: {}",
        case.display(),
        sources.render_all(&parse_diagnostics)
    );
    let analysis = analyze(&[tree], &library, &Options { guru });
    (sources, analysis)
}

#[test]
fn ok_cases_analyse_and_print() {
    let mut failures = Vec::new();
    let cases = cases("sema", "ok");
    assert!(
        cases.len() >= 20,
        "expected many ok cases, found {}",
        cases.len()
    );
    for case in &cases {
        let (sources, analysis) = analyse_case(case);
        let Some(program) = &analysis.program else {
            failures.push(format!(
                "{}:\n{}",
                case.display(),
                sources.render_all(&analysis.diagnostics)
            ));
            continue;
        };
        let mut actual = print_program(program);
        if !analysis.diagnostics.is_empty() {
            actual.push_str("--- warnings\n");
            actual.push_str(&sources.render_all(&analysis.diagnostics));
        }
        if let Err(failure) = check_expectation(case, &actual) {
            failures.push(failure);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn err_cases_report_errors() {
    let mut failures = Vec::new();
    let cases = cases("sema", "err");
    assert!(
        cases.len() >= 20,
        "expected many err cases, found {}",
        cases.len()
    );
    for case in &cases {
        let (sources, analysis) = analyse_case(case);
        if !analysis.diagnostics.iter().any(Diagnostic::is_error) || analysis.program.is_some() {
            failures.push(format!("{}: no error reported", case.display()));
            continue;
        }
        if let Err(failure) = check_expectation(case, &sources.render_all(&analysis.diagnostics)) {
            failures.push(failure);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
