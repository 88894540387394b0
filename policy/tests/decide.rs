//! Table-driven tests of `decide`: each row is a policy, an invoker and a
//! request, and the expected allowance or the exact list of reasons.

use std::time::Duration;

use stap_bundle::keys::KeyId;
use stap_bundle::manifest::{KernelEntry, Manifest, ParamType, Parameter, Privilege, Tool};
use stap_policy::{decide, Decision, DenialKind, HostFacts, Invoker, Policy, Request};

const K1: &str = "1111111111111111";
const K2: &str = "2222222222222222";
const DIGEST: &str = "abababababababababababababababababababababababababababababababab";
const NOT_AFTER: &str = "2030-01-01T00:00:00Z";
/// 2025-01-01, before the bundle's expiry.
const NOW: i64 = 1_735_689_600;
/// One second after the bundle's expiry.
const EXPIRED_NOW: i64 = 1_893_456_001;
const HOST_RELEASE: &str = "6.1.0-56-cloud-amd64";
const HOST_BUILD: &str = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1 (2025-11-09)";

const OPS_RULE: &str = r#"
[[rule]]
name = "ops"
users = ["alice"]
bundles = ["net-*"]
"#;

#[derive(Clone, Copy)]
enum Who {
    Root,
    /// User name and group names.
    User(&'static str, &'static [&'static str]),
}

enum Expect {
    Allow {
        rule: Option<&'static str>,
        max_duration: Option<u64>,
    },
    /// Every reason, in order: its kind and a piece of its message.
    Deny(&'static [(DenialKind, &'static str)]),
}

struct Case {
    name: &'static str,
    policy: Option<&'static str>,
    who: Who,
    bundle: &'static str,
    version: &'static str,
    signers: &'static [&'static str],
    params: &'static [(&'static str, &'static str)],
    host_release: &'static str,
    now: i64,
    expect: Expect,
}

/// The usual request: alice runs net-trace 1.2.0 signed by K1 on the host
/// it was built for, before it expires, without parameters.
const BASE: Case = Case {
    name: "",
    policy: Some(OPS_RULE),
    who: Who::User("alice", &["alice"]),
    bundle: "net-trace",
    version: "1.2.0",
    signers: &[K1],
    params: &[],
    host_release: HOST_RELEASE,
    now: NOW,
    expect: Expect::Allow {
        rule: Some("ops"),
        max_duration: None,
    },
};

fn manifest(name: &str, version: &str) -> Manifest {
    Manifest {
        format: "stap-pack-bundle".into(),
        format_version: 1,
        name: name.into(),
        version: semver::Version::parse(version).unwrap(),
        created: "2025-01-01T00:00:00Z".into(),
        tool: Tool {
            name: "stap-pack".into(),
            version: "0.1.0".into(),
        },
        privilege: Privilege::Stapusr,
        not_after: Some(NOT_AFTER.into()),
        scripts: vec![],
        parameters: vec![
            Parameter {
                name: "count".into(),
                ty: ParamType::Long,
            },
            Parameter {
                name: "filter".into(),
                ty: ParamType::String,
            },
        ],
        kernels: vec![KernelEntry {
            release: HOST_RELEASE.into(),
            version: Some(HOST_BUILD.into()),
            arch: "x86_64".into(),
            vermagic: "6.1.0-56-cloud-amd64 SMP preempt mod_unload modversions".into(),
            module_name: "net_trace".into(),
            module_path: "modules/6.1.0-56-cloud-amd64/net_trace.ko".into(),
            module_sha256: "00".repeat(32),
            symbol_crcs: Default::default(),
        }],
        provenance: "provenance.json".into(),
        files: vec![],
    }
}

fn run(case: &Case) -> Decision {
    let policy = case
        .policy
        .map(|text| Policy::from_toml(text).unwrap_or_else(|e| panic!("{}: {e}", case.name)));
    let manifest = manifest(case.bundle, case.version);
    let signers: Vec<KeyId> = case
        .signers
        .iter()
        .map(|k| KeyId::parse(k).unwrap())
        .collect();
    let invoker = match case.who {
        Who::Root => Invoker {
            uid: 0,
            user: "root".into(),
            groups: vec!["root".into()],
        },
        Who::User(user, groups) => Invoker {
            uid: 1000,
            user: user.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        },
    };
    let host = HostFacts {
        release: case.host_release.into(),
        version: Some(HOST_BUILD.into()),
        machine: "x86_64".into(),
    };
    let params: Vec<(String, String)> = case
        .params
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let request = Request {
        manifest: &manifest,
        manifest_digest: DIGEST,
        signers: &signers,
        invoker: &invoker,
        host: &host,
        params: &params,
        now: case.now,
    };
    decide(policy.as_ref(), &request)
}

