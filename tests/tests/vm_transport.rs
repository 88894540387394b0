//! The module ↔ runner transport and lifecycle on real kernels: the
//! hand-written demo module (tests/modules/transport_demo, built with the C
//! runtime by stap-kbuild) is bundled, signed, and run by stap-verify-run in
//! a VM, through exit(), module parameters, a script error, -o FILE, a
//! time limit, SIGINT, a second runner, a second opener of the control file,
//! a forced stop, a killed runner, and a setuid-root runner used by a
//! member of stapusr under a policy with a time limit.

use std::path::Path;

use stap_kbuild::{build_module, find_build_dir, ModuleSources};
use stap_pack_tests::vm::{boot, Guest, VmSpec};
use stap_pack_tests::{bin, run, workspace_root};

const MODULE: &str = "transport_demo";
const RUN: &str = "stap-verify-run -q --trust /etc/k.pub /b.stpb";
const SCRIPT_ERROR: i32 = 8;
const RUN_FAILED: i32 = 7;
const FORCED: i32 = 9;

#[test]
fn transport_on_6_1() {
    transport("6.1.0-56-cloud-amd64");
}

#[test]
fn transport_on_6_12() {
    transport("6.12.117+deb12-cloud-amd64");
}

/// Waits (up to a minute) until a background run has printed `tick 3`.
fn wait_for_ticks(file: &str) -> String {
    format!(
        "i=0; while ! grep -qs 'tick 3' {file}; do i=$((i+1)); [ $i -gt 600 ] && break; sleep 0.1; done"
    )
}

/// A foreground run of the demo bundle with these arguments.
fn scenario(guest: &mut Guest, name: &str, args: &str) {
    guest.command(name, &format!("{RUN} {args}"));
}

fn ticks(range: std::ops::RangeInclusive<u32>) -> String {
    range.map(|i| format!("tick {i}\n")).collect()
}

