//! Kprobes in a VM of each kernel, beyond what the conformance suite can
//! compare with SystemTap: a registration that fails part-way leaves no
//! probe registered and the next load works; `kprobe.module` on a real
//! module of the kernel's image package (loaded, then not loaded);
//! `print_backtrace()`'s line format; kretprobe misses reported;
//! `kprobe.statement(ADDR).absolute` at a function's address.

use std::path::{Path, PathBuf};
use std::process::Command;

use stap_pack_tests::vm::{boot, Guest, VmRun, VmSpec};
use stap_pack_tests::{build_bundle, keygen, runner_guest};

const KERNEL_6_1: &str = "6.1.0-56-cloud-amd64";
const KERNEL_6_12: &str = "6.12.117+deb12-cloud-amd64";
const SCRIPT_ERROR: &str = "8";

/// (bundle name, script): each is built for both kernels.
const SCRIPTS: &[(&str, &str)] = &[
    // Registers vfs_read, then fails on the second probe: nothing may stay.
    (
        "kp_missing",
        "probe begin { println(\"begin ran\") }\n\
         probe kprobe.function(\"vfs_read\") { }\n\
         probe kprobe.function(\"stap_pack_no_such_function\") { }\n",
    ),
    // get_kprobe is on the kprobe blacklist (NOKPROBE_SYMBOL).
    (
        "kp_blacklisted",
        "probe kprobe.function(\"vfs_read\").return { }\n\
         probe kprobe.function(\"get_kprobe\") { }\n",
    ),
    (
        "kp_good",
        "probe kprobe.function(\"vfs_read\") {\n\
         \tif (execname() != \"dd\") next\n\
         \tprint_backtrace()\n\
         \texit()\n\
         }\n",
    ),
    (
        "kp_module",
        "probe kprobe.module(\"tun\").function(\"tun_chr_open\") {\n\
         \tprintf(\"%s in %s\\n\", probefunc(), execname())\n\
         \texit()\n\
         }\n\
         probe kprobe.module(\"tun\").function(\"tun_chr_close\").return { }\n",
    ),
    // Two sleeps at once and room for one: the kernel misses a return.
    (
        "kp_missed",
        "global returns\n\
         probe kprobe.function(\"hrtimer_nanosleep\").return.maxactive(1) { returns++ }\n\
         probe end { printf(\"returns seen: %d\\n\", returns > 0) }\n",
    ),
];

fn build(dir: &Path) {
    keygen(dir);
    for (name, script) in SCRIPTS {
        build_bundle(
            dir,
            name,
            script,
            &["-r", KERNEL_6_1, "-r", KERNEL_6_12, "-j", "1"],
        );
    }
}

/// tun.ko of the kernel's image package, uncompressed (busybox insmod
/// takes plain modules; 6.12's are xz-compressed).
fn tun_module(release: &str) -> Vec<u8> {
    let base = PathBuf::from(format!("/lib/modules/{release}/kernel/drivers/net/tun.ko"));
    if base.exists() {
        return std::fs::read(&base).unwrap();
    }
    let compressed = base.with_extension("ko.xz");
    let output = Command::new("xz")
        .arg("-dc")
        .arg(&compressed)
        .output()
        .unwrap_or_else(|e| panic!("run xz: {e}"));
    assert!(
        output.status.success(),
        "cannot decompress {}",
        compressed.display()
    );
    output.stdout
}

/// A run step: the runner's stdout, stderr and status, in that order,
/// separated by marker lines.
fn run_step(guest: &mut Guest, name: &str, timeout: &str, bundle: &str) {
    guest.step(
        name,
        &format!(
            "stap-verify-run --trust /etc/k.pub --timeout {timeout} {bundle} >/tmp/o 2>/tmp/e; s=$?; \
             cat /tmp/o; echo '--- stderr'; cat /tmp/e; echo \"--- status $s\""
        ),
    );
}

struct Run<'a> {
    stdout: &'a str,
    stderr: &'a str,
    status: &'a str,
}

