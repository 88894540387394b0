//! stap-verify-run --dry-run: every documented exit status, on bundles
//! holding a real module built against a Debian kernel header package.
//! The decision logic itself is table-tested in the policy crate; these
//! tests check the runner wires reading, trust, policy and kernel match
//! together and reports them as documented.

use std::path::Path;

use stap_pack_tests::{bin, minimal_module, run, test_kernel, Run};

const ALLOWED: i32 = 0;
const CONFIG: i32 = 1;
const USAGE: i32 = 2;
const UNREADABLE: i32 = 3;
const SIGNATURE: i32 = 4;
const POLICY: i32 = 5;
const NO_KERNEL: i32 = 6;

struct Host {
    dir: tempfile::TempDir,
    kernel: String,
    key_id: String,
}

impl Host {
    /// A signed bundle `b.stpb` for the test kernel, its signer's key `k.pub`,
    /// an unrelated key `other.pub`, and an unsigned copy `unsigned.stpb`.
    fn new(extra_assemble: &[&str]) -> Option<Host> {
        let kernel = test_kernel();
        let module = minimal_module(&kernel)?;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("s.stp"), "probe begin { exit() }\n").unwrap();
        let sp = bin("stap-pack");
        let key = run(&sp, &["keygen", "--out", "k"], p).expect_code(0);
        let key_id = key
            .stdout
            .lines()
            .next()
            .unwrap()
            .trim_start_matches("key id ")
            .to_string();
        run(&sp, &["keygen", "--out", "other"], p).expect_code(0);
        let module_arg = format!("{kernel}={}", module.display());
        let mut args = vec![
            "assemble",
            "--name",
            "net-latency",
            "--version",
            "1.4.0",
            "--script",
            "s.stp",
            "--module",
            &module_arg,
            "--param",
            "port:long",
            "-o",
            "unsigned.stpb",
        ];
        args.extend_from_slice(extra_assemble);
        run(&sp, &args, p).expect_code(0);
        run(
            &sp,
            &["sign", "unsigned.stpb", "--key", "k.key", "-o", "b.stpb"],
            p,
        )
        .expect_code(0);
        Some(Host {
            dir,
            kernel,
            key_id,
        })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs the runner as the current (root) user, assuming the test kernel.
    fn dry_run(&self, args: &[&str]) -> Run {
        let mut all = vec!["--dry-run", "--kernel-release", &self.kernel];
        all.extend_from_slice(args);
        run(&bin("stap-verify-run"), &all, self.path())
    }

    fn policy(&self, text: &str) -> &'static str {
        std::fs::write(self.path().join("policy.toml"), text).unwrap();
        "policy.toml"
    }
}

fn is_root() -> bool {
    // The runner's root-only options need the real uid 0; CI runs as root.
    let uid = std::process::Command::new("id").arg("-u").output().unwrap();
    let root = String::from_utf8_lossy(&uid.stdout).trim() == "0";
    assert!(
        root || std::env::var_os("CI").is_none(),
        "CI must run these tests as root"
    );
    if !root {
        eprintln!("skipping: needs root");
    }
    root
}

#[test]
fn root_may_run_a_trusted_bundle_for_a_matching_kernel() {
    if !is_root() {
        return;
    }
    let Some(h) = Host::new(&[]) else { return };
    let out = h
        .dry_run(&["--trust", "k.pub", "b.stpb", "port=8080"])
        .expect_code(ALLOWED);
    assert!(
        out.stdout.starts_with("ALLOWED: bundle net-latency 1.4.0"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&h.key_id) && out.stdout.contains("nothing was loaded"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!("kernel entry {}", h.kernel)),
        "{}",
        out.stdout
    );
}

#[test]
fn no_matching_kernel_explains_the_near_miss() {
    if !is_root() {
        return;
    }
    let Some(h) = Host::new(&[]) else { return };
    // Same version and ABI, other flavour: the classic wrong-flavour mistake.
    let flavour = h.kernel.replace("-cloud-amd64", "-rt-amd64");
    let out = run(
        &bin("stap-verify-run"),
        &[
            "--dry-run",
            "--kernel-release",
            &flavour,
            "--trust",
            "k.pub",
            "b.stpb",
        ],
        h.path(),
    )
    .expect_code(NO_KERNEL);
    assert!(out.stderr.contains("flavour differs"), "{}", out.stderr);
    let arch = h
        .dry_run(&["--machine", "aarch64", "--trust", "k.pub", "b.stpb"])
        .expect_code(NO_KERNEL);
    assert!(arch.stderr.contains("aarch64"), "{}", arch.stderr);
}

#[test]
fn signature_problems_exit_4() {
    if !is_root() {
        return;
    }
    let Some(h) = Host::new(&[]) else { return };
    let unsigned = h
        .dry_run(&["--trust", "k.pub", "unsigned.stpb"])
        .expect_code(SIGNATURE);
    assert!(
        unsigned.stderr.contains("not signed"),
        "{}",
        unsigned.stderr
    );
    let untrusted = h
        .dry_run(&["--trust", "other.pub", "b.stpb"])
        .expect_code(SIGNATURE);
    assert!(untrusted.stderr.contains(&h.key_id), "{}", untrusted.stderr);
    let policy = h.policy(&format!("revoked_keys = [\"{}\"]\n", h.key_id));
    let revoked = h
        .dry_run(&["--trust", "k.pub", "--policy", policy, "b.stpb"])
        .expect_code(SIGNATURE);
    assert!(revoked.stderr.contains("revoked"), "{}", revoked.stderr);
}

