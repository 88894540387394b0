//! stap-pack keygen / assemble / sign / verify / inspect on a bundle holding
//! a real module built against a Debian kernel header package.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use stap_pack_tests::{bin, minimal_module, run, test_kernel, Run};

struct Workdir {
    dir: tempfile::TempDir,
    module: String,
    kernel: String,
}

impl Workdir {
    fn new() -> Option<Workdir> {
        let kernel = test_kernel();
        let module = minimal_module(&kernel)?.display().to_string();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("hello.stp"),
            "probe begin { println(\"hello\") exit() }\n",
        )
        .unwrap();
        Some(Workdir {
            dir,
            module,
            kernel,
        })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn stap_pack(&self, args: &[&str]) -> Run {
        run(&bin("stap-pack"), args, self.path())
    }

    fn stap_pack_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = std::process::Command::new(bin("stap-pack"));
        cmd.args(args)
            .current_dir(self.path())
            .envs(env.iter().copied());
        Run::of(cmd.output().unwrap())
    }

    fn assemble(&self, out: &str, extra: &[&str]) -> Run {
        let module = format!("{}={}", self.kernel, self.module);
        let mut args = vec![
            "assemble",
            "--name",
            "hello",
            "--version",
            "1.2.3",
            "--script",
            "hello.stp",
            "--module",
            &module,
            "--param",
            "threshold:long",
            "--param",
            "label:string",
            "-o",
            out,
        ];
        args.extend_from_slice(extra);
        self.stap_pack(&args)
    }

    fn keygen(&self, prefix: &str) -> String {
        let out = self.stap_pack(&["keygen", "--out", prefix]).expect_code(0);
        out.stdout
            .lines()
            .next()
            .unwrap()
            .trim_start_matches("key id ")
            .to_string()
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path().join(name)).unwrap()
    }
}