fn check(cases: &[Case]) {
    for case in cases {
        let decision = run(case);
        match (&case.expect, &decision) {
            (Expect::Allow { rule, max_duration }, Decision::Allow(allowed)) => {
                assert_eq!(allowed.kernel, 0, "{}", case.name);
                assert_eq!(allowed.rule.as_deref(), *rule, "{}", case.name);
                assert_eq!(
                    allowed.max_duration,
                    max_duration.map(Duration::from_secs),
                    "{}",
                    case.name
                );
            }
            (Expect::Deny(expected), Decision::Deny(reasons)) => {
                let got: Vec<(DenialKind, String)> =
                    reasons.iter().map(|r| (r.kind(), r.to_string())).collect();
                assert_eq!(got.len(), expected.len(), "{}: reasons {got:#?}", case.name);
                for ((kind, text), (want_kind, want_text)) in got.iter().zip(expected.iter()) {
                    assert_eq!(kind, want_kind, "{}: {text}", case.name);
                    assert!(
                        text.contains(want_text),
                        "{}: `{text}` lacks `{want_text}`",
                        case.name
                    );
                }
            }
            _ => panic!("{}: unexpected decision {decision:#?}", case.name),
        }
    }
}

use DenialKind::{Kernel, Policy as Pol, Signature};

#[test]
fn root() {
    check(&[
        Case {
            name: "root without policy is allowed",
            policy: None,
            who: Who::Root,
            expect: Expect::Allow {
                rule: None,
                max_duration: None,
            },
            ..BASE
        },
        Case {
            name: "root ignores rules and min_signatures",
            policy: Some(
                "min_signatures = 2\n[[rule]]\nusers = [\"alice\"]\nbundles = [\"io-*\"]\n",
            ),
            who: Who::Root,
            expect: Expect::Allow {
                rule: None,
                max_duration: None,
            },
            ..BASE
        },
        Case {
            name: "root needs a trusted signer",
            policy: None,
            who: Who::Root,
            signers: &[],
            expect: Expect::Deny(&[(Signature, "no signature on the bundle is by a trusted")]),
            ..BASE
        },
        Case {
            name: "root is bound by expiry without a policy",
            policy: None,
            who: Who::Root,
            now: EXPIRED_NOW,
            expect: Expect::Deny(&[(Pol, "the bundle expired at 2030-01-01T00:00:00Z")]),
            ..BASE
        },
        Case {
            name: "root is bound by revoked keys",
            policy: Some("revoked_keys = [\"1111111111111111\"]"),
            who: Who::Root,
            expect: Expect::Deny(&[
                (Signature, "signed by revoked key 1111111111111111"),
                (Signature, "no signature"),
            ]),
            ..BASE
        },
        Case {
            name: "root is bound by revoked bundles",
            policy: Some(concat!(
                "revoked_bundles = [\"",
                "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB",
                "\"]"
            )),
            who: Who::Root,
            expect: Expect::Deny(&[(Pol, "revoked by the policy's revoked_bundles")]),
            ..BASE
        },
        Case {
            name: "root parameters must be declared",
            policy: None,
            who: Who::Root,
            params: &[("nope", "1")],
            expect: Expect::Deny(&[(
                Pol,
                "parameter nope is not declared by bundle net-trace (it declares: count, filter)",
            )]),
            ..BASE
        },
        Case {
            name: "root parameters must be well typed",
            policy: None,
            who: Who::Root,
            params: &[("count", "12a")],
            expect: Expect::Deny(&[(
                Pol,
                "invalid value for long parameter count: `12a` is not a whole number",
            )]),
            ..BASE
        },
        Case {
            name: "root may set any declared parameter",
            policy: None,
            who: Who::Root,
            params: &[("count", "-0x10"), ("filter", "eth0")],
            expect: Expect::Allow {
                rule: None,
                max_duration: None,
            },
            ..BASE
        },
    ]);
}

