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

/// Translates a one-file script named `t.stp`.
fn translate_script(script: &str) -> Result<Translation, stap_translator::TranslateError> {
    let target = common::test_target();
    translate(&TranslateInput {
        script_name: "t.stp",
        script_text: script,
        script_args: &[],
        target: &target,
        include_dirs: &[],
        guru: false,
        module_name: "t",
        defines: &[],
    })
}

#[test]
fn adding_to_statistics_needs_only_the_read_lock() {
    let translation = translate_script(
        "global s, a, n\n\
         probe timer.ms(1) { s <<< 1; a[n] <<< 2 }\n\
         probe timer.ms(2) { println(@count(s)) }\n\
         probe timer.ms(3) { foreach (k in a) n++ }",
    )
    .unwrap();
    let script = file(&translation, SCRIPT_FILE);
    for expected in [
        // Adding: read locks (and n is only read).
        "stp_probe_0_locks[] = {\n\t{ &stp_lock_table[0], false }, /* s */\n\t{ &stp_lock_table[1], false }, /* n */\n\t{ &stp_lock_table[2], false }, /* a */\n};",
        // Reading merges every CPU's slots: the write lock.
        "stp_probe_1_locks[] = {\n\t{ &stp_lock_table[0], true }, /* s */\n};",
        "stp_probe_2_locks[] = {\n\t{ &stp_lock_table[1], true }, /* n */\n\t{ &stp_lock_table[2], true }, /* a */\n};",
    ] {
        assert!(script.contains(expected), "{expected}\nnot in\n{script}");
    }
}

#[test]
fn a_statistic_has_one_histogram_and_one_variance_shift() {
    for (script, expected) in [
        (
            "global s probe begin { s <<< 1; print(@hist_log(s)); print(@hist_linear(s, 0, 10, 1)) }",
            "multiple histogram types declared on `s`",
        ),
        (
            "global s probe begin { s <<< 1; print(@hist_linear(s, 0, 10, 1)); print(@hist_linear(s, 0, 20, 1)) }",
            "multiple histogram types declared on `s`",
        ),
        (
            "global s probe begin { s <<< 1; println(@variance(s, 2), @variance(s, 3)) }",
            "conflicting @variance bit shifts declared on `s` (previously 2)",
        ),
    ] {
        let text = translate_script(script).expect_err(script).render();
        assert!(text.contains(expected), "{script}: {text}");
    }
}

#[test]
fn unsupported_constructs_are_errors_not_silence() {
    for (script, expected) in [
        (
            "global s probe begin { s <<< 1; foreach (b in @hist_log(s)-) println(b) }",
            "sorting or slicing a histogram's buckets",
        ),
        (
            "probe kernel.function(\"vfs_read\") { }",
            "`kernel.function` probes (they need the kernel's debuginfo)",
        ),
        (
            "probe begin { if (\"a\" =~ \"b\") exit() }",
            "regular expression",
        ),
        (
            "probe kprobe.function(\"vfs_*\") { }",
            "a function named by a wildcard",
        ),
    ] {
        let error = translate_script(script).expect_err(script);
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
    for script in [
        "probe timer.ms(10).randomize(10) { }",
        "probe timer.hz(100).randomize(1) { }",
    ] {
        let text = translate_script(script).expect_err(script).render();
        assert!(text.contains("randomiz"), "{text}");
    }
}
