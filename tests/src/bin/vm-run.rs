//! Runs a bundle in a VM booted from a real Debian kernel image, the way a
//! host would: `stap-verify-run` with the given trusted key, as root.
//!
//! cargo run -p stap-pack-tests --bin vm-run -- KRELEASE BUNDLE.stpb KEY.pub [NAME=VALUE ...]
//!
//! Prints the run's stdout and stderr and exits with the runner's status.

use std::path::Path;
use std::process::ExitCode;

use stap_pack_tests::bin;
use stap_pack_tests::vm::{boot, Guest, VmSpec};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [release, bundle, key, params @ ..] = args.as_slice() else {
        eprintln!("usage: vm-run KRELEASE BUNDLE.stpb KEY.pub [NAME=VALUE ...]");
        return ExitCode::from(2);
    };
    let Some(spec) = VmSpec::for_release(release) else {
        return ExitCode::FAILURE;
    };
    let read =
        |path: &str| std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let mut guest = Guest::new();
    guest
        .host_binary(&bin("stap-verify-run"), "/usr/bin/stap-verify-run")
        .file("/etc/k.pub", read(key), 0o644)
        .file("/b.stpb", read(bundle), 0o644)
        .step(
            "run",
            &format!(
                "stap-verify-run --trust /etc/k.pub /b.stpb {} >/tmp/out 2>/tmp/err; echo $?",
                params.join(" ")
            ),
        )
        .step("stdout", "cat /tmp/out")
        .step("stderr", "cat /tmp/err");
    eprintln!(
        "booting {release} in qemu (TCG) with {}",
        Path::new(bundle).display()
    );
    let vm = match boot(&spec, &guest) {
        Ok(vm) => vm,
        Err(error) => {
            eprintln!("vm-run: {error}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", vm.step("stdout").output);
    eprint!("{}", vm.step("stderr").output);
    let status: u8 = vm.step("run").output.trim().parse().unwrap_or(1);
    eprintln!(
        "(in the VM: stap-verify-run exited with status {status}; boot to power-off {:.1}s)",
        vm.total_time.as_secs_f64()
    );
    ExitCode::from(status)
}