#[test]
fn who_a_rule_applies_to() {
    check(&[
        Case { name: "non-root without policy is denied", policy: None, expect: Expect::Deny(&[(Pol, "no policy file; only root may run bundles")]), ..BASE },
        Case { name: "user match", ..BASE },
        Case {
            name: "group match",
            policy: Some("[[rule]]\nname = \"tracers\"\ngroups = [\"tracing\"]\nbundles = [\"net-trace\"]\n"),
            who: Who::User("bob", &["bob", "tracing"]),
            expect: Expect::Allow { rule: Some("tracers"), max_duration: None },
            ..BASE
        },
        Case {
            name: "neither user nor group",
            policy: Some("[[rule]]\nusers = [\"alice\"]\ngroups = [\"tracing\"]\nbundles = [\"*\"]\n"),
            who: Who::User("carol", &["carol", "staff"]),
            expect: Expect::Deny(&[(Pol, "no policy rule applies to user carol (groups: carol, staff)")]),
            ..BASE
        },
        Case {
            name: "first covering rule allows; unnamed rules are labelled by position",
            policy: Some("[[rule]]\nname = \"io\"\nusers = [\"alice\"]\nbundles = [\"io-*\"]\n[[rule]]\nusers = [\"alice\"]\nbundles = [\"net-*\"]\nmax_duration = 30\n"),
            expect: Expect::Allow { rule: Some("#2"), max_duration: Some(30) },
            ..BASE
        },
    ]);
}

#[test]
fn what_a_rule_covers() {
    check(&[
        Case { name: "glob with ?", policy: Some("[[rule]]\nname = \"q\"\nusers = [\"alice\"]\nbundles = [\"io-*\", \"net-tra?e\"]\n"), expect: Expect::Allow { rule: Some("q"), max_duration: None }, ..BASE },
        Case {
            name: "glob mismatch",
            policy: Some("[[rule]]\nname = \"io\"\nusers = [\"alice\"]\nbundles = [\"io-*\", \"net\"]\n"),
            expect: Expect::Deny(&[(Pol, "rule \"io\" does not cover bundle net-trace (it covers io-*, net)")]),
            ..BASE
        },
        Case {
            name: "version requirement met",
            policy: Some("[[rule]]\nname = \"v1\"\nusers = [\"alice\"]\nbundles = [\"net-*\"]\nversions = \">=1.0, <2\"\n"),
            expect: Expect::Allow { rule: Some("v1"), max_duration: None },
            ..BASE
        },
        Case {
            name: "version requirement not met",
            policy: Some("[[rule]]\nname = \"v2\"\nusers = [\"alice\"]\nbundles = [\"net-*\"]\nversions = \"^2\"\n"),
            expect: Expect::Deny(&[(Pol, "rule \"v2\" does not allow version 1.2.0 of the bundle (it requires ^2)")]),
            ..BASE
        },
        Case {
            name: "signer not in the rule's list",
            policy: Some("[[rule]]\nname = \"s\"\nusers = [\"alice\"]\nbundles = [\"net-*\"]\nsigners = [\"2222222222222222\"]\n"),
            expect: Expect::Deny(&[(Pol, "rule \"s\" requires a signature by one of the keys 2222222222222222")]),
            ..BASE
        },
        Case {
            name: "one of the signers is in the rule's list",
            policy: Some("[[rule]]\nname = \"s\"\nusers = [\"alice\"]\nbundles = [\"net-*\"]\nsigners = [\"2222222222222222\"]\n"),
            signers: &[K1, K2],
            expect: Expect::Allow { rule: Some("s"), max_duration: None },
            ..BASE
        },
        Case {
            name: "a revoked signer does not satisfy the rule's list",
            policy: Some("revoked_keys = [\"2222222222222222\"]\n[[rule]]\nname = \"s\"\nusers = [\"alice\"]\nbundles = [\"net-*\"]\nsigners = [\"2222222222222222\"]\n"),
            signers: &[K1, K2],
            expect: Expect::Deny(&[(Pol, "none of the bundle's trusted, non-revoked signers")]),
            ..BASE
        },
        Case { name: "max_duration returned", policy: Some("[[rule]]\nname = \"d\"\nusers = [\"alice\"]\nbundles = [\"net-*\"]\nmax_duration = \"10m\"\n"), expect: Expect::Allow { rule: Some("d"), max_duration: Some(600) }, ..BASE },
    ]);
}