#[test]
fn policy_refusals_exit_5() {
    if !is_root() {
        return;
    }
    let Some(h) = Host::new(&[]) else { return };
    let undeclared = h
        .dry_run(&["--trust", "k.pub", "b.stpb", "verbose=1"])
        .expect_code(POLICY);
    assert!(
        undeclared.stderr.contains("verbose"),
        "{}",
        undeclared.stderr
    );
    let bad_long = h
        .dry_run(&["--trust", "k.pub", "b.stpb", "port=eighty"])
        .expect_code(POLICY);
    assert!(bad_long.stderr.contains("port"), "{}", bad_long.stderr);

    let bundle = stap_bundle::archive::read_bundle(
        &std::fs::read(h.path().join("b.stpb")).unwrap(),
        &Default::default(),
    )
    .unwrap();
    let digest = stap_bundle::manifest::Manifest::digest_of_bytes(bundle.manifest_bytes());
    let policy = h.policy(&format!("revoked_bundles = [\"{digest}\"]\n"));
    let revoked = h
        .dry_run(&["--trust", "k.pub", "--policy", policy, "b.stpb"])
        .expect_code(POLICY);
    assert!(revoked.stderr.contains("revoked"), "{}", revoked.stderr);
}

#[test]
fn expired_bundles_are_refused_unless_policy_allows_them() {
    if !is_root() {
        return;
    }
    let Some(h) = Host::new(&["--not-after", "2021-06-01T00:00:00Z"]) else {
        return;
    };
    let expired = h
        .dry_run(&["--trust", "k.pub", "b.stpb"])
        .expect_code(POLICY);
    assert!(
        expired.stderr.contains("2021-06-01T00:00:00Z"),
        "{}",
        expired.stderr
    );
    let policy = h.policy("refuse_expired = false\n");
    h.dry_run(&["--trust", "k.pub", "--policy", policy, "b.stpb"])
        .expect_code(ALLOWED);
}

#[test]
fn unreadable_or_malformed_bundles_exit_3() {
    if !is_root() {
        return;
    }
    let Some(h) = Host::new(&[]) else { return };
    let missing = h
        .dry_run(&["--trust", "k.pub", "missing.stpb"])
        .expect_code(UNREADABLE);
    assert!(
        missing.stderr.contains("missing.stpb"),
        "{}",
        missing.stderr
    );
    std::fs::write(h.path().join("garbage.stpb"), b"not a bundle at all").unwrap();
    h.dry_run(&["--trust", "k.pub", "garbage.stpb"])
        .expect_code(UNREADABLE);
    std::os::unix::fs::symlink(h.path().join("b.stpb"), h.path().join("link.stpb")).unwrap();
    let link = h
        .dry_run(&["--trust", "k.pub", "link.stpb"])
        .expect_code(UNREADABLE);
    assert!(link.stderr.contains("link.stpb"), "{}", link.stderr);
    std::fs::create_dir(h.path().join("dir.stpb")).unwrap();
    h.dry_run(&["--trust", "k.pub", "dir.stpb"])
        .expect_code(UNREADABLE);
}

#[test]
fn configuration_and_usage_errors() {
    if !is_root() {
        return;
    }
    let Some(h) = Host::new(&[]) else { return };
    let policy = h.policy("[[rule]]\nbundles = [\"*\"]\nfavourite_colour = \"blue\"\n");
    let bad_policy = h
        .dry_run(&["--trust", "k.pub", "--policy", policy, "b.stpb"])
        .expect_code(CONFIG);
    assert!(
        bad_policy.stderr.contains("favourite_colour"),
        "{}",
        bad_policy.stderr
    );
    let no_such_policy = h
        .dry_run(&["--trust", "k.pub", "--policy", "nope.toml", "b.stpb"])
        .expect_code(CONFIG);
    assert!(
        no_such_policy.stderr.contains("nope.toml"),
        "{}",
        no_such_policy.stderr
    );
    h.dry_run(&["--trust", "k.pub", "--bogus", "b.stpb"])
        .expect_code(USAGE);
    h.dry_run(&["--trust", "k.pub", "b.stpb", "not-an-assignment"])
        .expect_code(USAGE);
    // A real run loads into the running kernel: no assuming another host.
    let no_dry_run = run(
        &bin("stap-verify-run"),
        &["--kernel-release", &h.kernel, "b.stpb"],
        h.path(),
    )
    .expect_code(USAGE);
    assert!(
        no_dry_run
            .stderr
            .contains("--kernel-release is only for --dry-run"),
        "{}",
        no_dry_run.stderr
    );
}

