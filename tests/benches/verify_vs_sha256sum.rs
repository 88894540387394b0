//! Benchmark (not a test): `stap-pack verify` on a signed bundle of 30
//! modules against `sha256sum` of the same bundle file, both measured in this
//! run, reported as a ratio.
//!
//! cargo build --release --workspace --bins && cargo run --release -p stap-pack-tests --bin bench-verify

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use stap_bundle::archive::{write_bundle, BundleContents};
use stap_bundle::digest::sha256_hex;
use stap_bundle::keys::SigningKey;
use stap_bundle::manifest::{
    FileEntry, KernelEntry, Manifest, Privilege, ScriptEntry, Tool, FORMAT_NAME, FORMAT_VERSION,
};
use stap_bundle::signature::SignatureDocument;
use stap_pack_tests::{bin, minimal_module, test_kernel};

const MODULES: usize = 30;
const RUNS: usize = 9;

fn main() {
    let kernel = test_kernel();
    let module =
        std::fs::read(minimal_module(&kernel).expect("kernel headers for the benchmark module"))
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bundle_path = dir.path().join("matrix.stpb");
    let key = SigningKey::generate().unwrap();
    std::fs::write(dir.path().join("k.pub"), key.public_key().to_pem()).unwrap();
    std::fs::write(&bundle_path, matrix_bundle(&module, &kernel, &key)).unwrap();
    let size = std::fs::metadata(&bundle_path).unwrap().len();

    let stap_pack = bin("stap-pack");
    let bundle_arg = bundle_path.to_str().unwrap();
    let trust_arg = dir.path().join("k.pub");
    let verify = median(|| {
        let out = Command::new(&stap_pack)
            .args(["verify", bundle_arg, "--trust"])
            .arg(&trust_arg)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "verify failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    let sha = median(|| {
        let out = Command::new("sha256sum").arg(bundle_arg).output().unwrap();
        assert!(out.status.success());
    });
    println!(
        "bundle: {MODULES} modules of {} bytes each, {size} bytes compressed",
        module.len()
    );
    println!(
        "stap-pack verify: {:.2} ms (median of {RUNS})",
        verify.as_secs_f64() * 1e3
    );
    println!(
        "sha256sum:        {:.2} ms (median of {RUNS})",
        sha.as_secs_f64() * 1e3
    );
    println!(
        "ratio verify/sha256sum: {:.2}",
        verify.as_secs_f64() / sha.as_secs_f64()
    );
}

/// A signed bundle with one entry per "kernel": copies of the real module,
/// each followed by 32 KiB of its own pseudo-random bytes so compression
/// cannot fold them together (a real matrix differs per kernel build, and
/// compresses to about this size).
fn matrix_bundle(module: &[u8], kernel: &str, key: &SigningKey) -> Vec<u8> {
    let mut payload = BTreeMap::new();
    let mut kernels = Vec::new();
    for i in 0..MODULES {
        let release = format!("{kernel}-bench{i:02}");
        let mut bytes = module.to_vec();
        bytes.extend(noise(i as u64 + 1, 32 * 1024));
        let path = format!("modules/{release}/stap_pack_minimal.ko");
        kernels.push(KernelEntry {
            release: release.clone(),
            version: None,
            arch: "x86_64".into(),
            vermagic: format!("{release} SMP preempt mod_unload modversions"),
            module_name: "stap_pack_minimal".into(),
            module_path: path.clone(),
            module_sha256: sha256_hex(&bytes),
            symbol_crcs: Default::default(),
        });
        payload.insert(path, bytes);
    }
    let script = b"probe begin { exit() }\n".to_vec();
    let scripts = vec![ScriptEntry {
        path: "scripts/bench.stp".into(),
        sha256: sha256_hex(&script),
    }];
    payload.insert("scripts/bench.stp".into(), script);
    payload.insert("provenance.intoto.json".into(), b"{}\n".to_vec());
    let files = payload
        .iter()
        .map(|(p, d)| FileEntry {
            path: p.clone(),
            size: d.len() as u64,
            sha256: sha256_hex(d),
        })
        .collect();
    let manifest = Manifest {
        format: FORMAT_NAME.into(),
        format_version: FORMAT_VERSION,
        name: "bench".into(),
        version: semver::Version::new(1, 0, 0),
        created: "2026-01-01T00:00:00Z".into(),
        tool: Tool {
            name: "stap-pack".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        privilege: Privilege::Stapsys,
        not_after: None,
        scripts,
        parameters: vec![],
        kernels,
        provenance: "provenance.intoto.json".into(),
        files,
    };
    let manifest_bytes = manifest.to_json_bytes();
    let signatures = BTreeMap::from([(
        key.public_key().key_id(),
        SignatureDocument::create(&manifest_bytes, key),
    )]);
    write_bundle(
        &BundleContents {
            manifest_bytes,
            signatures,
            payload,
        },
        0,
    )
    .unwrap()
}

/// Deterministic incompressible bytes (xorshift64).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn median(mut f: impl FnMut()) -> Duration {
    f(); // warm the page cache and the binary
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}
