//! The runner as the security boundary, on a real kernel: installed
//! `root:stapusr` mode 4750 in a VM, used by real non-root users: alice (in
//! stapusr, allowed by policy), carol (in stapusr, not allowed) and bob (not
//! in stapusr). Each refusal must come before anything is loaded and say
//! why; each allowed run must leave nothing behind.

use std::path::Path;

use stap_pack_tests::vm::{boot, Guest, VmRun, VmSpec};
use stap_pack_tests::{bin, run};

const RELEASE: &str = "6.1.0-56-cloud-amd64";
const OTHER_RELEASE: &str = "6.12.117+deb12-cloud-amd64";
const RUNNER: &str = "/usr/bin/stap-verify-run";
/// Lists the loaded modules of these tests.
const LOADED: &str = "ls /sys/module | grep '^sec_' || echo 'no module'";
const NONE_LOADED: &str = "no module\n";

/// Prints who it runs for; ends at once unless `stay` (then the -c command's
/// exit, or a signal, ends it).
const SHOW: &str = "global stay = 0\n\
probe begin { printf(\"target %d\\n\", target()); if (!stay) exit() }\n\
probe end { println(\"end\") }\n";
/// Ticks until stopped.
const TICKER: &str = "global n\n\
probe timer.ms(100) { n++; printf(\"tick %d\\n\", n) }\n\
probe end { println(\"end\") }\n";

fn stap_pack(dir: &Path, args: &[&str]) {
    run(&bin("stap-pack"), args, dir).expect_code(0);
}

/// Builds `<name>.stpb` from `script` for `release`, signed with `key`
/// (unless None), with extra build arguments.
fn build(dir: &Path, name: &str, script: &str, release: &str, key: Option<&str>, extra: &[&str]) {
    let script_path = dir.join(format!("{name}.stp"));
    std::fs::write(&script_path, script).unwrap();
    let module = name.replace('-', "_");
    let out = format!("{name}.stpb");
    let mut args = vec![
        "build",
        script_path.to_str().unwrap(),
        "-r",
        release,
        "-m",
        &module,
        "--name",
        name,
        "--version",
        "1.0.0",
        "-o",
        &out,
    ];
    if let Some(key) = key {
        args.extend(["--key", key]);
    }
    args.extend(extra);
    stap_pack(dir, &args);
}

/// The manifest digest the runner reports for a bundle (for revocation).
fn manifest_digest(dir: &Path, bundle: &str) -> String {
    let out = run(
        &bin("stap-verify-run"),
        &[
            "--dry-run",
            "--trust",
            "k1.pub",
            "--kernel-release",
            RELEASE,
            bundle,
        ],
        dir,
    )
    .expect_code(0)
    .stdout;
    let start = out.find("manifest sha256 ").expect("digest in the report") + 16;
    out[start..start + 64].to_string()
}

