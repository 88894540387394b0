//! `match_kernel`: the match itself, and near-miss explanations nearest first.

use stap_bundle::manifest::KernelEntry;
use stap_policy::{match_kernel, HostFacts};

const BUILD: &str = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1 (2025-11-09)";

fn entry(release: &str, arch: &str, build: Option<&str>) -> KernelEntry {
    KernelEntry {
        release: release.into(),
        version: build.map(str::to_string),
        arch: arch.into(),
        vermagic: format!("{release} SMP mod_unload"),
        module_name: "probe".into(),
        module_path: format!("modules/{release}/probe.ko"),
        module_sha256: "00".repeat(32),
        symbol_crcs: Default::default(),
    }
}

fn host(release: &str) -> HostFacts {
    HostFacts {
        release: release.into(),
        version: Some(BUILD.into()),
        machine: "x86_64".into(),
    }
}

#[test]
fn matches_table() {
    let rows: &[(&[KernelEntry], &str, Option<usize>)] = &[
        (
            &[entry("6.1.0-56-cloud-amd64", "x86_64", None)],
            "6.1.0-56-cloud-amd64",
            Some(0),
        ),
        (
            &[
                entry("6.1.0-56-amd64", "x86_64", None),
                entry("6.1.0-56-cloud-amd64", "x86_64", Some(BUILD)),
            ],
            "6.1.0-56-cloud-amd64",
            Some(1),
        ),
        (
            &[entry("6.1.0-56-cloud-amd64", "aarch64", None)],
            "6.1.0-56-cloud-amd64",
            None,
        ),
        (
            &[entry(
                "6.1.0-56-cloud-amd64",
                "x86_64",
                Some("#1 SMP other"),
            )],
            "6.1.0-56-cloud-amd64",
            None,
        ),
        (&[], "6.1.0-56-cloud-amd64", None),
    ];
    for (kernels, release, expected) in rows {
        assert_eq!(
            match_kernel(kernels, &host(release)).ok(),
            *expected,
            "{release} in {kernels:?}"
        );
    }
}

/// The bundle's kernels, the host release, and the expected near misses in
/// order as (index, piece of the explanation).
type NearMissRow<'a> = (&'a [KernelEntry], &'a str, &'a [(usize, &'a str)]);

#[test]
fn near_miss_explanations() {
    let rows: &[NearMissRow] = &[
        (&[entry("6.1.0-56-amd64", "x86_64", None)], "6.1.0-56-cloud-amd64", &[(0, "same version and ABI, flavour differs: amd64 vs cloud-amd64")]),
        (&[entry("6.1.0-47-cloud-amd64", "x86_64", None)], "6.1.0-56-cloud-amd64", &[(0, "same version and flavour, ABI differs: 47 vs 56")]),
        (
            &[entry("6.1.0-56-cloud-amd64", "x86_64", Some("#1 SMP PREEMPT_DYNAMIC Debian 6.1.153-1"))],
            "6.1.0-56-cloud-amd64",
            &[(0, "same release, but built for a different kernel build (uname -v `#1 SMP PREEMPT_DYNAMIC Debian 6.1.153-1` vs `#1 SMP")],
        ),
        (&[entry("6.1.0-56-cloud-amd64", "aarch64", None)], "6.1.0-56-cloud-amd64", &[(0, "same release; different architecture: aarch64 vs x86_64")]),
        (
            &[entry("6.12.117+deb12-cloud-amd64", "x86_64", None)],
            "6.1.0-56-cloud-amd64",
            &[(0, "same flavour, version differs: 6.12.117 vs 6.1.0, ABI differs: deb12 vs 56")],
        ),
        (&[entry("6.12.117+deb12-amd64", "x86_64", None)], "6.12.117+deb12-cloud-amd64", &[(0, "same version and ABI, flavour differs: amd64 vs cloud-amd64")]),
        (&[entry("5.14.0-362.el9.x86_64", "x86_64", None)], "6.1.0-56-cloud-amd64", &[(0, "different release: 5.14.0-362.el9.x86_64 vs 6.1.0-56-cloud-amd64")]),
        // Nearest first: same release before one differing part, closer ABI
        // before farther, a different architecture last.
        (
            &[
                entry("6.1.0-56-cloud-amd64", "aarch64", None),
                entry("6.1.0-40-cloud-amd64", "x86_64", None),
                entry("6.1.0-55-cloud-amd64", "x86_64", None),
                entry("6.1.0-56-cloud-amd64", "x86_64", Some("#2 other")),
                entry("6.1.0-55-amd64", "x86_64", None),
            ],
            "6.1.0-56-cloud-amd64",
            &[(3, "same release, but"), (2, "ABI differs: 55 vs 56"), (1, "ABI differs: 40 vs 56"), (4, "ABI differs: 55 vs 56, flavour differs"), (0, "different architecture")],
        ),
    ];
    for (kernels, release, expected) in rows {
        let mismatch = match_kernel(kernels, &host(release)).expect_err(release);
        let got: Vec<(usize, &str)> = mismatch
            .nearest
            .iter()
            .map(|m| (m.index, m.explanation.as_str()))
            .collect();
        assert_eq!(got.len(), expected.len(), "{got:#?}");
        for ((index, text), (want_index, want_text)) in got.iter().zip(expected.iter()) {
            assert_eq!(index, want_index, "{got:#?}");
            assert!(text.contains(want_text), "`{text}` lacks `{want_text}`");
        }
        let message = mismatch.to_string();
        assert!(
            message.contains(&format!("Host kernel: {release} (x86_64)")),
            "{message}"
        );
    }
}

#[test]
fn long_lists_are_capped() {
    let kernels: Vec<KernelEntry> = (30..40)
        .map(|abi| entry(&format!("6.1.0-{abi}-amd64"), "x86_64", None))
        .collect();
    let mismatch = match_kernel(&kernels, &host("6.1.0-41-amd64")).unwrap_err();
    assert_eq!(mismatch.nearest.len(), 5);
    assert_eq!(mismatch.omitted, 5);
    assert_eq!(mismatch.nearest[0].release, "6.1.0-39-amd64");
    assert!(mismatch.to_string().contains("and 5 more"), "{mismatch}");
}

#[test]
fn empty_kernel_list_is_explained() {
    let mismatch = match_kernel(&[], &host("6.1.0-56-amd64")).unwrap_err();
    assert!(
        mismatch.to_string().contains("lists no kernels"),
        "{mismatch}"
    );
}

#[test]
fn unknown_host_build_matches_by_release_and_arch() {
    let mut unknown = host("6.1.0-56-cloud-amd64");
    unknown.version = None;
    let recorded = [entry(
        "6.1.0-56-cloud-amd64",
        "x86_64",
        Some("#1 SMP other build"),
    )];
    assert_eq!(match_kernel(&recorded, &unknown), Ok(0));
    let other_arch = [entry(
        "6.1.0-56-cloud-amd64",
        "aarch64",
        Some("#1 SMP other build"),
    )];
    let mismatch = match_kernel(&other_arch, &unknown).unwrap_err();
    assert!(!mismatch.to_string().contains("uname -v"), "{mismatch}");
    // A known host build still has to be the recorded one.
    assert!(match_kernel(&recorded, &host("6.1.0-56-cloud-amd64")).is_err());
}
