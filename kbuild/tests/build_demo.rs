//! The runtime and the hand-written demo module compile warning free
//! (`-Werror`, no modpost warnings) against every kernel header set we
//! support, and the feature tests give the expected answers where we know
//! them.

use std::path::{Path, PathBuf};

use stap_kbuild::{build_module, features_header, find_build_dir, ModuleSources};

/// Every header set the runtime must build against.
const KERNELS: &[&str] = &[
    "6.1.0-47-cloud-amd64",
    "6.1.0-56-amd64",
    "6.1.0-56-cloud-amd64",
    "6.1.0-56-rt-amd64",
    "6.12.117+deb12-cloud-amd64",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("kbuild/ is in the workspace")
        .to_path_buf()
}

/// The header set's build dir; a missing one fails under CI and is skipped elsewhere.
fn build_dir(release: &str) -> Option<PathBuf> {
    let dir = find_build_dir(release);
    if dir.is_none() {
        let message =
            format!("headers for {release} are missing: apt-get install linux-headers-{release}");
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("skipping {release}: {message}");
    }
    dir
}

#[test]
fn demo_module_builds_warning_free_for_every_kernel() {
    let demo = workspace().join("tests/modules/transport_demo");
    let script = std::fs::read(demo.join("stp_script.c")).unwrap();
    let files: &[(&str, &[u8])] = &[("stp_script.c", &script)];
    let scratch = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for release in KERNELS {
        let Some(dir) = build_dir(release) else {
            continue;
        };
        let sources = ModuleSources {
            module_name: "stap_pack_transport_demo",
            files,
        };
        match build_module(
            &dir,
            &sources,
            &scratch.path().join(release),
            scratch.path(),
        ) {
            Ok(ko) => assert!(ko.exists()),
            Err(e) => failures.push(format!("{release}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn features_match_what_the_headers_declare() {
    let scratch = tempfile::tempdir().unwrap();
    for release in KERNELS {
        let Some(dir) = build_dir(release) else {
            continue;
        };
        let header = features_header(&dir, scratch.path()).unwrap();
        // Ground truth from the headers themselves, for the tests whose
        // function names are unambiguous in a grep.
        let source = common_source_dir(&dir);
        let declared = |file: &str, needle: &str| {
            std::fs::read_to_string(source.join("include/linux").join(file))
                .unwrap_or_else(|e| panic!("{release}: {file}: {e}"))
                .contains(needle)
        };
        for (feature, file, needle) in [
            ("TIMER_DELETE_SYNC", "timer.h", "int timer_delete_sync("),
            ("HRTIMER_SETUP", "hrtimer.h", "void hrtimer_setup("),
            (
                "TIMER_CONTAINER_OF",
                "timer.h",
                "#define timer_container_of(",
            ),
        ] {
            let want = u8::from(declared(file, needle));
            assert!(
                header.contains(&format!("#define STP_HAVE_{feature} {want}\n")),
                "{release}: expected STP_HAVE_{feature} {want} in\n{header}"
            );
        }
        // The second call is answered from the cache.
        assert_eq!(features_header(&dir, scratch.path()).unwrap(), header);
    }
}

/// Debian splits headers into a flavour directory whose Makefile includes
/// the common one (`include /usr/src/linux-headers-X-common/Makefile`).
fn common_source_dir(build_dir: &Path) -> PathBuf {
    let makefile = std::fs::read_to_string(build_dir.join("Makefile")).unwrap();
    makefile
        .lines()
        .find_map(|line| line.strip_prefix("include ")?.strip_suffix("/Makefile"))
        .map_or_else(|| build_dir.to_path_buf(), PathBuf::from)
}