#[test]
fn signatures_revocation_expiry() {
    let two = "min_signatures = 2\n[[rule]]\nname = \"ops\"\nusers = [\"alice\"]\nbundles = [\"net-*\"]\n";
    check(&[
        Case { name: "two distinct signers", policy: Some(two), signers: &[K1, K2], ..BASE },
        Case { name: "a duplicate signer counts once", policy: Some(two), signers: &[K1, K1], expect: Expect::Deny(&[(Signature, "has 1 distinct trusted, non-revoked signer(s) but the policy requires 2")]), ..BASE },
        Case {
            name: "revoked key leaves too few",
            policy: Some("revoked_keys = [\"1111111111111111\"]\n[[rule]]\nname = \"ops\"\nusers = [\"alice\"]\nbundles = [\"net-*\"]\n"),
            expect: Expect::Deny(&[(Signature, "signed by revoked key 1111111111111111"), (Signature, "no signature on the bundle is by a trusted, non-revoked key")]),
            ..BASE
        },
        Case {
            name: "revoked key with enough other signers is not reported",
            policy: Some("revoked_keys = [\"1111111111111111\"]\n[[rule]]\nname = \"ops\"\nusers = [\"alice\"]\nbundles = [\"net-*\"]\n"),
            signers: &[K1, K2],
            ..BASE
        },
        Case {
            name: "revoked bundle",
            policy: Some(concat!("revoked_bundles = [\"", "abababababababababababababababababababababababababababababababab", "\"]\n[[rule]]\nusers = [\"alice\"]\nbundles = [\"*\"]\n")),
            expect: Expect::Deny(&[(Pol, "manifest sha256 abababab")]),
            ..BASE
        },
        Case { name: "expired is refused by default", now: EXPIRED_NOW, expect: Expect::Deny(&[(Pol, "expired at 2030-01-01T00:00:00Z; ask its publisher")]), ..BASE },
        Case { name: "at the expiry instant it is still valid", now: EXPIRED_NOW - 1, ..BASE },
        Case {
            name: "expired is allowed when refuse_expired = false",
            policy: Some("refuse_expired = false\n[[rule]]\nname = \"ops\"\nusers = [\"alice\"]\nbundles = [\"net-*\"]\n"),
            now: EXPIRED_NOW,
            ..BASE
        },
    ]);
}

const LIMITS: &str = r#"
[[rule]]
name = "ops"
users = ["alice"]
bundles = ["net-*"]
[rule.parameters.count]
min = 1
max = 100
[rule.parameters.filter]
max_len = 8
"#;