#[test]
fn keygen_writes_private_key_0600_and_refuses_to_overwrite() {
    let Some(w) = Workdir::new() else { return };
    let key_id = w.keygen("alice");
    assert_eq!(key_id.len(), 16, "key id is 16 hex digits: {key_id}");
    let mode = std::fs::metadata(w.path().join("alice.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let before = w.read("alice.key");
    let again = w.stap_pack(&["keygen", "--out", "alice"]);
    assert_ne!(again.code, 0);
    assert!(
        again.stderr.contains("refusing to overwrite"),
        "{}",
        again.stderr
    );
    assert_eq!(w.read("alice.key"), before, "existing key left untouched");
}

#[test]
fn assemble_sign_verify_inspect_a_real_module() {
    let Some(w) = Workdir::new() else { return };
    let alice = w.keygen("alice");
    w.assemble("hello.stpb", &[]).expect_code(0);
    let signed = w
        .stap_pack(&["sign", "hello.stpb", "--key", "alice.key"])
        .expect_code(0);
    assert!(signed.stdout.contains(&alice), "{}", signed.stdout);

    let verified = w
        .stap_pack(&["verify", "hello.stpb", "--trust", "alice.pub"])
        .expect_code(0);
    assert!(
        verified.stdout.contains("OK: hello 1.2.3"),
        "{}",
        verified.stdout
    );
    assert!(
        verified.stdout.contains(&format!("signed by {alice}")),
        "{}",
        verified.stdout
    );

    let text = w
        .stap_pack(&["inspect", "hello.stpb"])
        .expect_code(0)
        .stdout;
    for needle in [
        "hello 1.2.3",
        &w.kernel,
        "stap_pack_minimal",
        "vermagic",
        "scripts/hello.stp",
        "threshold (long)",
        "label (string)",
        &alice,
        "expires    never",
    ] {
        assert!(text.contains(needle), "inspect lacks `{needle}`:\n{text}");
    }
    let json: serde_json::Value = serde_json::from_str(
        &w.stap_pack(&["inspect", "hello.stpb", "--json"])
            .expect_code(0)
            .stdout,
    )
    .unwrap();
    assert_eq!(json["manifest"]["name"], "hello");
    assert_eq!(json["manifest"]["kernels"][0]["release"], w.kernel.as_str());
    assert!(json["manifest"]["kernels"][0]["vermagic"]
        .as_str()
        .unwrap()
        .starts_with(&w.kernel));
    assert_eq!(json["signatures"][0], alice.as_str());
    assert_eq!(json["payload_matches_manifest"], true);
}

#[test]
fn second_signer_adds_a_signature_and_resigning_is_idempotent() {
    let Some(w) = Workdir::new() else { return };
    let alice = w.keygen("alice");
    let bob = w.keygen("bob");
    w.assemble("b.stpb", &[]).expect_code(0);
    w.stap_pack(&["sign", "b.stpb", "--key", "alice.key"])
        .expect_code(0);
    w.stap_pack(&["sign", "b.stpb", "--key", "bob.key"])
        .expect_code(0);
    let twice_signed = w.read("b.stpb");
    let again = w
        .stap_pack(&["sign", "b.stpb", "--key", "alice.key"])
        .expect_code(0);
    assert!(again.stdout.contains("already signed"), "{}", again.stdout);
    assert_eq!(w.read("b.stpb"), twice_signed, "re-signing changes nothing");

    let both = w
        .stap_pack(&[
            "verify",
            "b.stpb",
            "--trust",
            "alice.pub",
            "--trust",
            "bob.pub",
        ])
        .expect_code(0);
    assert!(
        both.stdout.contains(&format!("signed by {alice}"))
            && both.stdout.contains(&format!("signed by {bob}"))
    );
    let only_bob = w
        .stap_pack(&["verify", "b.stpb", "--trust", "bob.pub"])
        .expect_code(0);
    assert!(
        only_bob
            .stdout
            .contains(&format!("also signed by {alice} (not in the trust store")),
        "{}",
        only_bob.stdout
    );
    let json: serde_json::Value = serde_json::from_str(
        &w.stap_pack(&["inspect", "b.stpb", "--json"])
            .expect_code(0)
            .stdout,
    )
    .unwrap();
    assert_eq!(json["signatures"].as_array().unwrap().len(), 2);
}

#[test]
fn same_inputs_and_source_date_epoch_give_identical_bundles() {
    let Some(w) = Workdir::new() else { return };
    w.keygen("alice");
    let module = format!("{}={}", w.kernel, w.module);
    let assemble = |out: &str, epoch: &str| {
        w.stap_pack_env(
            &[
                "assemble",
                "--name",
                "r",
                "--version",
                "1.0.0",
                "--script",
                "hello.stp",
                "--module",
                &module,
                "-o",
                out,
            ],
            &[("SOURCE_DATE_EPOCH", epoch)],
        )
        .expect_code(0);
        w.stap_pack_env(
            &["sign", out, "--key", "alice.key"],
            &[("SOURCE_DATE_EPOCH", epoch)],
        )
        .expect_code(0);
        w.read(out)
    };
    let first = assemble("one.stpb", "1700000000");
    let second = assemble("two.stpb", "1700000000");
    assert_eq!(
        first, second,
        "same inputs, same epoch: byte-identical signed bundles"
    );
    let later = assemble("three.stpb", "1700000001");
    assert_ne!(first, later, "the epoch is recorded");
}

#[test]
fn assemble_refuses_a_module_filed_under_another_kernel() {
    let Some(w) = Workdir::new() else { return };
    let module = format!("6.1.0-47-cloud-amd64={}", w.module);
    let out = w.stap_pack(&[
        "assemble",
        "--name",
        "x",
        "--version",
        "1.0.0",
        "--script",
        "hello.stp",
        "--module",
        &module,
        "-o",
        "x.stpb",
    ]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains(&format!("was built for kernel {}", w.kernel)),
        "{}",
        out.stderr
    );
    assert!(
        !w.path().join("x.stpb").exists(),
        "no bundle written on error"
    );
}

#[test]
fn verify_refuses_untrusted_signers_and_unsigned_bundles() {
    let Some(w) = Workdir::new() else { return };
    let alice = w.keygen("alice");
    w.keygen("mallory");
    w.assemble("u.stpb", &[]).expect_code(0);
    let unsigned = w.stap_pack(&["verify", "u.stpb", "--trust", "alice.pub"]);
    assert_ne!(unsigned.code, 0);
    assert!(
        unsigned.stderr.contains("not signed"),
        "{}",
        unsigned.stderr
    );
    w.stap_pack(&["sign", "u.stpb", "--key", "alice.key"])
        .expect_code(0);
    let untrusted = w.stap_pack(&["verify", "u.stpb", "--trust", "mallory.pub"]);
    assert_ne!(untrusted.code, 0);
    assert!(
        untrusted.stderr.contains(&alice) && untrusted.stderr.contains("trusted"),
        "{}",
        untrusted.stderr
    );
}

#[test]
fn tampered_payload_fails_verify_and_cannot_be_signed() {
    let Some(w) = Workdir::new() else { return };
    w.keygen("alice");
    w.keygen("bob");
    w.assemble("t.stpb", &[]).expect_code(0);
    w.stap_pack(&["sign", "t.stpb", "--key", "alice.key"])
        .expect_code(0);
    // Replace the script after signing, keeping the manifest and signature.
    let bytes = w.read("t.stpb");
    let bundle = stap_bundle::archive::read_bundle(&bytes, &Default::default()).unwrap();
    let mut contents = bundle.into_contents();
    contents.payload.insert(
        "scripts/hello.stp".into(),
        b"probe begin { system(\"evil\") }\n".to_vec(),
    );
    std::fs::write(
        w.path().join("t.stpb"),
        stap_bundle::archive::write_bundle(&contents, 0).unwrap(),
    )
    .unwrap();

    let verify = w.stap_pack(&["verify", "t.stpb", "--trust", "alice.pub"]);
    assert_ne!(verify.code, 0);
    assert!(
        verify.stderr.contains("scripts/hello.stp") && verify.stderr.contains("altered"),
        "{}",
        verify.stderr
    );
    let sign = w.stap_pack(&["sign", "t.stpb", "--key", "bob.key"]);
    assert_ne!(sign.code, 0);
    assert!(sign.stderr.contains("refusing to sign"), "{}", sign.stderr);
    let inspect = w.stap_pack(&["inspect", "t.stpb"]);
    assert_ne!(inspect.code, 0);
    assert!(
        inspect.stdout.contains("DOES NOT MATCH"),
        "{}",
        inspect.stdout
    );
}

#[test]
fn inspect_flags_an_expired_bundle() {
    let Some(w) = Workdir::new() else { return };
    w.assemble("e.stpb", &["--not-after", "2020-01-01T00:00:00Z"])
        .expect_code(0);
    let text = w.stap_pack(&["inspect", "e.stpb"]).expect_code(0).stdout;
    assert!(text.contains("2020-01-01T00:00:00Z (EXPIRED)"), "{text}");
}
