//! Benchmark (not a test): for each kernel, the time to translate
//! `examples/hello.stp`, the time to build its module with Kbuild, and the
//! ratio of that build time to a bare Kbuild of the minimal hand-written
//! module (`tests/modules/minimal`) for the same kernel, measured in this run.
//!
//! cargo run --release -p stap-pack-tests --bin bench-build [KRELEASE ...]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use stap_kbuild::{build_module, find_build_dir, ModuleSources};
use stap_pack_tests::workspace_root;
use stap_translator::{translate, Target, TranslateInput};

const RUNS: usize = 3;
const DEFAULT_KERNELS: &[&str] = &["6.1.0-56-cloud-amd64", "6.12.117+deb12-cloud-amd64"];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kernels: Vec<String> = if args.is_empty() {
        DEFAULT_KERNELS.iter().map(|k| k.to_string()).collect()
    } else {
        args
    };
    let script_path = workspace_root().join("examples/hello.stp");
    let script = std::fs::read_to_string(&script_path).expect("examples/hello.stp");
    let scratch = tempfile::tempdir().unwrap();
    println!("kernel | translate | feature tests (once) | module build | bare Kbuild | build/bare");
    for release in &kernels {
        let Some(build_dir) = find_build_dir(release) else {
            println!("{release} | headers not installed, skipped");
            continue;
        };
        let target =
            Target::for_kernel_build_tree(release, &build_dir).expect("kernel configuration");
        let input = TranslateInput {
            script_name: "hello.stp",
            script_text: &script,
            script_args: &[],
            target: &target,
            include_dirs: &[],
            guru: false,
            module_name: "bench_hello",
            defines: &[],
        };
        let translate_time = median(|| {
            translate(&input).expect("hello.stp translates");
        });
        let translation = translate(&input).unwrap();
        let files: Vec<(&str, &[u8])> = translation
            .files
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .collect();
        let sources = ModuleSources {
            module_name: "bench_hello",
            files: &files,
        };
        let cache = scratch.path().join(format!("cache-{release}"));
        let work = scratch.path().join(format!("hello-{release}"));
        let cold = Instant::now();
        build_module(&build_dir, &sources, &work, &cache).expect("module builds");
        let cold = cold.elapsed();
        let build_time = median(|| {
            std::fs::remove_dir_all(&work).unwrap();
            build_module(&build_dir, &sources, &work, &cache).expect("module builds");
        });
        let minimal = scratch.path().join(format!("minimal-{release}"));
        let bare_time = median(|| bare_kbuild(&build_dir, &minimal));
        println!(
            "{release} | {:.1} ms | {:.1} s | {:.1} s | {:.1} s | {:.2}",
            ms(translate_time),
            (cold.saturating_sub(build_time)).as_secs_f64(),
            build_time.as_secs_f64(),
            bare_time.as_secs_f64(),
            build_time.as_secs_f64() / bare_time.as_secs_f64()
        );
    }
}

/// A from-scratch Kbuild of the minimal module, as a developer would run it.
fn bare_kbuild(build_dir: &Path, work: &Path) {
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work).unwrap();
    for file in ["minimal.c", "Kbuild"] {
        std::fs::copy(
            workspace_root().join("tests/modules/minimal").join(file),
            work.join(file),
        )
        .unwrap();
    }
    let status = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(build_dir)
        .arg(format!("M={}", work.display()))
        .arg("modules")
        .output()
        .expect("run make");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}
