//! The runtime conformance suite: every script in `tests/conformance/` is
//! built into a signed bundle with `stap-pack build` (one bundle holding the
//! modules for both kernels), run by `stap-verify-run` in one VM per kernel,
//! and its exit status, stdout and stderr compared with what SystemTap
//! prints. The file formats are described in `tests/conformance/README.md`.
//!
//! Every mismatch of every script is reported, then a summary line per
//! kernel. `STAP_PACK_CONFORMANCE_FILTER=SUBSTRING` runs only the scripts
//! whose names contain it.
//!
//! `regenerate_expected_with_systemtap` (ignored; run it by name with
//! `--ignored`) rewrites the `.expected` files from real SystemTap runs:
//! see the README.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use stap_pack_tests::vm::{boot, Guest, VmRun, VmSpec};
use stap_pack_tests::{bin, workspace_root};

const KERNEL_6_1: &str = "6.1.0-56-cloud-amd64";
const KERNEL_6_12: &str = "6.12.117+deb12-cloud-amd64";
/// The guests have two CPUs: scripts check `cpu()` against that.
const GUEST_CPUS: u32 = 2;
/// A script that never exits is stopped by the runner (then its stderr
/// shows the time limit note and the case fails) rather than hanging the VM.
const PER_SCRIPT_TIMEOUT: &str = "30s";
/// How much of a failed build's stderr a report shows.
const BUILD_ERROR_LINES: usize = 30;

// ---------------------------------------------------------------------------
// The cases: tests/conformance/<name>.{stp,expected,status,stderr,...}

/// What stderr must hold.
#[derive(Debug, Clone, PartialEq)]
enum StderrExpectation {
    /// No `.stderr` file: nothing at all.
    Empty,
    /// `<name>.stderr`: exactly this text.
    Exact(String),
    /// `<name>.stderr-contains`: each line, in this order, somewhere in it.
    Contains(Vec<String>),
}

#[derive(Debug, Clone)]
struct Case {
    name: String,
    script: PathBuf,
    /// `-D NAME=VALUE` lines of `<name>.args`: build-time macros.
    defines: Vec<String>,
    /// `NAME=VALUE` lines of `<name>.args`: runner parameters.
    params: Vec<String>,
    /// `<name>.workload`: a shell command the guest runs over and over
    /// while the script runs, for probes that need kernel activity.
    workload: Option<String>,
    stdout: String,
    stderr: StderrExpectation,
    status: i32,
    /// The script has a `// oracle: skip (why)` line: its expected output is
    /// written by hand because stap-pack differs from SystemTap on purpose.
    oracle_skip: bool,
}

impl Case {
    /// The kernel module name, which also names the bundle.
    fn module(&self) -> String {
        format!("c_{}", self.name)
    }
}

fn conformance_dir() -> PathBuf {
    workspace_root().join("tests/conformance")
}