fn parse<'a>(vm: &'a VmRun, step: &str) -> Run<'a> {
    let output = &vm.step(step).output;
    let (stdout, rest) = output
        .split_once("--- stderr\n")
        .unwrap_or_else(|| panic!("step {step}: no stderr marker in {output:?}"));
    let (stderr, status) = rest
        .rsplit_once("--- status ")
        .unwrap_or_else(|| panic!("step {step}: no status in {output:?}"));
    Run {
        stdout,
        stderr,
        status: status.trim(),
    }
}

/// Our probes among the kernel's registered kprobes: the functions of
/// these scripts.
const OURS: &str = "vfs_read|get_kprobe|tun_chr_open|tun_chr_close|hrtimer_nanosleep";

fn kprobes(guest: &mut Guest, step: &str) {
    guest.step(
        step,
        &format!("grep -cE '{OURS}' /sys/kernel/debug/kprobes/list; true"),
    );
}

fn kprobes_on(release: &str) {
    let Some(mut spec) = VmSpec::for_release(release) else {
        return;
    };
    spec.smp = 2;
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let names: Vec<&str> = SCRIPTS.iter().map(|(name, _)| *name).collect();
    let mut guest = runner_guest(dir.path(), &names);
    guest.file("/tun.ko", tun_module(release), 0o644);
    guest.step("debugfs", "mount -t debugfs none /sys/kernel/debug");
    run_step(&mut guest, "missing", "20s", "/kp_missing.stpb");
    kprobes(&mut guest, "after missing");
    run_step(&mut guest, "blacklisted", "20s", "/kp_blacklisted.stpb");
    kprobes(&mut guest, "after blacklisted");
    guest.step(
        "workload",
        "(while :; do dd if=/proc/version of=/dev/null bs=64; cat /dev/net/tun; sleep 0.2; done) \
         >/dev/null 2>&1 &",
    );
    run_step(&mut guest, "good", "20s", "/kp_good.stpb");
    run_step(&mut guest, "module not loaded", "20s", "/kp_module.stpb");
    guest.step("insmod", "insmod /tun.ko");
    run_step(&mut guest, "module", "20s", "/kp_module.stpb");
    guest.step(
        "sleeps",
        "(while :; do sleep 1 & sleep 1; wait; done) >/dev/null 2>&1 &",
    );
    run_step(&mut guest, "missed", "4s", "/kp_missed.stpb");
    kprobes(&mut guest, "at the end");
    spec.timeout = std::time::Duration::from_secs(300);
    let vm = boot(&spec, &guest).unwrap_or_else(|e| panic!("{e}"));
    vm.step("debugfs").expect_status(0);

    let missing = parse(&vm, "missing");
    assert_eq!(missing.status, SCRIPT_ERROR, "{}", missing.stderr);
    assert!(
        missing.stderr.contains(&format!(
            "ERROR: kprobe.function(\"stap_pack_no_such_function\"): no such function in kernel {release}"
        )),
        "{}",
        missing.stderr
    );
    assert!(!missing.stdout.contains("begin ran"), "{}", missing.stdout);
    assert_eq!(vm.step("after missing").output.trim(), "0");

    let blacklisted = parse(&vm, "blacklisted");
    assert_eq!(blacklisted.status, SCRIPT_ERROR, "{}", blacklisted.stderr);
    assert!(
        blacklisted.stderr.contains(&format!(
            "ERROR: kprobe.function(\"get_kprobe\"): cannot be probed in kernel {release}"
        )),
        "{}",
        blacklisted.stderr
    );
    assert_eq!(vm.step("after blacklisted").output.trim(), "0");

    // A load after the failures works; print_backtrace() prints SystemTap's
    // " 0xADDRESS : symbol+0xOFF/0xSIZE [kernel]" lines, innermost first.
    let good = parse(&vm, "good");
    assert_eq!(good.status, "0", "{}", good.stderr);
    let lines: Vec<&str> = good.stdout.lines().collect();
    assert!(
        lines.len() >= 3,
        "a short backtrace: {:?}; stderr: {}",
        good.stdout,
        good.stderr
    );
    assert!(
        lines[0].contains(" : vfs_read+0x") && lines[0].ends_with(" [kernel]"),
        "{}",
        good.stdout
    );
    for line in &lines {
        let (address, symbol) = line
            .strip_prefix(" 0x")
            .and_then(|l| l.split_once(" : "))
            .unwrap_or_else(|| panic!("not a backtrace line: {line:?}"));
        assert!(u64::from_str_radix(address, 16).is_ok(), "{line:?}");
        assert!(symbol.contains("+0x") && symbol.contains('/'), "{line:?}");
    }

    let not_loaded = parse(&vm, "module not loaded");
    assert_eq!(not_loaded.status, SCRIPT_ERROR, "{}", not_loaded.stderr);
    assert!(
        not_loaded
            .stderr
            .contains("no function tun_chr_open in module tun (is the module loaded?)"),
        "{}",
        not_loaded.stderr
    );
    vm.step("insmod").expect_status(0);
    let module = parse(&vm, "module");
    assert_eq!(module.status, "0", "{}", module.stderr);
    assert_eq!(module.stdout, "tun_chr_open in cat\n");

    let missed = parse(&vm, "missed");
    assert_eq!(missed.stdout, "returns seen: 1\n", "{}", missed.stderr);
    assert!(
        missed.stderr.contains(
            "WARNING: Skipped due to missed kretprobe on 'kprobe.function(\"hrtimer_nanosleep\").return.maxactive(1)': "
        ),
        "{}",
        missed.stderr
    );
    assert_eq!(vm.step("at the end").output.trim(), "0");
}

