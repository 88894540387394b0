//! Benchmark (not a test): what a probe costs a syscall-heavy workload, in
//! a VM whose clock counts instructions (qemu `-icount shift=0`: one
//! nanosecond per instruction), so the times measure the work each
//! configuration adds and not the host's load. busybox `dd` copying N bytes one at a time (N read(2) and N
//! write(2) calls) is timed (a) without probes, (b) with the hand-written
//! kprobe module tests/modules/kprobe_count counting `vfs_read` hits in a
//! per-CPU counter, (c) with a stap-pack bundle counting the same hits in a
//! global, (d) the same counting in an array keyed by `execname()`. The
//! result is the overhead of (c) and (d) in units of (b)'s: (c−a)/(b−a)
//! and (d−a)/(b−a). The configurations take turns, round after round;
//! each time is the median, also shown as the added instructions per read.
//!
//! cargo build --release --workspace --bins && cargo run --release -p stap-pack-tests --bin bench-probe
//!
//! `STAP_PACK_BENCH_BYTES` sets N (default 100000); `STAP_PACK_TEST_KERNEL`
//! the kernel (default 6.1.0-56-cloud-amd64).

use std::time::Duration;

use stap_pack_tests::vm::{boot, VmRun, VmSpec};
use stap_pack_tests::{
    build_bundle, hand_written_module, keygen, runner_guest, session_around_workload, test_kernel,
};

const ROUNDS: usize = 5;
const REFERENCE: &str = "stap_pack_kprobe_count";
/// (configuration, script): each prints `ready` once armed and `hits N`
/// (the workload's `vfs_read` calls, at least) at the end.
const SCRIPTS: &[(&str, &str)] = &[
    (
        "c",
        "global hits\n\
         probe begin { println(\"ready\") }\n\
         probe kprobe.function(\"vfs_read\") { hits++ }\n\
         probe end { println(\"hits \", hits) }\n",
    ),
    (
        "d",
        "global hits\n\
         probe begin { println(\"ready\") }\n\
         probe kprobe.function(\"vfs_read\") { hits[execname()]++ }\n\
         probe end { println(\"hits \", hits[\"dd\"]) }\n",
    ),
];

fn main() {
    let kernel = test_kernel();
    let bytes: u64 = std::env::var("STAP_PACK_BENCH_BYTES")
        .ok()
        .map(|n| n.parse().expect("STAP_PACK_BENCH_BYTES is a number"))
        .unwrap_or(100_000);
    let mut spec = VmSpec::for_release(&kernel).expect("qemu, busybox and the kernel image");
    spec.icount_shift = Some(0);
    spec.timeout = Duration::from_secs(1800);
    let reference = hand_written_module("kprobe_count", REFERENCE, &kernel)
        .expect("kernel headers for the reference module");

    let dir = tempfile::tempdir().unwrap();
    keygen(dir.path());
    let bundles: Vec<String> = SCRIPTS
        .iter()
        .map(|(config, script)| {
            let name = format!("bench-{config}");
            build_bundle(dir.path(), &name, script, &["-r", &kernel]);
            name
        })
        .collect();
    let bundles: Vec<&str> = bundles.iter().map(String::as_str).collect();
    let mut guest = runner_guest(dir.path(), &bundles);
    guest.file("/reference.ko", std::fs::read(&reference).unwrap(), 0o644);

    // The guest clock in nanoseconds (/proc/uptime counts in 10 ms).
    let now = "awk '/^now at/ { print $3; exit }' /proc/timer_list";
    let workload = format!(
        "s=$({now}); dd if=/dev/zero of=/dev/null bs=1 count={bytes} 2>/dev/null; \
         e=$({now}); echo \"time $s $e\""
    );
    guest.step("warm up", &workload);
    for round in 0..ROUNDS {
        guest.step(&format!("a {round}"), &workload).step(
            &format!("b {round}"),
            &format!(
                "insmod /reference.ko && {{ {workload}; rmmod {REFERENCE}; \
                 dmesg | grep '{REFERENCE}: vfs_read' | tail -n 1; }}"
            ),
        );
        for (config, _) in SCRIPTS {
            let out = format!("/tmp/{config}.out");
            guest.step(
                &format!("{config} {round}"),
                &format!(
                    "{}; cat {out} {out}.err",
                    session_around_workload(
                        &format!("/bench-{config}.stpb"),
                        "/etc/k.pub",
                        &out,
                        &workload
                    )
                ),
            );
        }
    }
    eprintln!(
        "booting {kernel} (TCG, -icount shift=0): {ROUNDS} rounds of a b c d, dd of {bytes} bytes"
    );
    let vm = boot(&spec, &guest).unwrap_or_else(|e| panic!("{e}"));

    let times: Vec<Vec<f64>> = ["a", "b", "c", "d"]
        .iter()
        .map(|config| sorted_seconds(&vm, config, bytes))
        .collect();
    let median = |config: usize| times[config][ROUNDS / 2];
    let (a, b, c, d) = (median(0), median(1), median(2), median(3));
    println!(
        "workload: dd bs=1 count={bytes} on {kernel}, TCG with -icount shift=0 \
         (1 ns of guest time per instruction); {ROUNDS} rounds"
    );
    println!(
        "{:<44} {:>9} {:>9} {:>9} {:>14}",
        "", "median", "min", "max", "per read"
    );
    for (config, label) in [
        "(a) no probes",
        "(b) hand-written kprobe, per-CPU counter",
        "(c) stap-pack, global counter",
        "(d) stap-pack, array keyed by execname()",
    ]
    .iter()
    .enumerate()
    {
        let sorted = &times[config];
        println!(
            "{label:<44} {:>8.3}s {:>8.3}s {:>8.3}s {:>+8.0} insns",
            median(config),
            sorted[0],
            sorted[ROUNDS - 1],
            (median(config) - a) / bytes as f64 * 1e9
        );
    }
    println!("(c-a)/(b-a) = {:.1}", (c - a) / (b - a));
    println!("(d-a)/(b-a) = {:.1}", (d - a) / (b - a));
}

/// The workload times of a configuration's rounds, sorted, after checking
/// that each round's session ended cleanly and counted the workload's reads.
fn sorted_seconds(vm: &VmRun, config: &str, bytes: u64) -> Vec<f64> {
    let mut times: Vec<f64> = (0..ROUNDS)
        .map(|round| {
            let step = vm.step(&format!("{config} {round}")).expect_status(0);
            let output = &step.output;
            // The numbers after `label` on its line (kernel log lines have a
            // timestamp before it).
            let field = |label: &str| -> Option<Vec<f64>> {
                output.lines().find_map(|line| {
                    let (_, rest) = line.split_once(label)?;
                    Some(rest.split(' ').map(|n| n.parse().unwrap()).collect())
                })
            };
            if config != "a" {
                let hits = if config == "b" {
                    field(&format!("{REFERENCE}: vfs_read "))
                } else {
                    assert!(
                        output.contains("runner status 0"),
                        "({config}) round {round}: the session failed:\n{output}"
                    );
                    field("hits ")
                };
                let hits = hits.unwrap_or_else(|| {
                    panic!("({config}) round {round} printed no hit count:\n{output}")
                })[0];
                assert!(
                    hits >= bytes as f64,
                    "({config}) round {round}: {hits} hits, fewer than the workload's {bytes} reads"
                );
            }
            let time = field("time ")
                .unwrap_or_else(|| panic!("({config}) round {round} printed no time:\n{output}"));
            (time[1] - time[0]) / 1e9
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times
}