/// Every case, sorted by name; panics on a malformed suite (an orphan file,
/// a bad `.args` line, an unreadable status).
fn load_cases() -> Vec<Case> {
    let dir = conformance_dir();
    let mut names = BTreeMap::new();
    let mut orphans = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("read tests/conformance") {
        let file_name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(name) = file_name.strip_suffix(".stp") {
            names.insert(name.to_string(), ());
        }
    }
    for entry in std::fs::read_dir(&dir).unwrap() {
        let file_name = entry.unwrap().file_name().into_string().unwrap();
        let Some((stem, extension)) = file_name.split_once('.') else {
            continue;
        };
        let known = matches!(
            extension,
            "stp" | "expected" | "status" | "stderr" | "stderr-contains" | "args" | "workload"
        );
        if known && !names.contains_key(stem) {
            orphans.push(file_name);
        }
    }
    assert!(
        orphans.is_empty(),
        "files in tests/conformance without a script: {orphans:?}"
    );

    names
        .into_keys()
        .map(|name| {
            let read = |extension: &str| {
                std::fs::read_to_string(dir.join(format!("{name}.{extension}"))).ok()
            };
            let script = dir.join(format!("{name}.stp"));
            let text = std::fs::read_to_string(&script).unwrap();
            let stdout =
                read("expected").unwrap_or_else(|| panic!("{name}.stp has no {name}.expected"));
            let status = read("status").map_or(0, |text| {
                text.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}.status: {text:?} is not a number"))
            });
            let stderr = match (read("stderr"), read("stderr-contains")) {
                (Some(_), Some(_)) => panic!("{name} has both .stderr and .stderr-contains"),
                (Some(exact), None) => StderrExpectation::Exact(exact),
                (None, Some(lines)) => StderrExpectation::Contains(
                    lines
                        .lines()
                        .filter(|l| !l.is_empty())
                        .map(String::from)
                        .collect(),
                ),
                (None, None) => StderrExpectation::Empty,
            };
            let (defines, params) = parse_args(&name, &read("args").unwrap_or_default());
            let workload = read("workload")
                .map(|text| text.trim().to_string())
                .filter(|text| !text.is_empty());
            Case {
                oracle_skip: text
                    .lines()
                    .any(|l| l.trim_start().starts_with("// oracle: skip")),
                name,
                script,
                defines,
                params,
                workload,
                stdout,
                stderr,
                status,
            }
        })
        .collect()
}

/// `.args`: one item a line; `#` comments and blank lines are ignored;
/// `-D NAME=VALUE` is a build define, `NAME=VALUE` a runner parameter.
fn parse_args(name: &str, text: &str) -> (Vec<String>, Vec<String>) {
    let mut defines = Vec::new();
    let mut params = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (list, item) = match line.strip_prefix("-D") {
            Some(define) => (&mut defines, define.trim()),
            None => (&mut params, line),
        };
        let valid = item.split_once('=').is_some_and(|(key, _)| {
            !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        assert!(
            valid,
            "{name}.args: {line:?} is not NAME=VALUE or -D NAME=VALUE"
        );
        list.push(item.to_string());
    }
    (defines, params)
}

/// Only the cases `STAP_PACK_CONFORMANCE_FILTER` selects (all by default).
fn selected_cases() -> Vec<Case> {
    let filter = std::env::var("STAP_PACK_CONFORMANCE_FILTER").unwrap_or_default();
    load_cases()
        .into_iter()
        .filter(|case| case.name.contains(&filter))
        .collect()
}

/// What one run produced.
struct Outcome {
    status: i32,
    stdout: String,
    stderr: String,
}

/// Every difference between a run and its case, each a readable paragraph.
fn mismatches(case: &Case, outcome: &Outcome) -> Vec<String> {
    let mut found = Vec::new();
    if outcome.status != case.status {
        found.push(format!(
            "exit status {} (expected {})",
            outcome.status, case.status
        ));
    }
    if outcome.stdout != case.stdout {
        found.push(format!(
            "stdout differs (- expected, + actual):\n{}",
            line_diff(&case.stdout, &outcome.stdout)
        ));
    }
    match &case.stderr {
        StderrExpectation::Empty if !outcome.stderr.is_empty() => found.push(format!(
            "stderr should be empty; it is:\n{}",
            indent(&outcome.stderr)
        )),
        StderrExpectation::Exact(expected) if *expected != outcome.stderr => found.push(format!(
            "stderr differs (- expected, + actual):\n{}",
            line_diff(expected, &outcome.stderr)
        )),
        StderrExpectation::Contains(lines) => {
            let mut rest = outcome.stderr.as_str();
            for line in lines {
                match rest.find(line.as_str()) {
                    Some(at) => rest = &rest[at + line.len()..],
                    None => {
                        found.push(format!(
                            "stderr lacks {line:?} (in order); it is:\n{}",
                            indent(&outcome.stderr)
                        ));
                        break;
                    }
                }
            }
        }
        _ => {}
    }
    found
}

fn indent(text: &str) -> String {
    if text.is_empty() {
        return "    (empty)\n".to_string();
    }
    text.lines().map(|line| format!("    {line}\n")).collect()
}

/// A unified-style line diff (longest common subsequence; the outputs are
/// small). A missing final newline shows as its own marker line.
fn line_diff(expected: &str, actual: &str) -> String {
    let split = |text: &str| -> Vec<String> {
        let mut lines: Vec<String> = text.split_inclusive('\n').map(String::from).collect();
        if let Some(last) = lines.last_mut() {
            if !last.ends_with('\n') {
                last.push_str("⏎(no newline at end)");
            }
        }
        lines
    };
    let (a, b) = (split(expected), split(actual));
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    let mut push = |mark: char, line: &str| {
        out.push_str(&format!("    {mark} {}\n", line.trim_end_matches('\n')));
    };
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            push(' ', &a[i]);
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            push('-', &a[i]);
            i += 1;
        } else {
            push('+', &b[j]);
            j += 1;
        }
    }
    out
}

