//! Stress: a kprobe on a hot kernel function (`vfs_read`) with global and
//! array updates from both CPUs of a 2-CPU VM while two readers run, one
//! per CPU. The session must end cleanly, the module must unload, the
//! kernel log must stay clean, and the counts must agree: the counter,
//! the statistic's @count and the per-CPU array's sum are updated by the
//! same hits, and they cover at least the readers' own reads. A statistic
//! fed 0 on CPU 0 and 1000 on CPU 1 checks the merge of per-CPU parts: its
//! @avg and @variance must be those of the two CPUs' hits taken together.

use std::time::Duration;

use stap_pack_tests::vm::{boot, VmSpec};
use stap_pack_tests::{build_bundle, keygen, runner_guest, session_around_workload};

/// Bytes each reader copies one at a time: that many read(2) calls.
const READS_PER_READER: i64 = 10_000;
const SCRIPT: &str = "global hits, reads, by_cpu, by_name, spread\n\
    probe begin { println(\"ready\") }\n\
    probe kprobe.function(\"vfs_read\") {\n\
    \thits++\n\
    \treads <<< 1\n\
    \tby_cpu[cpu()]++\n\
    \tby_name[execname()]++\n\
    \tspread <<< cpu() * 1000\n\
    }\n\
    probe end {\n\
    \tsum = 0\n\
    \tforeach (c in by_cpu) sum += by_cpu[c]\n\
    \tprintf(\"hits %d count %d by_cpu %d cpus %d dd %d\\n\",\n\
    \t       hits, @count(reads), sum, (0 in by_cpu) && (1 in by_cpu), by_name[\"dd\"])\n\
    \tprintf(\"cpu0 %d cpu1 %d avg %d variance %d\\n\",\n\
    \t       by_cpu[0], by_cpu[1], @avg(spread), @variance(spread))\n\
    }\n";

#[test]
fn kprobe_under_load_on_6_1() {
    stress("6.1.0-56-cloud-amd64");
}

#[test]
fn kprobe_under_load_on_6_12() {
    stress("6.12.117+deb12-cloud-amd64");
}

fn stress(release: &str) {
    let Some(mut spec) = VmSpec::for_release(release) else {
        return;
    };
    spec.smp = 2;
    spec.timeout = Duration::from_secs(600);
    let dir = tempfile::tempdir().unwrap();
    keygen(dir.path());
    build_bundle(
        dir.path(),
        "stress",
        SCRIPT,
        &[
            "-D",
            "MAXSKIPPED=1000000",
            // dd bs=1 is little more than probe hits: the handlers take
            // about half the CPU time, SystemTap's overload threshold, and
            // overload protection has its own conformance cases.
            "-D",
            "STP_NO_OVERLOAD",
            "-r",
            release,
            "-m",
            "stress",
        ],
    );

    // Two concurrent readers: the scheduler spreads them over both CPUs.
    let reader = format!("dd if=/dev/zero of=/dev/null bs=1 count={READS_PER_READER} 2>/dev/null");
    let workload = format!("{reader} & a=$!; {reader} & b=$!; wait $a $b");
    let mut guest = runner_guest(dir.path(), &["stress"]);
    guest
        .step(
            "run",
            &session_around_workload("/stress.stpb", "/etc/k.pub", "/tmp/out", &workload),
        )
        .step("stdout", "cat /tmp/out")
        .step("stderr", "cat /tmp/out.err")
        .step(
            "unloaded",
            "test -e /sys/module/stress && echo loaded || echo unloaded",
        )
        .step(
            "kernel log",
            "dmesg | grep -E 'WARNING:|BUG:|Oops|general protection|refcount_t|soft lockup|detected stall' || true",
        );
    let vm = boot(&spec, &guest).unwrap_or_else(|e| panic!("{e}"));

    let stdout = &vm.step("stdout").output;
    let stderr = &vm.step("stderr").output;
    assert_eq!(
        vm.step("run").output.trim(),
        "runner status 0",
        "the session failed; stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(vm.step("unloaded").output, "unloaded\n");
    assert_eq!(
        vm.step("kernel log").output,
        "",
        "the kernel logged trouble"
    );
    let [hits, count, by_cpu, both_cpus, dd] =
        ["hits", "count", "by_cpu", "cpus", "dd"].map(|name| field(stdout, "hits ", name));
    assert_eq!(
        (count, by_cpu),
        (hits, hits),
        "the counter, @count and the per-CPU array's sum disagree:\n{stdout}"
    );
    assert_eq!(both_cpus, 1, "hits on one CPU only:\n{stdout}");
    // Under emulation a vCPU can be descheduled while it holds a global's
    // lock, so the other one may skip hits (MAXSKIPPED is raised for that):
    // the runner reports them, and they account for missing reads.
    let skipped: i64 = stderr
        .split_once(" probe hits skipped")
        .and_then(|(before, _)| before.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0);
    eprintln!("{release}: {hits} hits, {dd} from dd ({skipped} skipped)");

    // Merged across CPUs: the mean and the sample variance of n0 zeros and
    // n1 thousands, up to the integer rounding of the merge.
    let [n0, n1, avg, variance] =
        ["cpu0", "cpu1", "avg", "variance"].map(|name| field(stdout, "cpu0 ", name));
    let line = format!("cpu0 {n0} cpu1 {n1} avg {avg} variance {variance}");
    eprintln!("{release}: {line}");
    let n = n0 + n1;
    assert_eq!(avg, 1000 * n1 / n, "{line}");
    let exact = n0 * n1 * 1_000_000 / (n * (n - 1));
    assert!(
        (variance - exact).abs() <= exact / 100 + 1,
        "@variance {variance}, expected about {exact}: {line}"
    );
    assert!(
        dd + skipped >= 2 * READS_PER_READER && hits >= dd && dd > 0,
        "{dd} hits from dd of {} reads ({skipped} skipped), {hits} in all:\n{stdout}\n{stderr}",
        2 * READS_PER_READER
    );
}

/// The number after `name` on the output line starting with `start`
/// (lines of "name value name value ...").
fn field(stdout: &str, start: &str, name: &str) -> i64 {
    let line = stdout
        .lines()
        .find(|line| line.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting {start:?} in the output:\n{stdout}"));
    let words: Vec<&str> = line.split(' ').collect();
    words
        .chunks(2)
        .find(|pair| pair[0] == name)
        .and_then(|pair| pair.get(1)?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {line:?}"))
}
