//! Feeds arbitrary bytes to the bundle reader and, when the structure is
//! accepted, to verification against a fixed trust store. Any panic, abort or
//! broken invariant is a finding. Seeds and the command to run it: bundle/fuzz/README.md.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use stap_bundle::archive::{read_bundle, Limits};
use stap_bundle::keys::PublicKey;
use stap_bundle::verify::{verify, TrustStore};

/// Small caps keep each run fast; hostile sizes are still reachable.
const LIMITS: Limits = Limits {
    max_bundle_bytes: 1 << 20,
    max_total_bytes: 8 << 20,
    max_entry_bytes: 4 << 20,
    max_entries: 64,
};

/// The public half of the fixed seed key the seed bundles are signed with,
/// so the fuzzer starts from bundles that verify.
fn trust() -> &'static TrustStore {
    static TRUST: OnceLock<TrustStore> = OnceLock::new();
    TRUST.get_or_init(|| {
        let source = Path::new("trusted.pub");
        let key = PublicKey::from_pem(include_str!("../trusted.pub"), source)
            .expect("trusted.pub is an Ed25519 key");
        let mut store = TrustStore::new();
        store.add_key(key, source.into());
        store
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(unverified) = read_bundle(data, &LIMITS) else {
        return;
    };
    // Reporting paths must not panic on whatever the structure holds.
    let listed: u64 = unverified
        .payload_listing()
        .map(|(_, size)| size as u64)
        .sum();
    assert!(listed <= LIMITS.max_total_bytes);
    let _ = unverified.check_integrity();
    let Ok(verified) = verify(unverified, trust()) else {
        return;
    };
    // Verified means: a trusted signer, and exactly the manifest's files.
    assert!(!verified.signers.is_empty());
    assert!(verified.signers.iter().all(|id| trust().get(id).is_some()));
    for file in &verified.manifest.files {
        let data = verified
            .file(&file.path)
            .expect("every manifest file is present");
        assert_eq!(data.len() as u64, file.size);
    }
    // Every kernel's module is one of those files.
    for kernel in &verified.manifest.kernels {
        assert_eq!(
            Some(verified.module(kernel)),
            verified.file(&kernel.module_path)
        );
    }
});