/// Quotes a word for the guest's `sh`.
fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

// ---------------------------------------------------------------------------
// Host-side checks: no VM, no compiler.

/// The suite's shape: enough scripts, each with what the runner needs.
#[test]
fn suite_is_complete() {
    let cases = load_cases();
    assert!(
        cases.len() >= 40,
        "the suite has {} scripts; it promises at least 40",
        cases.len()
    );
    for case in &cases {
        assert!(
            case.module().len() <= 55
                && case
                    .module()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{}: script names become module names: [a-z0-9_], at most 53 characters",
            case.name
        );
        if case.status != 0 {
            assert!(
                case.stderr != StderrExpectation::Empty,
                "{}: a failing script must say what its stderr shows",
                case.name
            );
        }
    }
}

/// The diff helper marks exactly the changed lines.
#[test]
fn line_diff_marks_changes() {
    assert_eq!(
        line_diff("a\nb\nc\n", "a\nx\nc"),
        "      a\n    - b\n    - c\n    + x\n    + c⏎(no newline at end)\n"
    );
}

/// Every script passes stap-pack's front end (parse and elaborate): quick
/// feedback that needs neither a compiler nor a VM.
#[test]
fn every_script_passes_the_front_end() {
    let stap_pack = bin("stap-pack");
    let mut failures = Vec::new();
    let cases = selected_cases();
    for case in &cases {
        let mut command = Command::new(&stap_pack);
        // For a suite kernel: syscall.NAME comes from its syscall table.
        command.args(["check", "-p2", "-r", KERNEL_6_1]);
        for define in &case.defines {
            command.arg("-D").arg(define);
        }
        let output = command
            .arg(&case.script)
            .output()
            .expect("run stap-pack check");
        if !output.status.success() {
            failures.push(format!(
                "{}: stap-pack check -p2 failed:\n{}",
                case.name,
                indent(&String::from_utf8_lossy(&output.stderr))
            ));
        }
    }
    eprintln!(
        "front end: {} passed, {} failed",
        cases.len() - failures.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------
// Building the bundles: once per test process, shared by both kernels.

struct Bundles {
    dir: tempfile::TempDir,
    /// Cases whose build failed, with the reason; they count as failures.
    failed: BTreeMap<String, String>,
}

impl Bundles {
    fn public_key(&self) -> PathBuf {
        self.dir.path().join("k.pub")
    }

    fn bundle(&self, case: &Case) -> PathBuf {
        self.dir.path().join(format!("{}.stpb", case.name))
    }
}

fn build_available(stap_pack: &Path) -> bool {
    Command::new(stap_pack)
        .args(["build", "--help"])
        .output()
        .is_ok_and(|output| output.status.success())
}

/// Builds every selected case's bundle for both kernels, a few at a time
/// (`STAP_PACK_CONFORMANCE_JOBS`, default 2: Kbuild is CPU bound).
fn bundles() -> &'static Bundles {
    static BUNDLES: OnceLock<Bundles> = OnceLock::new();
    BUNDLES.get_or_init(|| {
        let stap_pack = bin("stap-pack");
        assert!(
            build_available(&stap_pack),
            "stap-pack build is not available: `stap-pack build --help` failed, \
             so the conformance suite cannot build its bundles"
        );
        let dir = tempfile::tempdir().unwrap();
        let keygen = Command::new(&stap_pack)
            .args(["keygen", "--out"])
            .arg(dir.path().join("k"))
            .output()
            .unwrap();
        assert!(keygen.status.success(), "stap-pack keygen failed");

        let cases = selected_cases();
        let jobs: usize = std::env::var("STAP_PACK_CONFORMANCE_JOBS")
            .ok()
            .and_then(|jobs| jobs.parse().ok())
            .unwrap_or(2);
        let started = Instant::now();
        let next = Mutex::new(cases.iter());
        let failed = Mutex::new(BTreeMap::new());
        std::thread::scope(|scope| {
            for _ in 0..jobs.max(1) {
                scope.spawn(|| loop {
                    let Some(case) = next.lock().unwrap().next() else {
                        break;
                    };
                    if let Err(reason) = build_bundle(&stap_pack, dir.path(), case) {
                        failed.lock().unwrap().insert(case.name.clone(), reason);
                    }
                });
            }
        });
        eprintln!(
            "conformance: built {} bundles ({} jobs) in {:.1?}",
            cases.len(),
            jobs,
            started.elapsed()
        );
        Bundles {
            dir,
            failed: failed.into_inner().unwrap(),
        }
    })
}

fn build_bundle(stap_pack: &Path, dir: &Path, case: &Case) -> Result<(), String> {
    let mut command = Command::new(stap_pack);
    command
        .arg("build")
        .arg(&case.script)
        .args(["-r", KERNEL_6_1, "-r", KERNEL_6_12])
        .args(["-m", &case.module(), "--name", &case.module()])
        .args(["--version", "1.0.0", "-j", "1", "--key"])
        .arg(dir.join("k.key"))
        .arg("-o")
        .arg(dir.join(format!("{}.stpb", case.name)));
    for define in &case.defines {
        command.arg("-D").arg(define);
    }
    let output = command
        .output()
        .map_err(|e| format!("run stap-pack build: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        // The first lines say why; a long list of errors would bury the
        // other cases' reports.
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        let mut shown = lines[..lines.len().min(BUILD_ERROR_LINES)].join("\n");
        if lines.len() > BUILD_ERROR_LINES {
            shown.push_str(&format!(
                "\n... ({} more lines)",
                lines.len() - BUILD_ERROR_LINES
            ));
        }
        Err(format!(
            "stap-pack build failed (status {}):\n{}",
            output.status.code().unwrap_or(-1),
            indent(&shown)
        ))
    }
}

// ---------------------------------------------------------------------------
// Running in the guest.

/// Adds the three steps of one case: the run (its output is the exit
/// status), then its stdout and its stderr.
fn add_run_steps(guest: &mut Guest, case: &Case, command: &str) {
    let out = format!("/tmp/{}.out", case.name);
    let err = format!("/tmp/{}.err", case.name);
    let run = match &case.workload {
        None => format!("{command} >{out} 2>{err}; echo $?"),
        Some(workload) => format!(
            "(while :; do {workload}; done) >/dev/null 2>&1 & w=$!; \
             {command} >{out} 2>{err}; s=$?; kill $w; wait $w 2>/dev/null; echo $s"
        ),
    };
    guest
        .step(&format!("{} run", case.name), &run)
        .step(&format!("{} stdout", case.name), &format!("cat {out}"))
        .step(&format!("{} stderr", case.name), &format!("cat {err}"));
}

fn outcome(vm: &VmRun, case: &Case) -> Result<Outcome, String> {
    let run = vm.step(&format!("{} run", case.name));
    let status = run
        .output
        .trim()
        .parse()
        .map_err(|_| format!("the run step printed {:?}, not a status", run.output))?;
    Ok(Outcome {
        status,
        stdout: vm.step(&format!("{} stdout", case.name)).output.clone(),
        stderr: vm.step(&format!("{} stderr", case.name)).output.clone(),
    })
}

fn runner_command(case: &Case) -> String {
    let mut command = format!(
        "stap-verify-run -q --trust /etc/k.pub --timeout {PER_SCRIPT_TIMEOUT} /bundles/{}.stpb",
        case.name
    );
    for param in &case.params {
        command.push(' ');
        command.push_str(&shell_quote(param));
    }
    command
}

fn conformance(release: &str) {
    let Some(mut spec) = VmSpec::for_release(release) else {
        return;
    };
    spec.smp = GUEST_CPUS;
    let cases = selected_cases();
    // Each script loads a module and runs for well under a second of guest
    // time, except the timer scripts; TCG is slow: allow generously.
    spec.timeout = Duration::from_secs(120 + 10 * cases.len() as u64);
    let bundles = bundles();

    let mut guest = Guest::new();
    guest
        .host_binary(&bin("stap-verify-run"), "/usr/bin/stap-verify-run")
        .file(
            "/etc/k.pub",
            std::fs::read(bundles.public_key()).unwrap(),
            0o644,
        );
    let runnable: Vec<&Case> = cases
        .iter()
        .filter(|case| !bundles.failed.contains_key(&case.name))
        .collect();
    for case in &runnable {
        guest.file(
            &format!("/bundles/{}.stpb", case.name),
            std::fs::read(bundles.bundle(case)).unwrap(),
            0o644,
        );
        add_run_steps(&mut guest, case, &runner_command(case));
    }
    guest.step("kernel log", "dmesg");

    let vm = boot(&spec, &guest).unwrap_or_else(|e| panic!("{release}: {e}"));
    eprintln!(
        "{release}: booted in {:.1?}, {} scripts done in {:.1?}",
        vm.boot_time,
        runnable.len(),
        vm.total_time
    );

    let mut report = String::new();
    let mut failed = 0;
    for case in &cases {
        let problems = match bundles.failed.get(&case.name) {
            Some(reason) => vec![reason.clone()],
            None => match outcome(&vm, case) {
                Ok(outcome) => mismatches(case, &outcome),
                Err(reason) => vec![reason],
            },
        };
        if !problems.is_empty() {
            failed += 1;
            report.push_str(&format!("--- {} on {release}:\n", case.name));
            for problem in problems {
                report.push_str(&format!("  {problem}\n"));
            }
        }
    }
    let log = &vm.step("kernel log").output;
    for bad in [
        "BUG:",
        "Oops",
        "general protection",
        "WARNING:",
        "refcount_t",
    ] {
        if log.contains(bad) {
            report.push_str(&format!(
                "--- kernel log on {release} shows {bad}:\n{}",
                indent(log)
            ));
            break;
        }
    }
    let summary = format!(
        "conformance: {} passed, {failed} failed on {release}",
        cases.len() - failed
    );
    eprintln!("{report}{summary}");
    assert!(report.is_empty(), "{report}{summary}");
}

#[test]
fn conformance_on_6_1() {
    conformance(KERNEL_6_1);
}

#[test]
fn conformance_on_6_12() {
    conformance(KERNEL_6_12);
}

// ---------------------------------------------------------------------------
// The oracle: real SystemTap (Debian's 4.8) compiles each script and staprun
// runs it in a VM. Dev-time only (it rewrites files in the source tree).

/// A kernel Debian's SystemTap 4.8 can build for (with the runtime patch in
/// `patched_systemtap_runtime`): 6.1.0-56 and 6.12.117 fail at pass 4.
const ORACLE_KERNEL: &str = "6.1.0-55-cloud-amd64";
const SYSTEMTAP_RUNTIME: &str = "/usr/share/systemtap/runtime";
const STAPIO: &str = "/usr/lib/systemtap/stapio";

/// SystemTap's runtime with one fix: Debian's 6.1.0-55 backported the
/// kernel's change of `task_work_cancel` (now takes a callback_head and
/// returns bool; the old behaviour is `task_work_cancel_func`).
fn patched_systemtap_runtime(into: &Path) {
    let status = Command::new("cp")
        .args(["-r", SYSTEMTAP_RUNTIME])
        .arg(into)
        .status()
        .unwrap();
    assert!(status.success(), "copy {SYSTEMTAP_RUNTIME}");
    let file = into.join("stp_task_work.c");
    let text = std::fs::read_to_string(&file).unwrap();
    let patched = text
        .replace(
            "typedef typeof(&task_work_cancel) task_work_cancel_fn;",
            "typedef typeof(&task_work_cancel_func) task_work_cancel_fn;",
        )
        .replace(
            "kallsyms_lookup_name(\"task_work_cancel\")",
            "kallsyms_lookup_name(\"task_work_cancel_func\")",
        );
    std::fs::write(&file, patched).unwrap();
}

/// The kernel functions the cases probe by name (`function("NAME")`).
fn probed_functions(cases: &[Case]) -> Vec<String> {
    let mut names: Vec<String> = cases
        .iter()
        .flat_map(|case| {
            let text = std::fs::read_to_string(&case.script).unwrap();
            text.split("function(\"")
                .skip(1)
                .filter_map(|rest| rest.split_once('"').map(|(name, _)| name.to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// SystemTap resolves `kprobe.function` names in the build tree's
/// System.map, which Debian ships only in the kernel's -dbg package. The
/// oracle makes a build tree of links to the real one plus a System.map
/// read from the oracle kernel's /proc/kallsyms in a VM: the probed
/// functions and the text bounds SystemTap relocates by. Returns what to
/// pass as `stap -r`.
fn oracle_build_tree(spec: &VmSpec, work: &Path, cases: &[Case]) -> String {
    let names = probed_functions(cases);
    if names.is_empty() {
        return ORACLE_KERNEL.to_string();
    }
    let mut wanted = vec![
        "_stext".to_string(),
        "_etext".to_string(),
        "_text".to_string(),
    ];
    wanted.extend(names);
    let mut guest = Guest::new();
    guest.step(
        "symbols",
        &format!("grep -E ' [tT] ({})$' /proc/kallsyms", wanted.join("|")),
    );
    let vm = boot(spec, &guest).unwrap_or_else(|e| panic!("{e}"));
    let symbols = &vm.step("symbols").output;
    let tree = work.join("build");
    std::fs::create_dir_all(&tree).unwrap();
    let real = PathBuf::from(format!("/lib/modules/{ORACLE_KERNEL}/build"));
    for entry in std::fs::read_dir(&real).unwrap() {
        let entry = entry.unwrap();
        std::os::unix::fs::symlink(entry.path(), tree.join(entry.file_name())).unwrap();
    }
    std::fs::write(tree.join("System.map"), symbols).unwrap();
    tree.display().to_string()
}

fn compile_with_systemtap(
    runtime: &Path,
    build_tree: &str,
    out: &Path,
    case: &Case,
) -> Result<PathBuf, String> {
    let mut command = Command::new("stap");
    command
        .arg("-R")
        .arg(runtime)
        .args(["-r", build_tree, "-p4", "-m", &case.module()]);
    for define in &case.defines {
        command.arg("-D").arg(define);
    }
    let output = command
        .arg(&case.script)
        .current_dir(out)
        .output()
        .map_err(|e| format!("run stap: {e}"))?;
    let module = out.join(format!("{}.ko", case.module()));
    if output.status.success() && module.exists() {
        Ok(module)
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// Rewrites every `.expected` (except `// oracle: skip` scripts) and
/// `.status` from SystemTap's runs, and reports stderr that does not meet
/// the case's stderr expectation, for a person to judge: SystemTap's error
/// texts name the location differently, so those files are written by hand.
#[test]
#[ignore = "dev-time: needs SystemTap, the oracle kernel, and rewrites tests/conformance"]
fn regenerate_expected_with_systemtap() {
    let spec = VmSpec::for_release(ORACLE_KERNEL).expect("the oracle kernel's image");
    let cases = selected_cases();
    let work = workspace_root().join("target/conformance-oracle");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let runtime = work.join("runtime");
    patched_systemtap_runtime(&runtime);
    let mut spec = spec;
    spec.smp = GUEST_CPUS;
    let build_tree = oracle_build_tree(&spec, &work, &cases);

    let next = Mutex::new(cases.iter());
    let compiled = Mutex::new(BTreeMap::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let Some(case) = next.lock().unwrap().next() else {
                    break;
                };
                let result = compile_with_systemtap(&runtime, &build_tree, &work, case);
                compiled.lock().unwrap().insert(case.name.clone(), result);
            });
        }
    });
    let compiled = compiled.into_inner().unwrap();

    let mut guest = Guest::new();
    guest
        .host_binary(Path::new("/usr/bin/staprun"), "/usr/bin/staprun")
        .host_binary(Path::new(STAPIO), STAPIO);
    for case in &cases {
        match &compiled[&case.name] {
            Ok(module) => {
                let guest_module = format!("/modules/{}.ko", case.module());
                guest.file(&guest_module, std::fs::read(module).unwrap(), 0o644);
                let mut command = format!("staprun {guest_module}");
                for param in &case.params {
                    command.push(' ');
                    command.push_str(&shell_quote(param));
                }
                add_run_steps(&mut guest, case, &command);
            }
            Err(stderr) => eprintln!("--- {}: SystemTap could not build it:\n{stderr}", case.name),
        }
    }
    spec.timeout = Duration::from_secs(120 + 10 * cases.len() as u64);
    let vm = boot(&spec, &guest).unwrap_or_else(|e| panic!("{e}"));

    let dir = conformance_dir();
    for case in &cases {
        if compiled[&case.name].is_err() {
            continue;
        }
        let mut outcome = outcome(&vm, case).unwrap();
        // staprun's own status is 1 for any failure; stap-verify-run says 8
        // when the script ended with an error.
        let failed = outcome.status != 0 || outcome.stderr.contains("ERROR:");
        outcome.status = if failed { 8 } else { 0 };
        eprintln!(
            "=== {}: status {}\n{}--- stderr:\n{}",
            case.name, outcome.status, outcome.stdout, outcome.stderr
        );
        if case.oracle_skip {
            let problems = mismatches(case, &outcome);
            if !problems.is_empty() {
                eprintln!(
                    "(kept, hand-written) {}: {}",
                    case.name,
                    problems.join("\n")
                );
            }
            continue;
        }
        std::fs::write(dir.join(format!("{}.expected", case.name)), &outcome.stdout).unwrap();
        let status_file = dir.join(format!("{}.status", case.name));
        if outcome.status == 0 {
            let _ = std::fs::remove_file(&status_file);
        } else {
            std::fs::write(&status_file, format!("{}\n", outcome.status)).unwrap();
        }
        let stderr_problems: Vec<String> = mismatches(
            &Case {
                stdout: outcome.stdout.clone(),
                status: outcome.status,
                ..case.clone()
            },
            &outcome,
        );
        if !stderr_problems.is_empty() {
            eprintln!("CHECK {}: {}", case.name, stderr_problems.join("\n"));
        }
    }
}
