//! Benchmark (not a test): parse and check against SystemTap's whole tapset
//! library, ours against `stap -p1`, both measured in this run.
//!
//! Both commands read every library file for the target kernel: stap's pass 1
//! parses the user script and all library scripts; `stap-pack check -p2`
//! with the tapset directory as `-I` parses all of them, pulls in what the
//! script uses and type-checks it.
//!
//! cargo build --release --workspace --bins && cargo run --release -p stap-pack-tests --bin bench-parse [KRELEASE]

use std::process::Command;
use std::time::{Duration, Instant};

use stap_pack_tests::bin;

const TAPSET: &str = "/usr/share/systemtap/tapset";
const SCRIPT: &str = "probe begin { printf(\"%s %d\\n\", execname(), pid()) }";
const RUNS: usize = 5;

fn main() {
    let release = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "6.1.0-56-cloud-amd64".to_string());
    let files = count_stp(std::path::Path::new(TAPSET));
    println!("tapset: {files} .stp files under {TAPSET}; kernel {release}");
    let ours = median(|| {
        let out = Command::new(bin("stap-pack"))
            .args(["check", "-p2", "-r", &release, "-I", TAPSET, "-e", SCRIPT])
            .output()
            .expect("run stap-pack");
        assert!(
            out.status.success(),
            "stap-pack check failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    println!(
        "stap-pack check -p2: {:.0} ms (median of {RUNS})",
        ours.as_secs_f64() * 1e3
    );
    let stap_available = Command::new("stap")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !stap_available {
        println!("stap is not installed: no reference ratio");
        return;
    }
    let stap = median(|| {
        let out = Command::new("stap")
            .args(["-r", &release, "-p1", "-e", SCRIPT])
            .output()
            .expect("run stap");
        assert!(
            out.status.success(),
            "stap -p1 failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    println!(
        "stap -p1:            {:.0} ms (median of {RUNS})",
        stap.as_secs_f64() * 1e3
    );
    println!(
        "ratio stap-pack/stap: {:.2}",
        ours.as_secs_f64() / stap.as_secs_f64()
    );
}

fn count_stp(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .map(|p| {
            if p.is_dir() {
                count_stp(&p)
            } else {
                usize::from(p.extension().is_some_and(|e| e == "stp"))
            }
        })
        .sum()
}

fn median(mut f: impl FnMut()) -> Duration {
    f();
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
