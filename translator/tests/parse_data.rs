//! Data-driven parser tests: each `tests/data/parse/{ok,err}/NAME.stp` has an
//! expected `NAME.out` next to it. `ok` cases must parse without
//! diagnostics (the expectation is the pretty-printed tree, which must parse
//! back to the same tree); `err` cases must report errors (the expectation is
//! the rendered diagnostics followed by what was recovered).
//!
//! Regenerate expectations with `UPDATE_EXPECT=1 cargo test --test parse_data`
//! and review the diff before committing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use stap_translator::erase_spans::erase_spans;
use stap_translator::printer::print_file;
use stap_translator::{parse, SourceMap, Target};

/// A fixed target so expectations do not depend on the host.
fn test_target() -> Target {
    Target {
        kernel_release: "6.1.0-56-cloud-amd64".to_string(),
        config: BTreeMap::from([
            ("CONFIG_SMP".to_string(), "y".to_string()),
            ("CONFIG_NR_CPUS".to_string(), "64".to_string()),
            ("CONFIG_MODULES".to_string(), "y".to_string()),
        ]),
        ..Target::default()
    }
}

fn cases(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/parse")
        .join(kind);
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "stp"))
        .collect();
    cases.sort();
    cases
}

/// Compares `actual` with the `.out` file, or rewrites it when UPDATE_EXPECT is set.
fn check_expectation(case: &Path, actual: &str) -> Result<(), String> {
    let expected_path = case.with_extension("out");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&expected_path, actual).unwrap();
        return Ok(());
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
    if expected == actual {
        Ok(())
    } else {
        Err(format!(
            "{}: output differs from {}\n--- expected\n{expected}\n--- actual\n{actual}",
            case.display(),
            expected_path.display()
        ))
    }
}

fn case_name(case: &Path) -> String {
    case.file_name().unwrap().to_string_lossy().to_string()
}

#[test]
fn ok_cases_parse_print_and_round_trip() {
    let target = test_target();
    let mut failures = Vec::new();
    let cases = cases("ok");
    assert!(
        cases.len() >= 30,
        "expected many ok cases, found {}",
        cases.len()
    );
    for case in &cases {
        let text = std::fs::read_to_string(case).unwrap();
        let mut sources = SourceMap::new();
        let file = sources.add(case_name(case), text.clone());
        let (mut tree, diagnostics) = parse(file, &text, &target);
        if !diagnostics.is_empty() {
            failures.push(format!(
                "{}:\n{}",
                case.display(),
                sources.render_all(&diagnostics)
            ));
            continue;
        }
        let printed = print_file(&tree);
        let reprinted = sources.add(format!("{} (printed)", case_name(case)), printed.clone());
        let (mut reparsed, diagnostics) = parse(reprinted, &printed, &target);
        erase_spans(&mut tree);
        erase_spans(&mut reparsed);
        if !diagnostics.is_empty() || tree != reparsed {
            failures.push(format!(
                "{}: printed form does not round-trip\n{printed}\n{}",
                case.display(),
                sources.render_all(&diagnostics)
            ));
            continue;
        }
        if let Err(failure) = check_expectation(case, &printed) {
            failures.push(failure);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn err_cases_report_errors_and_recover() {
    let target = test_target();
    let mut failures = Vec::new();
    let cases = cases("err");
    assert!(
        cases.len() >= 20,
        "expected many err cases, found {}",
        cases.len()
    );
    for case in &cases {
        let text = std::fs::read_to_string(case).unwrap();
        let mut sources = SourceMap::new();
        let file = sources.add(case_name(case), text.clone());
        let (tree, diagnostics) = parse(file, &text, &target);
        if !diagnostics.iter().any(|d| d.is_error()) {
            failures.push(format!("{}: no error reported", case.display()));
            continue;
        }
        let actual = format!(
            "{}--- recovered\n{}",
            sources.render_all(&diagnostics),
            print_file(&tree)
        );
        if let Err(failure) = check_expectation(case, &actual) {
            failures.push(failure);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
