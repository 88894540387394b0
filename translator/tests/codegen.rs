//! Golden C output of the back end: each `tests/out/NAME.stp` translates to
//! `tests/out/NAME.c` (and `NAME.config.h` when it has -D settings).
//! Regenerate with `UPDATE_EXPECT=1 cargo test -p stap-translator --test
//! codegen` and review the diff.

mod codegen_common;
mod common;

use std::path::Path;

use codegen_common::{golden_cases, translate_case};
use stap_translator::codegen::{CONFIG_FILE, SCRIPT_FILE};
use stap_translator::{translate, TranslateInput, Translation};

fn file<'t>(translation: &'t Translation, name: &str) -> &'t str {
    let (_, bytes) = translation.files.iter().find(|(n, _)| n == name).unwrap();
    std::str::from_utf8(bytes).unwrap()
}

fn compare(path: &Path, actual: &str) -> Result<(), String> {
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(path, actual).unwrap();
        return Ok(());
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected == actual {
        Ok(())
    } else {
        Err(format!(
            "{} differs from the generated code (UPDATE_EXPECT=1 regenerates it)",
            path.display()
        ))
    }
}

#[test]
fn generated_c_matches_golden_files() {
    let mut failures = Vec::new();
    for case in golden_cases() {
        let translation = translate_case(&case);
        let script = file(&translation, SCRIPT_FILE);
        if let Err(e) = compare(&case.with_extension("c"), script) {
            failures.push(e);
        }
        let config = file(&translation, CONFIG_FILE);
        if config.contains("#define") {
            if let Err(e) = compare(&case.with_extension("config.h"), config) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn scalar_globals_are_parameters() {
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/out/timers.stp");
    let translation = translate_case(&case);
    let names: Vec<(&str, stap_translator::ParamKind)> = translation
        .parameters
        .iter()
        .map(|(n, k)| (n.as_str(), *k))
        .collect();
    use stap_translator::ParamKind::{Long, String};
    assert_eq!(
        names,
        [("ticks", Long), ("max_ticks", Long), ("who", String)]
    );
}

#[test]
fn unsupported_constructs_are_errors_not_silence() {
    let target = common::test_target();
    for (script, expected) in [
        (
            "global s probe begin { s <<< 1; print(@hist_log(s)) }",
            "printing statistics",
        ),
        (
            "probe kernel.function(\"vfs_read\") { }",
            "`kernel.function` probes (they need the kernel's debuginfo)",
        ),
        (
            "probe begin { if (\"a\" =~ \"b\") exit() }",
            "regular expression",
        ),
    ] {
        let input = TranslateInput {
            script_name: "t.stp",
            script_text: script,
            script_args: &[],
            target: &target,
            include_dirs: &[],
            guru: false,
            module_name: "t",
            defines: &[],
        };
        let error = translate(&input).expect_err(script);
        let text = error.render();
        assert!(text.contains(expected), "{script}: {text}");
        assert!(
            text.contains("not supported by the stap-pack C back end"),
            "{text}"
        );
    }
}

#[test]
fn timers_the_runtime_would_refuse_are_errors() {
    let target = common::test_target();
    for script in [
        "probe timer.ms(10).randomize(10) { }",
        "probe timer.hz(100).randomize(1) { }",
    ] {
        let input = TranslateInput {
            script_name: "t.stp",
            script_text: script,
            script_args: &[],
            target: &target,
            include_dirs: &[],
            guru: false,
            module_name: "t",
            defines: &[],
        };
        let text = translate(&input).expect_err(script).render();
        assert!(text.contains("randomiz"), "{text}");
    }
}