#[test]
fn setuid_runner_for_stapusr_members() {
    let Some(mut spec) = VmSpec::for_release(RELEASE) else {
        return;
    };
    spec.smp = 2;
    spec.timeout = std::time::Duration::from_secs(600);
    let host = tempfile::tempdir().unwrap();
    let dir = host.path();
    stap_pack(dir, &["keygen", "--out", "k1"]);
    stap_pack(dir, &["keygen", "--out", "k2"]);
    std::thread::scope(|scope| {
        scope.spawn(|| build(dir, "sec-show", SHOW, RELEASE, None, &[]));
        scope.spawn(|| build(dir, "sec-ticker", TICKER, RELEASE, Some("k1.key"), &[]));
        scope.spawn(|| build(dir, "sec-other", TICKER, RELEASE, Some("k1.key"), &[]));
    });
    std::thread::scope(|scope| {
        scope.spawn(|| {
            build(
                dir,
                "sec-expired",
                TICKER,
                RELEASE,
                Some("k1.key"),
                &["--not-after", "2020-01-01T00:00:00Z"],
            )
        });
        scope.spawn(|| build(dir, "sec-revoked", TICKER, RELEASE, Some("k1.key"), &[]));
        scope.spawn(|| build(dir, "sec-wrong", TICKER, OTHER_RELEASE, Some("k1.key"), &[]));
    });
    stap_pack(
        dir,
        &[
            "sign",
            "--key",
            "k1.key",
            "-o",
            "show.stpb",
            "sec-show.stpb",
        ],
    );
    stap_pack(
        dir,
        &[
            "sign",
            "--key",
            "k2.key",
            "-o",
            "untrusted.stpb",
            "sec-show.stpb",
        ],
    );
    let mut tampered = std::fs::read(dir.join("show.stpb")).unwrap();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x40;
    let revoked = manifest_digest(dir, "sec-revoked.stpb");
    let policy = format!(
        "revoked_bundles = [\"{revoked}\"]\n\
         [[rule]]\nname = \"alice-runs-sec\"\nusers = [\"alice\"]\nbundles = [\"sec-*\"]\n\
         [rule.parameters.stay]\nmin = 0\nmax = 1\n"
    );
    // A library whose constructor leaves a mark: it must never run inside
    // the setuid runner, and does run in an ordinary program (the control).
    let preload = dir.join("mark.c");
    std::fs::write(
        &preload,
        "#include <stdio.h>\n#include <unistd.h>\n\
         __attribute__((constructor)) static void mark(void) {\n\
         char p[64]; snprintf(p, sizeof p, \"/tmp/mark.%d\", (int)geteuid());\n\
         FILE *f = fopen(p, \"w\"); if (f) fclose(f); }\n",
    )
    .unwrap();
    run(
        Path::new("gcc"),
        &["-shared", "-fPIC", "-o", "mark.so", "mark.c"],
        dir,
    )
    .expect_code(0);

    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let mut guest = Guest::new();
    guest
        .host_binary(&bin("stap-verify-run"), RUNNER)
        .file(
            "/etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\n\
              alice:x:1000:1000:alice:/home/alice:/bin/sh\n\
              bob:x:1001:1001:bob:/tmp:/bin/sh\n\
              carol:x:1002:1002:carol:/tmp:/bin/sh\n"
                .to_vec(),
            0o644,
        )
        .file(
            "/etc/group",
            b"root:x:0:\nalice:x:1000:\nbob:x:1001:\ncarol:x:1002:\nstapusr:x:900:alice,carol\n"
                .to_vec(),
            0o644,
        )
        .file("/etc/stap-pack/trusted.d/k1.pub", read("k1.pub"), 0o644)
        .file("/etc/stap-pack/policy.toml", policy.into_bytes(), 0o644)
        .file("/b/show.stpb", read("show.stpb"), 0o644)
        .file("/b/untrusted.stpb", read("untrusted.stpb"), 0o644)
        .file("/b/tampered.stpb", tampered, 0o644)
        .file("/b/ticker.stpb", read("sec-ticker.stpb"), 0o644)
        .file("/b/other.stpb", read("sec-other.stpb"), 0o644)
        .file("/b/expired.stpb", read("sec-expired.stpb"), 0o644)
        .file("/b/revoked.stpb", read("sec-revoked.stpb"), 0o644)
        .file("/b/wrong.stpb", read("sec-wrong.stpb"), 0o644)
        .file("/root/private.stpb", read("show.stpb"), 0o600)
        // Not under /tmp: the guest mounts an empty tmpfs there.
        .file("/usr/lib/mark.so", read("mark.so"), 0o755)
        .step(
            "install",
            &format!(
                "mkdir -p /home/alice && chown alice:alice /home/alice && chmod 0700 /root\n\
                 cp {RUNNER} /tmp/plain-runner && chmod 0755 /tmp/plain-runner\n\
                 chown root:stapusr {RUNNER} && chmod 4750 {RUNNER}\n\
                 echo root-owned >/tmp/rootfile && chmod 0644 /tmp/rootfile\n\
                 syslogd -O /tmp/syslog\n\
                 stat -c '%A %U %G' {RUNNER}"
            ),
        );
    // The command as the user, then which of our modules are loaded.
    let as_user = |guest: &mut Guest, name: &str, user: &str, command: &str| {
        guest
            .command(
                name,
                &format!("su -s /bin/sh {user} -c {}", shell_quote(command)),
            )
            .step(&format!("{name} modules"), LOADED);
    };
    as_user(
        &mut guest,
        "allowed",
        "alice",
        "stap-verify-run /b/show.stpb",
    );
    as_user(
        &mut guest,
        "not stapusr",
        "bob",
        "stap-verify-run /b/show.stpb",
    );
    as_user(
        &mut guest,
        "not allowed",
        "carol",
        "stap-verify-run /b/show.stpb",
    );
    as_user(
        &mut guest,
        "untrusted",
        "alice",
        "stap-verify-run /b/untrusted.stpb",
    );
    as_user(
        &mut guest,
        "tampered",
        "alice",
        "stap-verify-run /b/tampered.stpb",
    );
    as_user(
        &mut guest,
        "revoked",
        "alice",
        "stap-verify-run /b/revoked.stpb",
    );
    as_user(
        &mut guest,
        "expired",
        "alice",
        "stap-verify-run /b/expired.stpb",
    );
    as_user(
        &mut guest,
        "wrong kernel",
        "alice",
        "stap-verify-run /b/wrong.stpb",
    );
    as_user(
        &mut guest,
        "undeclared parameter",
        "alice",
        "stap-verify-run /b/show.stpb nosuch=1",
    );
    as_user(
        &mut guest,
        "unreadable bundle",
        "alice",
        "stap-verify-run /root/private.stpb",
    );
    as_user(
        &mut guest,
        "root-owned output",
        "alice",
        "stap-verify-run -o /tmp/rootfile /b/show.stpb",
    );
    as_user(
        &mut guest,
        "own output",
        "alice",
        "stap-verify-run -q -o /home/alice/out.txt /b/show.stpb && stat -c '%U' /home/alice/out.txt && cat /home/alice/out.txt",
    );
    as_user(
        &mut guest,
        "preload",
        "alice",
        "LD_PRELOAD=/usr/lib/mark.so LD_LIBRARY_PATH=/tmp TMPDIR=/nonexistent \
         stap-verify-run -q -c 'env; id -u; echo pid $$' /b/show.stpb stay=1; \
         ls /tmp/mark.* 2>/dev/null || echo 'no mark'; \
         LD_PRELOAD=/usr/lib/mark.so /tmp/plain-runner --version >/dev/null; ls /tmp/mark.*",
    );
    as_user(
        &mut guest,
        "target",
        "alice",
        "sleep 30 & stap-verify-run -q -x $! /b/show.stpb; echo \"sleeper $!\"; kill $!",
    );
    as_user(
        &mut guest,
        "foreign target",
        "alice",
        "stap-verify-run -q -x 1 /b/show.stpb",
    );
    as_user(
        &mut guest,
        "interrupt",
        "alice",
        &format!(
            "stap-verify-run -q /b/ticker.stpb >/tmp/i.out & p=$!; {}; kill -INT $p; wait $p; s=$?; cat /tmp/i.out; exit $s",
            wait_for_ticks("/tmp/i.out")
        ),
    );
    as_user(
        &mut guest,
        "concurrent",
        "alice",
        &format!(
            "stap-verify-run -q /b/ticker.stpb >/tmp/t1 & p1=$!; \
             stap-verify-run -q /b/other.stpb >/tmp/t2 & p2=$!; {}; {}; \
             ls /sys/module | grep '^sec_'; \
         stap-verify-run -q /b/ticker.stpb; echo \"second run $?\"; \
             kill -INT $p1 $p2; wait $p1; wait $p2; grep -c tick /tmp/t1 /tmp/t2",
            wait_for_ticks("/tmp/t1"),
            wait_for_ticks("/tmp/t2")
        ),
    );
    // As root, to read /proc/timer_list: the probe's timer is armed while
    // the run lives and gone once the runner is killed, module still loaded.
    guest.step(
        "killed",
        &format!(
            "su -s /bin/sh alice -c 'stap-verify-run -q /b/ticker.stpb' >/tmp/k.out 2>&1 &\n\
         {}; grep -c stp_timer_fire /proc/timer_list\n\
         kill -KILL $(pidof stap-verify-run); sleep 0.5\n\
         ls /sys/module | grep '^sec_'; grep -c stp_timer_fire /proc/timer_list\n\
         su -s /bin/sh alice -c 'stap-verify-run --reap' 2>&1\n\
         {LOADED}",
            wait_for_ticks("/tmp/k.out")
        ),
    );
    as_user(
        &mut guest,
        "reap by another user",
        "alice",
        &format!(
            "stap-verify-run -q /b/ticker.stpb >/tmp/r.out & p=$!; {}; kill -KILL $p; wait $p",
            wait_for_ticks("/tmp/r.out")
        ),
    );
    as_user(&mut guest, "carol reaps", "carol", "stap-verify-run --reap");
    guest.step("root reaps", &format!("stap-verify-run --reap; {LOADED}"));
    as_user(
        &mut guest,
        "next run reaps",
        "alice",
        &format!(
            "stap-verify-run -q /b/ticker.stpb >/tmp/n.out & p=$!; {}; kill -KILL $p; wait $p; \
             stap-verify-run -q /b/show.stpb",
            wait_for_ticks("/tmp/n.out")
        ),
    );
    guest.step("syslog", "cat /tmp/syslog");

    let vm = boot(&spec, &guest).unwrap_or_else(|e| panic!("{e}"));
    check(&vm);
}

