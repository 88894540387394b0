//! Golden-file helpers shared by the data-driven tests: each
//! `tests/data/SUITE/KIND/NAME.stp` has its expected output in `NAME.out`.
//!
//! Regenerate expectations with `UPDATE_EXPECT=1 cargo test` and review the
//! diff before committing.

#![allow(dead_code)] // each test crate uses a different subset

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use stap_translator::Target;

/// A fixed target so expectations do not depend on the host.
pub fn test_target() -> Target {
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

/// The `.stp` cases of `tests/data/SUITE/KIND`, sorted.
pub fn cases(suite: &str, kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(suite)
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
pub fn check_expectation(case: &Path, actual: &str) -> Result<(), String> {
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

pub fn case_name(case: &Path) -> String {
    case.file_name().unwrap().to_string_lossy().to_string()
}