#[test]
fn options_that_change_trust_are_reserved_to_root() {
    if !is_root() {
        return;
    }
    let Some(h) = Host::new(&[]) else { return };
    // The bundle dir must be readable by nobody for this to reach the check.
    std::fs::set_permissions(
        h.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    for option in [
        ["--trust", "k.pub"],
        ["--policy", "policy.toml"],
        ["--kernel-release", "6.1.0-56-amd64"],
    ] {
        let out = Run::of(
            std::process::Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(bin("stap-verify-run"))
                .args(["--dry-run", option[0], option[1], "b.stpb"])
                .current_dir(h.path())
                .output()
                .unwrap(),
        )
        .expect_code(USAGE);
        assert!(
            out.stderr
                .contains(&format!("{} is reserved to root", option[0])),
            "{}",
            out.stderr
        );
    }
}

/// Writes `crc.stpb` (unsigned): the real module, with the kernel's CRC
/// table as `Module.symvers` has it, or with the first imported symbol's
/// CRC changed. Returns that symbol.
fn bundle_with_crcs(h: &Host, change_first: bool) -> String {
    use stap_bundle::assemble::{assemble, BundleSpec, ModuleInput, ScriptInput};
    let module = minimal_module(&h.kernel).unwrap();
    let bytes = std::fs::read(&module).unwrap();
    let build_dir = stap_kbuild::find_build_dir(&h.kernel).unwrap();
    let mut kernel_crcs = stap_kbuild::read_module_symvers(&build_dir).unwrap();
    let first = stap_bundle::modinfo::read_versions(&bytes).unwrap()[0]
        .name
        .clone();
    if change_first {
        *kernel_crcs.get_mut(&first).unwrap() ^= 1;
    }
    let contents = assemble(BundleSpec {
        name: "crc-check".into(),
        version: semver::Version::new(1, 0, 0),
        privilege: stap_bundle::manifest::Privilege::Stapusr,
        not_after: None,
        parameters: Vec::new(),
        scripts: vec![ScriptInput {
            file_name: "s.stp".into(),
            bytes: b"probe begin { exit() }\n".to_vec(),
        }],
        modules: vec![ModuleInput {
            release: h.kernel.clone(),
            version: None,
            origin: module.display().to_string(),
            bytes,
            kernel_crcs,
        }],
        created: 0,
        tool_version: "test".into(),
        build_type: "test",
    })
    .unwrap();
    let archive = stap_bundle::archive::write_bundle(&contents, 0).unwrap();
    std::fs::write(h.path().join("crc.stpb"), archive).unwrap();
    first
}

#[test]
fn a_module_against_other_symbol_crcs_is_refused_naming_the_symbol() {
    if !is_root() {
        return;
    }
    let Some(h) = Host::new(&[]) else { return };
    let sign = |out: &str| {
        run(
            &bin("stap-pack"),
            &["sign", "crc.stpb", "--key", "k.key", "-o", out],
            h.path(),
        )
        .expect_code(0);
    };
    bundle_with_crcs(&h, false);
    sign("crc-ok.stpb");
    h.dry_run(&["--trust", "k.pub", "crc-ok.stpb"])
        .expect_code(ALLOWED);

    let symbol = bundle_with_crcs(&h, true);
    sign("crc-bad.stpb");
    let out = h
        .dry_run(&["--trust", "k.pub", "crc-bad.stpb"])
        .expect_code(NO_KERNEL);
    assert!(
        out.stderr
            .contains(&format!("expects symbol {symbol} with CRC")),
        "{}",
        out.stderr
    );
}

#[test]
fn a_module_whose_vermagic_differs_from_the_kernels_modules_is_refused() {
    if !is_root() {
        return;
    }
    let Some(h) = Host::new(&[]) else { return };
    let reference = Path::new("/lib/modules").join(&h.kernel).join("kernel");
    if !reference.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the image of {} is not installed",
            h.kernel
        );
        return;
    }
    // Same release, other build flags: what the kernel refuses as
    // "version magic" at load.
    let mut module = std::fs::read(minimal_module(&h.kernel).unwrap()).unwrap();
    let flag = b" preempt ";
    let at = module
        .windows(flag.len())
        .position(|w| w == flag)
        .expect("vermagic names preempt");
    module[at + 1..at + flag.len() - 1].copy_from_slice(b"preemp2");
    std::fs::write(h.path().join("odd.ko"), &module).unwrap();
    let sp = bin("stap-pack");
    let module_arg = format!("{}=odd.ko", h.kernel);
    run(
        &sp,
        &[
            "assemble",
            "--name",
            "odd",
            "--version",
            "1.0.0",
            "--script",
            "s.stp",
            "--module",
            &module_arg,
            "-o",
            "odd-unsigned.stpb",
        ],
        h.path(),
    )
    .expect_code(0);
    run(
        &sp,
        &[
            "sign",
            "odd-unsigned.stpb",
            "--key",
            "k.key",
            "-o",
            "odd.stpb",
        ],
        h.path(),
    )
    .expect_code(0);
    let out = h
        .dry_run(&["--trust", "k.pub", "odd.stpb"])
        .expect_code(NO_KERNEL);
    assert!(
        out.stderr.contains("preemp2") && out.stderr.contains("this kernel's modules"),
        "{}",
        out.stderr
    );
}