/// Waits (up to a minute) until a background run has printed `tick 3`:
/// a signal sent before the runner blocks signals would be lost.
fn wait_for_ticks(file: &str) -> String {
    format!("i=0; until grep -q 'tick 3' {file} 2>/dev/null; do i=$((i+1)); [ $i -gt 600 ] && break; sleep 0.1; done")
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The loaded modules of these tests, after a command of `as_user`.
fn modules<'a>(vm: &'a VmRun, name: &str) -> &'a str {
    &vm.step(&format!("{name} modules")).output
}

/// A refusal: the status, a text in stderr, and nothing loaded.
fn refused(vm: &VmRun, name: &str, status: i32, says: &str) {
    let o = vm.command(name);
    assert_eq!(o.status, status, "{name}: {}", o.stderr);
    assert!(
        o.stderr.contains(says),
        "{name}: wanted {says:?} in:\n{}",
        o.stderr
    );
    assert_eq!(modules(vm, name), NONE_LOADED, "{name}: a module is loaded");
}

fn check(vm: &VmRun) {
    assert_eq!(
        vm.step("install").expect_status(0).output,
        "-rwsr-x--- root stapusr\n"
    );

    let allowed = vm.command("allowed");
    assert_eq!(allowed.status, 0, "{}", allowed.stderr);
    assert_eq!(allowed.stdout, "target 0\nend\n");
    assert!(
        allowed.stderr.contains("ALLOWED: bundle sec-show 1.0.0")
            && allowed.stderr.contains("for user alice (uid 1000)")
            && allowed.stderr.contains("policy rule alice-runs-sec"),
        "{}",
        allowed.stderr
    );
    assert_eq!(modules(vm, "allowed"), NONE_LOADED);

    let bob = vm.command("not stapusr");
    assert_eq!(bob.status, 126, "{}", bob.stderr);
    assert!(bob.stderr.contains("Permission denied"), "{}", bob.stderr);

    refused(vm, "not allowed", 5, "DENIED: bundle sec-show 1.0.0");
    refused(vm, "not allowed", 5, "for user carol (uid 1002)");
    refused(vm, "untrusted", 4, "DENIED");
    let tampered = vm.command("tampered");
    assert!(matches!(tampered.status, 3 | 4), "{}", tampered.stderr);
    assert_eq!(modules(vm, "tampered"), NONE_LOADED);
    refused(vm, "revoked", 5, "revoked");
    refused(vm, "expired", 5, "expired");
    refused(vm, "wrong kernel", 6, OTHER_RELEASE);
    refused(vm, "undeclared parameter", 5, "nosuch");
    refused(vm, "unreadable bundle", 3, "Permission denied");
    refused(
        vm,
        "root-owned output",
        7,
        "cannot open output file /tmp/rootfile",
    );

    let own = vm.command("own output");
    assert_eq!(own.status, 0, "{}", own.stderr);
    assert_eq!(own.stdout, "alice\ntarget 0\nend\n");

    let preload = vm.command("preload");
    assert_eq!(preload.status, 0, "{}", preload.stderr);
    let env_lines: Vec<&str> = preload.stdout.lines().collect();
    for forbidden in ["LD_PRELOAD", "LD_LIBRARY_PATH", "TMPDIR"] {
        assert!(
            !env_lines.iter().any(|l| l.starts_with(forbidden)),
            "{forbidden} reached the command:\n{}",
            preload.stdout
        );
    }
    assert!(env_lines.contains(&"USER=alice"), "{}", preload.stdout);
    assert!(
        env_lines.contains(&"1000"),
        "-c runs as alice:\n{}",
        preload.stdout
    );
    let pid = env_lines
        .iter()
        .find_map(|l| l.strip_prefix("pid "))
        .expect("the command's pid");
    assert!(
        env_lines.contains(&format!("target {pid}").as_str()),
        "target() is the command's pid:\n{}",
        preload.stdout
    );
    // The mark: absent after the setuid run, present after the control.
    let no_mark = env_lines.iter().position(|l| *l == "no mark");
    let control = env_lines.iter().position(|l| *l == "/tmp/mark.1000");
    assert!(
        no_mark.is_some() && control > no_mark,
        "LD_PRELOAD ran in the runner, or the control did not run it:\n{}",
        preload.stdout
    );

    let target = vm.command("target");
    assert_eq!(target.status, 0, "{}", target.stderr);
    let sleeper = target
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("sleeper "))
        .expect("the sleeper's pid");
    assert!(
        target.stdout.starts_with(&format!("target {sleeper}\n")),
        "{}",
        target.stdout
    );
    refused(vm, "foreign target", 5, "only your own processes");

    let interrupt = vm.command("interrupt");
    assert_eq!(interrupt.status, 0, "{}", interrupt.stderr);
    assert!(interrupt.stdout.ends_with("end\n"), "{}", interrupt.stdout);
    assert_eq!(modules(vm, "interrupt"), NONE_LOADED);

    let concurrent = vm.command("concurrent");
    assert_eq!(concurrent.status, 0, "{}", concurrent.stderr);
    assert!(
        concurrent
            .stdout
            .starts_with("sec_other\nsec_ticker\nsecond run 7\n"),
        "{}",
        concurrent.stdout
    );
    assert!(
        concurrent
            .stderr
            .contains("this bundle is already running here: started by alice (uid 1000)"),
        "{}",
        concurrent.stderr
    );
    for file in ["/tmp/t1", "/tmp/t2"] {
        let count: u32 = concurrent
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{file}:")))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(count >= 5, "{file}: {count} ticks\n{}", concurrent.stdout);
    }
    assert_eq!(modules(vm, "concurrent"), NONE_LOADED);

    let killed = &vm.step("killed").output;
    assert!(
        killed.starts_with("1\nsec_ticker\n0\n")
            && killed.contains("unloaded module sec_ticker, left loaded by a killed run of alice")
            && killed.ends_with("no module\n"),
        "{killed}"
    );

    let carol = vm.command("carol reaps");
    assert_eq!(carol.status, 0, "{}", carol.stderr);
    assert_eq!(
        modules(vm, "carol reaps"),
        "sec_ticker\n",
        "carol must not reap alice's module"
    );
    let root = &vm.step("root reaps").output;
    assert!(
        root.contains("unloaded module sec_ticker, left loaded by a killed run of alice")
            && root.ends_with("no module\n"),
        "{root}"
    );
    let next = vm.command("next run reaps");
    assert_eq!(next.status, 0, "{}", next.stderr);
    assert!(
        next.stderr
            .contains("unloaded module sec_ticker, left loaded by a killed run of alice"),
        "{}",
        next.stderr
    );
    assert_eq!(next.stdout, "target 0\nend\n");
    assert_eq!(modules(vm, "next run reaps"), NONE_LOADED);

    let syslog = &vm.step("syslog").output;
    for line in [
        "stap-verify-run[",
        "ALLOWED: bundle sec-show 1.0.0",
        "DENIED: bundle sec-show 1.0.0",
        "for user carol (uid 1002)",
    ] {
        assert!(syslog.contains(line), "syslog lacks {line:?}:\n{syslog}");
    }
}