fn transport(release: &str) {
    let Some(mut spec) = VmSpec::for_release(release) else {
        return;
    };
    // Two CPUs: messages come from both CPUs' buffers.
    spec.smp = 2;
    let Some(build_dir) = find_build_dir(release) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "headers for {release} are missing"
        );
        return;
    };
    let host = tempfile::tempdir().unwrap();
    let ko = build_demo(&build_dir, host.path());
    signed_bundle(host.path(), release, &ko);

    let mut guest = Guest::new();
    guest
        .file(
            "/etc/k.pub",
            std::fs::read(host.path().join("k.pub")).unwrap(),
            0o644,
        )
        .file(
            "/b.stpb",
            std::fs::read(host.path().join("b.stpb")).unwrap(),
            0o644,
        )
        .host_binary(&bin("stap-verify-run"), "/usr/bin/stap-verify-run")
        // As packaged: setuid root, for members of stapusr.
        .file(
            "/usr/bin/stap-verify-run-setuid",
            std::fs::read(bin("stap-verify-run")).unwrap(),
            0o4755,
        )
        .file(
            "/etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:alice:/tmp:/bin/sh\n".to_vec(),
            0o644,
        )
        .file(
            "/etc/group",
            b"root:x:0:\nalice:x:1000:\nstapusr:x:900:alice\n".to_vec(),
            0o644,
        )
        .file(
            "/etc/stap-pack/trusted.d/k.pub",
            std::fs::read(host.path().join("k.pub")).unwrap(),
            0o644,
        )
        .file(
            "/etc/stap-pack/policy.toml",
            b"[[rule]]\nname = \"demo\"\ngroups = [\"stapusr\"]\n\
              bundles = [\"transport-demo\"]\nmax_duration = \"2s\"\n\
              [rule.parameters.count]\nmin = 1\n"
                .to_vec(),
            0o644,
        );
    scenario(&mut guest, "exit", "count=5");
    scenario(&mut guest, "count", "count=2");
    scenario(&mut guest, "defaults", "");
    scenario(&mut guest, "error", "fail=1");
    scenario(&mut guest, "output file", "-o /tmp/o.txt count=3");
    guest.step("output file contents", "cat /tmp/o.txt");
    scenario(&mut guest, "timeout", "--timeout 1s count=1000000");
    // Nobody reads while begin probes run: 10000 lines overflow the buffer.
    scenario(&mut guest, "overflow", "count=1 burst=10000");
    guest
        .step(
            "interrupt",
            &format!(
                "{RUN} count=1000000 >/tmp/int.out 2>/tmp/int.err &\n\
                 pid=$!\n\
                 {wait}\n\
                 {RUN} >/dev/null 2>/tmp/second.err; echo \"second run: $?\"\n\
                 cat /proc/stap_pack_{MODULE}/ctl 2>/tmp/open.err; echo \"second open: $?\"\n\
                 kill -INT $pid; wait $pid; echo \"status: $?\"\n\
                 test -e /sys/module/{MODULE} && echo loaded || echo unloaded",
                wait = wait_for_ticks("/tmp/int.out"),
            ),
        )
        .step("interrupt stdout", "cat /tmp/int.out")
        .step("interrupt stderr", "cat /tmp/int.err")
        .step("second run stderr", "cat /tmp/second.err")
        .step("second open stderr", "cat /tmp/open.err")
        .step(
            // A shell's background job starts with SIGINT ignored, and an
            // ignored signal is discarded when sent, unless it is blocked
            // (the runner blocks its stop signals before loading).
            // Were it lost, the run would go on: give it 30 s.
            "interrupt when started ignoring SIGINT",
            &format!(
                "(trap '' INT; exec {RUN} count=1000000 >/tmp/ign.out 2>/tmp/ign.err) &\n\
                 pid=$!\n\
                 {wait}\n\
                 kill -INT $pid\n\
                 i=0; while [ $i -lt 300 ] && grep -qs '^State:.[^Z]' /proc/$pid/status; do \
                 i=$((i+1)); sleep 0.1; done\n\
                 [ $i -ge 300 ] && {{ echo 'running 30 s after SIGINT'; kill -TERM $pid; }}\n\
                 wait $pid; echo \"status: $?\"\n\
                 grep -c 'stopping on SIGINT' /tmp/ign.err\n\
                 test -e /sys/module/{MODULE} && echo loaded || echo unloaded",
                wait = wait_for_ticks("/tmp/ign.out"),
            ),
        )
        .step(
            // Stopped, the runner collects both signals before it runs
            // again: the first sends `stop`, the second forces the unload.
            "forced",
            &format!(
                "{RUN} count=1000000 >/tmp/force.out 2>/tmp/force.err &\n\
                 pid=$!\n\
                 {wait}\n\
                 kill -STOP $pid; kill -INT $pid; kill -TERM $pid; kill -CONT $pid\n\
                 wait $pid; echo \"status: $?\"\n\
                 test -e /sys/module/{MODULE} && echo loaded || echo unloaded",
                wait = wait_for_ticks("/tmp/force.out"),
            ),
        )
        .step("forced stdout", "cat /tmp/force.out")
        .step("forced stderr", "cat /tmp/force.err")
        .step(
            "killed",
            &format!(
                "{RUN} count=1000000 >/tmp/kill.out 2>&1 &\n\
                 pid=$!\n\
                 {wait}\n\
                 kill -KILL $pid; wait $pid\n\
                 rmmod {MODULE} && echo 'rmmod ok'\n\
                 test -e /sys/module/{MODULE} && echo loaded || echo unloaded",
                wait = wait_for_ticks("/tmp/kill.out"),
            ),
        )
        .step(
            "as alice",
            "su -s /bin/sh alice -c \
             'stap-verify-run-setuid -o /tmp/alice.txt /b.stpb count=1000000' \
             2>/tmp/alice.err; echo $?\n\
             stat -c '%u' /tmp/alice.txt",
        )
        .step("as alice stderr", "cat /tmp/alice.err")
        .step("as alice output", "cat /tmp/alice.txt")
        .step(
            // Opened as alice, who may not write to /root: refused before loading.
            "as alice into /root",
            "su -s /bin/sh alice -c 'stap-verify-run-setuid -o /root/x.txt /b.stpb'; echo $?\n\
             test -e /root/x.txt && echo created || echo 'not created'\n\
             test -e /sys/module/transport_demo && echo loaded || echo unloaded",
        )
        .step("kernel log", "dmesg");

    let vm = boot(&spec, &guest).unwrap();
    eprintln!(
        "{release}: booted in {:.1?}, all steps done in {:.1?}",
        vm.boot_time, vm.total_time
    );

    let exit = vm.command("exit");
    assert_eq!(exit.status, 0, "stderr:\n{}", exit.stderr);
    assert_eq!(
        exit.stdout,
        format!(
            "begin: transport demo\ncount=5 fail=0\n{}end: 5 ticks\n",
            ticks(1..=5)
        )
    );
    assert_eq!(exit.stderr, "");

    let count = vm.command("count");
    assert_eq!(count.status, 0, "stderr:\n{}", count.stderr);
    assert_eq!(
        count.stdout,
        format!(
            "begin: transport demo\ncount=2 fail=0\n{}end: 2 ticks\n",
            ticks(1..=2)
        )
    );
    let defaults = vm.command("defaults");
    assert_eq!(defaults.status, 0, "stderr:\n{}", defaults.stderr);
    assert!(defaults.stdout.ends_with("tick 5\nend: 5 ticks\n"));

    // The first error ends the session: error probes run instead of end probes.
    let error = vm.command("error");
    assert_eq!(error.status, SCRIPT_ERROR, "stderr:\n{}", error.stderr);
    assert_eq!(
        error.stdout,
        format!(
            "begin: transport demo\ncount=5 fail=1\n{}error probe: 3 ticks\n",
            ticks(1..=3)
        )
    );
    assert_eq!(error.stderr, "ERROR: division by 0 near demo.stp:19:22\n");

    let output_file = vm.command("output file");
    assert_eq!(output_file.status, 0, "stderr:\n{}", output_file.stderr);
    assert_eq!(output_file.stdout, "");
    assert_eq!(
        vm.step("output file contents").expect_status(0).output,
        format!(
            "begin: transport demo\ncount=3 fail=0\n{}end: 3 ticks\n",
            ticks(1..=3)
        )
    );

    let timeout = vm.command("timeout");
    assert_eq!(timeout.status, 0, "stderr:\n{}", timeout.stderr);
    assert!(
        timeout.stderr.contains("time limit of 1s"),
        "{}",
        timeout.stderr
    );
    ends_with_end_probe(timeout.stdout);

    let overflow = vm.command("overflow");
    assert_eq!(overflow.status, 0, "stderr:\n{}", overflow.stderr);
    assert!(
        overflow
            .stdout
            .starts_with("begin: transport demo\ncount=1 fail=0\nburst line 0 of the begin probe"),
        "{}",
        &overflow.stdout[..200.min(overflow.stdout.len())]
    );
    assert!(overflow.stdout.ends_with("tick 1\nend: 1 ticks\n"));
    let lost: u64 = overflow
        .stderr
        .strip_prefix("stap-verify-run: WARNING: ")
        .and_then(|rest| rest.split_once(" messages lost"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no loss report in: {}", overflow.stderr));
    assert!(lost > 0, "{}", overflow.stderr);
    assert!(!overflow.stdout.contains("burst line 9999 "));

    let interrupt = vm.step("interrupt").expect_status(0).output.as_str();
    assert!(
        interrupt.contains(&format!("second run: {RUN_FAILED}\n")),
        "{interrupt}"
    );
    assert!(interrupt.contains("second open: 1\n"), "{interrupt}");
    assert!(interrupt.contains("status: 0\n"), "{interrupt}");
    assert!(interrupt.ends_with("unloaded\n"), "{interrupt}");
    ends_with_end_probe(&vm.step("interrupt stdout").output);
    let stopping = &vm.step("interrupt stderr").output;
    assert!(stopping.contains("stopping on SIGINT"), "{stopping}");
    let second = &vm.step("second run stderr").output;
    assert!(
        second.contains(&format!("module {MODULE} is already loaded")),
        "{second}"
    );
    let open = &vm.step("second open stderr").output;
    assert!(open.contains("busy"), "{open}");
    assert_eq!(
        vm.step("interrupt when started ignoring SIGINT")
            .expect_status(0)
            .output,
        "status: 0\n1\nunloaded\n"
    );

    assert_eq!(
        vm.step("forced").expect_status(0).output,
        format!("status: {FORCED}\nunloaded\n")
    );
    let forced = &vm.step("forced stdout").output;
    assert!(!forced.contains("end:"), "{forced}");
    let forced = &vm.step("forced stderr").output;
    assert!(forced.contains("forced stop"), "{forced}");

    let killed = vm.step("killed").expect_status(0).output.as_str();
    assert!(killed.ends_with("rmmod ok\nunloaded\n"), "{killed}");

    let alice = &vm.step("as alice stderr").output;
    assert_eq!(vm.step("as alice").output, "0\n1000\n", "stderr:\n{alice}");
    assert!(
        alice.contains("time limit of 2s (the policy's max_duration)"),
        "{alice}"
    );
    ends_with_end_probe(&vm.step("as alice output").output);
    let refused = &vm.step("as alice into /root").expect_status(0).output;
    assert!(
        refused.contains("cannot open output file /root/x.txt")
            && refused.contains(&format!("\n{RUN_FAILED}\nnot created\nunloaded\n")),
        "{refused}"
    );

    let log = &vm.step("kernel log").output;
    for bad in [
        "WARNING:",
        "BUG:",
        "Oops",
        "general protection",
        "refcount_t",
    ] {
        assert!(!log.contains(bad), "kernel log shows {bad}:\n{log}");
    }
}

/// Output of a session stopped from outside: ticks counted up from 1, then
/// the end probe's total matching the last tick.
fn ends_with_end_probe(stdout: &str) {
    let lines: Vec<&str> = stdout.lines().collect();
    let last = lines.last().copied().unwrap_or_default();
    let total: u32 = last
        .strip_prefix("end: ")
        .and_then(|rest| rest.strip_suffix(" ticks"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no end probe line at the end of:\n{stdout}"));
    assert!(total >= 3, "{stdout}");
    let expected = format!(
        "begin: transport demo\ncount=1000000 fail=0\n{}end: {total} ticks\n",
        ticks(1..=total)
    );
    assert_eq!(stdout, expected);
}

fn build_demo(build_dir: &Path, dir: &Path) -> std::path::PathBuf {
    let script =
        std::fs::read(workspace_root().join("tests/modules/transport_demo/stp_script.c")).unwrap();
    let files: &[(&str, &[u8])] = &[("stp_script.c", &script)];
    let sources = ModuleSources {
        module_name: MODULE,
        files,
    };
    build_module(build_dir, &sources, &dir.join("build"), &dir.join("cache"))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// `b.stpb` with the demo module for `release`, its script and its
/// parameters, signed by `k.key`.
fn signed_bundle(dir: &Path, release: &str, module: &Path) {
    let stap_pack = bin("stap-pack");
    std::fs::copy(
        workspace_root().join("tests/modules/transport_demo/demo.stp"),
        dir.join("demo.stp"),
    )
    .unwrap();
    run(&stap_pack, &["keygen", "--out", "k"], dir).expect_code(0);
    let module_arg = format!("{release}={}", module.display());
    run(
        &stap_pack,
        &[
            "assemble",
            "--name",
            "transport-demo",
            "--version",
            "1.0.0",
            "--script",
            "demo.stp",
            "--module",
            &module_arg,
            "--param",
            "count:long",
            "--param",
            "fail:long",
            "--param",
            "burst:long",
            "-o",
            "unsigned.stpb",
        ],
        dir,
    )
    .expect_code(0);
    run(
        &stap_pack,
        &["sign", "unsigned.stpb", "--key", "k.key", "-o", "b.stpb"],
        dir,
    )
    .expect_code(0);
}
