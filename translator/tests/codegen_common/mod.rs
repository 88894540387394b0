//! The back end's test cases: `tests/out/NAME.stp`, translated for the
//! fixed test target, with `-D` settings from a `# -D NAME=VALUE` first line.

use std::path::{Path, PathBuf};

use stap_translator::{translate, TranslateInput, Translation};

use crate::common;

pub fn golden_cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/out");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "stp"))
        .collect();
    cases.sort();
    cases
}

/// `-D` settings from a leading `# -D A=1 -D B=2` comment line.
pub fn case_defines(text: &str) -> Vec<(String, Option<String>)> {
    let first = text.lines().next().unwrap_or_default();
    let Some(settings) = first.strip_prefix("# ").filter(|s| s.starts_with("-D ")) else {
        return Vec::new();
    };
    settings
        .split("-D ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.split_once('=') {
            Some((name, value)) => (name.to_string(), Some(value.to_string())),
            None => (s.to_string(), None),
        })
        .collect()
}

pub fn translate_case(case: &Path) -> Translation {
    let text = std::fs::read_to_string(case).unwrap();
    let name = common::case_name(case);
    let defines = case_defines(&text);
    let input = TranslateInput {
        script_name: &name,
        script_text: &text,
        script_args: &[],
        target: &common::test_target(),
        include_dirs: &[],
        guru: false,
        module_name: "golden",
        defines: &defines,
    };
    translate(&input).unwrap_or_else(|e| panic!("{name}:\n{}", e.render()))
}
