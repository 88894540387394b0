//! The VM harness on the real Debian kernels of the test matrix: one boot per
//! kernel loads and unloads our minimal module, checks step results come back
//! exactly, and runs stap-verify-run against the guest's own kernel.

use std::path::Path;
use std::time::{Duration, Instant};

use stap_pack_tests::vm::{boot, Guest, VmError, VmSpec};
use stap_pack_tests::{bin, minimal_module, run, test_kernel};

/// Output with blank and indented lines, a tab, stderr before stdout, no
/// final newline, and a line that looks like the console protocol's own.
const AWKWARD_OUTPUT: &str =
    "to stderr\nfirst\n  indented\ttab\n\n@@stap-pack-vm end 0 0 0\nlast, no newline";

#[test]
fn boots_6_1_and_loads_a_module() {
    boots_and_loads_a_module("6.1.0-56-cloud-amd64", 1);
}

#[test]
fn boots_6_12_and_loads_a_module() {
    boots_and_loads_a_module("6.12.117+deb12-cloud-amd64", 2);
}

fn boots_and_loads_a_module(release: &str, cpus: u32) {
    let Some(mut spec) = VmSpec::for_release(release) else {
        return;
    };
    spec.smp = cpus;
    let Some(module) = minimal_module(release) else {
        return;
    };
    let host = tempfile::tempdir().unwrap();
    signed_bundle(host.path(), release, &module);

    let mut guest = Guest::new();
    guest
        .file(
            "/root/stap_pack_minimal.ko",
            std::fs::read(&module).unwrap(),
            0o644,
        )
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
        .step("release", "uname -r")
        .step("cpus", "nproc")
        .step("insmod", "insmod /root/stap_pack_minimal.ko")
        .step("in sysfs", "test -d /sys/module/stap_pack_minimal")
        .step("loaded message", "dmesg | grep 'stap_pack_minimal: loaded'")
        .step("rmmod", "rmmod stap_pack_minimal")
        .step("unloaded", "test ! -e /sys/module/stap_pack_minimal")
        .step("failing", "false")
        .step(
            "awkward output",
            "echo 'to stderr' >&2\n\
             printf 'first\\n  indented\\ttab\\n\\n@@stap-pack-vm end 0 0 0\\nlast, no newline'",
        )
        .step(
            "dry run",
            "stap-verify-run --dry-run --trust /etc/k.pub /b.stpb",
        );

    let vm = boot(&spec, &guest).unwrap();
    eprintln!(
        "{release}: booted in {:.1?}, all steps done in {:.1?}",
        vm.boot_time, vm.total_time
    );

    assert_eq!(
        vm.step("release").expect_status(0).output,
        format!("{release}\n")
    );
    assert_eq!(vm.step("cpus").expect_status(0).output, format!("{cpus}\n"));
    vm.step("insmod").expect_status(0);
    vm.step("in sysfs").expect_status(0);
    let loaded = vm.step("loaded message").expect_status(0);
    assert!(
        loaded.output.contains("stap_pack_minimal: loaded"),
        "{}",
        loaded.output
    );
    vm.step("rmmod").expect_status(0);
    vm.step("unloaded").expect_status(0);
    vm.step("failing").expect_status(1);
    assert_eq!(vm.step("failing").output, "");
    assert_eq!(
        vm.step("awkward output").expect_status(0).output,
        AWKWARD_OUTPUT
    );
    let dry_run = vm.step("dry run").expect_status(0);
    assert!(
        dry_run.output.starts_with("ALLOWED: bundle vm-boot 1.0.0"),
        "{}",
        dry_run.output
    );
    assert!(dry_run.output.contains(release), "{}", dry_run.output);
}

/// `b.stpb` holding `module` for `release` only, signed by `k.key`; no
/// `--kernel-version`, so the guest matches it by release.
fn signed_bundle(dir: &Path, release: &str, module: &Path) {
    let stap_pack = bin("stap-pack");
    std::fs::write(dir.join("s.stp"), "probe begin { exit() }\n").unwrap();
    run(&stap_pack, &["keygen", "--out", "k"], dir).expect_code(0);
    let module_arg = format!("{release}={}", module.display());
    run(
        &stap_pack,
        &[
            "assemble",
            "--name",
            "vm-boot",
            "--version",
            "1.0.0",
            "--script",
            "s.stp",
            "--module",
            &module_arg,
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

#[test]
fn a_hung_step_times_out_naming_the_step() {
    let Some(mut spec) = VmSpec::for_release(&test_kernel()) else {
        return;
    };
    // Enough to boot under TCG on a loaded machine, far short of the sleep.
    spec.timeout = Duration::from_secs(30);
    let mut guest = Guest::new();
    guest
        .step("quick", "true")
        .step("hang", "sleep 600")
        .step("never", "true");

    let started = Instant::now();
    let error = boot(&spec, &guest).unwrap_err();

    assert!(
        started.elapsed() < Duration::from_secs(45),
        "took {:?}",
        started.elapsed()
    );
    let VmError::Timeout { running_step, .. } = &error else {
        panic!("expected a timeout, got: {error}");
    };
    assert_eq!(running_step.as_deref(), Some("hang"), "{error}");
    let message = error.to_string();
    assert!(
        message.starts_with("VM timed out after")
            && message.contains("while running step \"hang\""),
        "{message}"
    );
}

#[test]
fn a_kernel_panic_ends_the_run_naming_the_step_and_showing_the_panic() {
    let Some(spec) = VmSpec::for_release(&test_kernel()) else {
        return;
    };
    let mut guest = Guest::new();
    guest
        .step("before", "true")
        .step("panic", "echo c > /proc/sysrq-trigger")
        .step("never", "true");

    let error = boot(&spec, &guest).unwrap_err();

    let VmError::Stopped {
        missing_step,
        console_tail,
        ..
    } = &error
    else {
        panic!("expected the VM to stop, got: {error}");
    };
    assert_eq!(missing_step.as_deref(), Some("panic"), "{error}");
    assert!(
        console_tail.contains("Kernel panic - not syncing"),
        "{error}"
    );
}