#[test]
fn parameters() {
    check(&[
        Case { name: "within limits", policy: Some(LIMITS), params: &[("count", "0x10"), ("filter", "eth0")], ..BASE },
        Case { name: "at the limits", policy: Some(LIMITS), params: &[("count", "100"), ("filter", "12345678")], ..BASE },
        Case {
            name: "parameter not in manifest",
            policy: Some(LIMITS),
            params: &[("nope", "1")],
            expect: Expect::Deny(&[(Pol, "parameter nope is not declared by bundle net-trace")]),
            ..BASE
        },
        Case {
            name: "parameter not in rule",
            params: &[("count", "5")],
            expect: Expect::Deny(&[(Pol, "rule \"ops\" does not let its users set parameter count; leave it unset")]),
            ..BASE
        },
        Case {
            name: "long above range",
            policy: Some(LIMITS),
            params: &[("count", "500")],
            expect: Expect::Deny(&[(Pol, "parameter count=500 is outside what rule \"ops\" allows (1 to 100)")]),
            ..BASE
        },
        Case {
            name: "long below range",
            policy: Some(LIMITS),
            params: &[("count", "-1")],
            expect: Expect::Deny(&[(Pol, "count=-1 is outside")]),
            ..BASE
        },
        Case { name: "bad long syntax", policy: Some(LIMITS), params: &[("count", "1e3")], expect: Expect::Deny(&[(Pol, "invalid value for long parameter count")]), ..BASE },
        Case { name: "octal-looking long", policy: Some(LIMITS), params: &[("count", "010")], expect: Expect::Deny(&[(Pol, "leading zero")]), ..BASE },
        Case { name: "long beyond i64", policy: Some(LIMITS), params: &[("count", "9223372036854775808")], expect: Expect::Deny(&[(Pol, "outside the 64-bit signed range")]), ..BASE },
        Case {
            name: "string too long for the rule",
            policy: Some(LIMITS),
            params: &[("filter", "abcdefghij")],
            expect: Expect::Deny(&[(Pol, "parameter filter is 10 bytes long, more than the 8 rule \"ops\" allows")]),
            ..BASE
        },
        Case { name: "string with NUL", policy: Some(LIMITS), params: &[("filter", "a\0b")], expect: Expect::Deny(&[(Pol, "contains a NUL character")]), ..BASE },
        Case { name: "parameter given twice", policy: Some(LIMITS), params: &[("count", "1"), ("count", "2")], expect: Expect::Deny(&[(Pol, "parameter count is given more than once")]), ..BASE },
        Case {
            name: "rule limits of the wrong kind",
            policy: Some("[[rule]]\nname = \"ops\"\nusers = [\"alice\"]\nbundles = [\"net-*\"]\n[rule.parameters.count]\nmax_len = 4\n"),
            params: &[("count", "1")],
            expect: Expect::Deny(&[(Pol, "rule \"ops\" limits parameter count as if it were a string (max_len), but the bundle declares it as a long")]),
            ..BASE
        },
        Case {
            name: "unlimited parameter entry",
            policy: Some("[[rule]]\nname = \"ops\"\nusers = [\"alice\"]\nbundles = [\"net-*\"]\n[rule.parameters.filter]\n"),
            params: &[("filter", "anything at all")],
            ..BASE
        },
        Case {
            name: "a later rule allows what the first does not",
            policy: Some("[[rule]]\nname = \"plain\"\nusers = [\"alice\"]\nbundles = [\"net-*\"]\n[[rule]]\nname = \"tuned\"\nusers = [\"alice\"]\nbundles = [\"net-*\"]\nmax_duration = \"2h\"\n[rule.parameters.count]\n"),
            params: &[("count", "7")],
            expect: Expect::Allow { rule: Some("tuned"), max_duration: Some(7200) },
            ..BASE
        },
    ]);
}

#[test]
fn every_reason_is_collected() {
    check(&[
        Case {
            name: "signature, expiry, rule, parameter and kernel together",
            policy: Some("revoked_keys = [\"1111111111111111\"]\n[[rule]]\nname = \"io\"\nusers = [\"alice\"]\nbundles = [\"io-*\"]\nversions = \"^2\"\n"),
            params: &[("count", "x")],
            host_release: "6.1.0-56-amd64",
            now: EXPIRED_NOW,
            expect: Expect::Deny(&[
                (Signature, "revoked key 1111111111111111"),
                (Signature, "no signature"),
                (Pol, "expired"),
                (Pol, "invalid value for long parameter count"),
                (Pol, "does not cover bundle net-trace"),
                (Pol, "does not allow version 1.2.0"),
                (Kernel, "same version and ABI, flavour differs: cloud-amd64 vs amd64"),
            ]),
            ..BASE
        },
        Case {
            name: "parameter problems of every covering rule",
            policy: Some("[[rule]]\nname = \"a\"\nusers = [\"alice\"]\nbundles = [\"net-*\"]\n[[rule]]\nname = \"b\"\ngroups = [\"alice\"]\nbundles = [\"*\"]\n[rule.parameters.count]\nmax = 3\n[[rule]]\nname = \"c\"\nusers = [\"alice\"]\nbundles = [\"io\"]\n"),
            params: &[("count", "4")],
            expect: Expect::Deny(&[(Pol, "rule \"a\" does not let its users set parameter count"), (Pol, "count=4 is outside what rule \"b\" allows (at most 3)")]),
            ..BASE
        },
    ]);
}
