//! Data-driven parser tests: each `tests/data/parse/{ok,err}/NAME.stp` has an
//! expected `NAME.out` next to it. `ok` cases must parse without
//! diagnostics (the expectation is the pretty-printed tree, which must parse
//! back to the same tree); `err` cases must report errors (the expectation is
//! the rendered diagnostics followed by what was recovered).
//!
//! Regenerate expectations with `UPDATE_EXPECT=1 cargo test --test parse_data`
//! and review the diff before committing.

mod common;

use common::{case_name, cases, check_expectation, test_target};
use stap_translator::erase_spans::erase_spans;
use stap_translator::printer::print_file;
use stap_translator::{parse, SourceMap};

#[test]
fn ok_cases_parse_print_and_round_trip() {
    let target = test_target();
    let mut failures = Vec::new();
    let cases = cases("parse", "ok");
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
    let cases = cases("parse", "err");
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
