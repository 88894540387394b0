//! Every golden case builds into a kernel module, warning free (-Werror, no
//! modpost warnings), against every supported kernel header set. Missing
//! headers fail under CI and are skipped elsewhere. `CODEGEN_KERNELS=a,b`
//! limits the kernels.

mod codegen_common;
mod common;

use stap_kbuild::{build_module, find_build_dir, ModuleSources};

const KERNELS: &[&str] = &[
    "6.1.0-47-cloud-amd64",
    "6.1.0-56-amd64",
    "6.1.0-56-cloud-amd64",
    "6.1.0-56-rt-amd64",
    "6.12.117+deb12-cloud-amd64",
];

#[test]
fn golden_cases_build_for_every_kernel() {
    let only = std::env::var("CODEGEN_KERNELS").ok();
    let scratch = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for release in KERNELS {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|k| k == *release))
        {
            continue;
        }
        let Some(dir) = find_build_dir(release) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "headers for {release} are missing"
            );
            eprintln!("skipping {release}: no headers");
            continue;
        };
        for case in codegen_common::golden_cases() {
            let translation = codegen_common::translate_case(&case);
            let files: Vec<(&str, &[u8])> = translation
                .files
                .iter()
                .map(|(n, b)| (n.as_str(), b.as_slice()))
                .collect();
            let name = case.file_stem().unwrap().to_string_lossy().to_string();
            let sources = ModuleSources {
                module_name: &format!("golden_{name}"),
                files: &files,
            };
            let work = scratch.path().join(release).join(&name);
            if let Err(e) = build_module(&dir, &sources, &work, scratch.path()) {
                failures.push(format!("{name} on {release}: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