/// `kprobe.statement(ADDR).absolute` (guru mode) at `vfs_read`'s address.
/// Booted with `nokaslr`, the kernel is where it was linked: the address a
/// first boot reads from /proc/kallsyms holds in the second.
fn statement_absolute_on(release: &str) {
    let Some(mut spec) = VmSpec::for_release(release) else {
        return;
    };
    spec.kernel_args.push("nokaslr".to_string());
    let mut lookup = Guest::new();
    lookup.step("address", "grep ' vfs_read$' /proc/kallsyms");
    let vm = boot(&spec, &lookup).unwrap_or_else(|e| panic!("{e}"));
    let symbol = &vm.step("address").expect_status(0).output;
    let address = symbol.split(' ').next().unwrap_or_default();
    assert!(
        u64::from_str_radix(address, 16).is_ok_and(|a| a != 0),
        "no address for vfs_read in /proc/kallsyms: {symbol:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    keygen(dir.path());
    let script = format!(
        "probe kprobe.statement(0x{address}).absolute {{\n\
         \tif (execname() != \"dd\") next\n\
         \tprintf(\"%s %s\\n\", pp(), probefunc())\n\
         \texit()\n\
         }}\n"
    );
    build_bundle(dir.path(), "kp_absolute", &script, &["-g", "-r", release]);
    let mut guest = runner_guest(dir.path(), &["kp_absolute"]);
    guest.step(
        "workload",
        "(while :; do dd if=/proc/version of=/dev/null bs=64; sleep 0.2; done) \
             >/dev/null 2>&1 &",
    );
    run_step(&mut guest, "absolute", "20s", "/kp_absolute.stpb");
    let vm = boot(&spec, &guest).unwrap_or_else(|e| panic!("{e}"));
    let absolute = parse(&vm, "absolute");
    assert_eq!(absolute.status, "0", "{}", absolute.stderr);
    assert_eq!(
        absolute.stdout,
        format!("kprobe.statement(0x{address}).absolute vfs_read\n"),
        "{}",
        absolute.stderr
    );
}

#[test]
fn statement_absolute_on_6_1() {
    statement_absolute_on(KERNEL_6_1);
}

#[test]
fn statement_absolute_on_6_12() {
    statement_absolute_on(KERNEL_6_12);
}

#[test]
fn kprobes_on_6_1() {
    kprobes_on(KERNEL_6_1);
}

#[test]
fn kprobes_on_6_12() {
    kprobes_on(KERNEL_6_12);
}
