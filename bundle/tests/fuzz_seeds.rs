//! Seed corpus for the `read_bundle` fuzz target (bundle/fuzz/). The seeds
//! are made here rather than checked in as binaries:
//!
//!     STAP_BUNDLE_FUZZ_SEEDS=bundle/fuzz/corpus/read_bundle \
//!         cargo test -p stap-bundle --test fuzz_seeds
//!
//! Without the variable the test still checks that the seeds are what the
//! fuzzer needs: the signed ones verify against bundle/fuzz/trusted.pub.

mod common;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use common::*;
use stap_bundle::archive::{read_bundle, Limits};
use stap_bundle::keys::{PublicKey, SigningKey};
use stap_bundle::verify::{verify, TrustStore};

/// The fuzz target's limits: seeds must fit them to be useful.
const FUZZ_LIMITS: Limits = Limits {
    max_bundle_bytes: 1 << 20,
    max_total_bytes: 8 << 20,
    max_entry_bytes: 4 << 20,
    max_entries: 64,
};

fn trusted_pub_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/trusted.pub")
}

/// A fixed, public, test-only key: its seed is written right here, so it
/// protects nothing; it only lets fuzzed bundles reach the verified path.
fn fuzz_key() -> SigningKey {
    const PKCS8_ED25519_PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut der = PKCS8_ED25519_PREFIX.to_vec();
    der.extend_from_slice(&[0x5a; 32]);
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n");
    SigningKey::from_pem(&pem, Path::new("fuzz seed key")).expect("fixed seed key parses")
}

fn one_kernel_spec(name: &str) -> stap_bundle::assemble::BundleSpec {
    let mut s = spec(name);
    s.modules.truncate(1);
    s
}

/// Small, varied bundles: valid signed ones and near misses.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let signer = fuzz_key();
    let mut signed = stap_bundle::assemble::assemble(one_kernel_spec("seed")).unwrap();
    sign(&mut signed, &signer);
    let mut two_signers = contents("seed-two");
    sign(&mut two_signers, &signer);
    sign(&mut two_signers, &key());
    let mut unlisted = signed.clone();
    unlisted
        .payload
        .insert("scripts/extra.stp".into(), b"probe end {}".to_vec());
    vec![
        ("signed", write(&signed)),
        ("two-signers", write(&two_signers)),
        (
            "unsigned",
            write(&stap_bundle::assemble::assemble(one_kernel_spec("seed")).unwrap()),
        ),
        ("unlisted-file", write(&unlisted)),
        (
            "manifest-only",
            raw_bundle(&[RawEntry::file("manifest.json", &signed.manifest_bytes)]),
        ),
        ("empty-archive", raw_bundle(&[])),
    ]
}

#[test]
fn trusted_pub_is_the_fuzz_seed_key() {
    let text = std::fs::read_to_string(trusted_pub_path()).expect("bundle/fuzz/trusted.pub exists");
    let trusted = PublicKey::from_pem(&text, &trusted_pub_path()).unwrap();
    assert_eq!(
        trusted,
        fuzz_key().public_key(),
        "regenerate trusted.pub from fuzz_key()"
    );
}

#[test]
fn seeds_fit_the_fuzz_limits_and_signed_ones_verify() {
    let mut trust = TrustStore::new();
    trust.add_key(fuzz_key().public_key(), trusted_pub_path());
    let seeds = seeds();
    for (name, bytes) in &seeds {
        assert!(
            bytes.len() < 64 << 10,
            "{name} is {} bytes; keep seeds small",
            bytes.len()
        );
        let read = read_bundle(bytes, &FUZZ_LIMITS);
        let verified = read.map(|b| verify(b, &trust));
        let expect_verified = matches!(*name, "signed" | "two-signers");
        assert_eq!(
            matches!(verified, Ok(Ok(_))),
            expect_verified,
            "{name}: {verified:?}"
        );
    }
    if let Some(dir) = std::env::var_os("STAP_BUNDLE_FUZZ_SEEDS") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in &seeds {
            std::fs::write(dir.join(format!("{name}.stpb")), bytes).unwrap();
        }
        eprintln!("wrote {} seeds to {}", seeds.len(), dir.display());
    }
}
