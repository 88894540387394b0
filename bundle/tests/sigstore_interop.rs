//! Signature documents must be Sigstore bundles that the reference protobuf
//! specification parses. Runs tests/sigstore/check_sigstore_bundle.py, which
//! uses PyPI's `sigstore-protobuf-specs`. Without that package the test is
//! skipped with a message, except under CI (`CI` set), where it fails.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;
use stap_bundle::signature::SignatureDocument;

fn checker() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/sigstore/check_sigstore_bundle.py")
}

/// The interpreter to use: `STAP_PACK_PYTHON` (tests/run-all.sh points it at
/// a venv with the package), else `python3` from PATH.
fn python() -> String {
    std::env::var("STAP_PACK_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Whether python3 and the package are importable; in CI their absence fails.
fn python_package_available() -> bool {
    let probe = Command::new(python())
        .args([
            "-c",
            "import sigstore_protobuf_specs.dev.sigstore.bundle.v1",
        ])
        .output();
    let available = matches!(&probe, Ok(out) if out.status.success());
    if !available {
        let why = match &probe {
            Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
            Err(e) => format!("cannot run python3: {e}"),
        };
        let message = format!(
            "sigstore-protobuf-specs is not available ({why}); install it with `pip install sigstore-protobuf-specs`"
        );
        if std::env::var_os("CI").is_some() {
            panic!("{message}");
        }
        eprintln!("skipping Sigstore interop test: {message}");
    }
    available
}

fn run_checker(files: &[PathBuf]) -> std::process::Output {
    Command::new(python())
        .arg(checker())
        .args(files)
        .output()
        .expect("python3 runs")
}

#[test]
fn signature_documents_parse_as_sigstore_bundles() {
    if !python_package_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, manifest) in [
        contents("interop").manifest_bytes,
        b"{}".to_vec(),
        vec![0u8; 3000],
    ]
    .iter()
    .enumerate()
    {
        let signer = key();
        let path = dir
            .path()
            .join(format!("{i}-{}.sigstore.json", key_id(&signer)));
        std::fs::write(&path, SignatureDocument::create(manifest, &signer)).unwrap();
        files.push(path);
    }
    let out = run_checker(&files);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "checker failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("sigstore-protobuf-specs: 3 documents parsed"),
        "{stdout}"
    );
}

#[test]
fn checker_refuses_a_document_that_breaks_the_promises() {
    // Guards the guard: a checker that accepts anything would make the test
    // above worthless.
    if !python_package_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let doc = String::from_utf8(SignatureDocument::create(b"manifest", &key())).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&doc).unwrap();
    value["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.1".into();
    value["messageSignature"]["signature"] = "AAAA".into();
    value["unknownField"] = 1.into();
    let path = dir.path().join("bad.sigstore.json");
    std::fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
    let out = run_checker(&[path]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for problem in ["media type", "signature is 3 bytes", "does not define"] {
        assert!(
            stderr.contains(problem),
            "missing `{problem}` in:\n{stderr}"
        );
    }
}
