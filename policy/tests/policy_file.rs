//! Loading policy files: what is accepted, and the error for each mistake.

use std::time::Duration;

use stap_bundle::keys::KeyId;
use stap_policy::{ParamLimits, Policy, PolicyError};

#[test]
fn defaults() {
    let policy = Policy::from_toml("").unwrap();
    assert_eq!(policy.min_signatures(), 1);
    assert!(policy.refuse_expired());
    assert!(policy.rules().is_empty());
    assert!(policy.trusted_keys().is_empty());
}

#[test]
fn full_rule() {
    let policy = Policy::from_toml(
        r#"
trusted_keys = ["/etc/stap-pack/extra.pub", "/srv/keys"]
min_signatures = 2
revoked_keys = ["ABCDEF0123456789"]
revoked_bundles = ["0000000000000000000000000000000000000000000000000000000000000000"]
refuse_expired = false

[[rule]]
name = "net"
users = ["alice"]
groups = ["tracing"]
bundles = ["net-*"]
versions = ">=1.2"
signers = ["1111111111111111"]
max_duration = "2h"
[rule.parameters.count]
min = -5
[rule.parameters.filter]
max_len = 64
"#,
    )
    .unwrap();
    assert_eq!(policy.trusted_keys().len(), 2);
    assert_eq!(policy.min_signatures(), 2);
    assert!(!policy.refuse_expired());
    assert!(policy.is_key_revoked(&KeyId::parse("abcdef0123456789").unwrap()));
    assert!(policy.is_bundle_revoked(&"0".repeat(64)));
    let rule = &policy.rules()[0];
    assert_eq!(rule.label(), "net");
    assert!(rule.applies_to("bob", &["tracing".to_string()]));
    assert!(!rule.applies_to("bob", &["bob".to_string()]));
    assert_eq!(rule.max_duration(), Some(Duration::from_secs(7200)));
    assert_eq!(
        rule.parameter("count"),
        Some(ParamLimits::Long {
            min: Some(-5),
            max: None
        })
    );
    assert_eq!(
        rule.parameter("filter"),
        Some(ParamLimits::String { max_len: 64 })
    );
    assert_eq!(rule.parameter("other"), None);
}

/// Each row: a policy with one mistake and a piece of the error message.
#[test]
fn errors_table() {
    const RULE: &str = "[[rule]]\nname = \"r\"\nusers = [\"alice\"]\nbundles = [\"net-*\"]\n";
    let rows: &[(&str, &str)] = &[
        ("trusted_key = []", "unknown field `trusted_key`"),
        (
            "[[rule]]\nuser = [\"a\"]\nbundles = [\"x\"]\n",
            "unknown field `user`",
        ),
        (
            &format!("{RULE}[rule.parameters.count]\nmaximum = 3\n"),
            "unknown field `maximum`",
        ),
        ("refuse_expired = \"yes\"", "invalid type"),
        (
            "min_signatures = 0",
            "min_signatures = 0 must be at least 1",
        ),
        (
            "trusted_keys = [\"keys.d\"]",
            "trusted_keys entry `keys.d` is a relative path",
        ),
        (
            "revoked_keys = [\"xyz\"]",
            "revoked_keys entry `xyz` is not a key id",
        ),
        ("revoked_keys = [\"11111111111111111\"]", "is not a key id"),
        (
            "revoked_bundles = [\"abc\"]",
            "revoked_bundles entry `abc` is not a sha256 digest",
        ),
        ("[[rule]]\nusers = [\"a\"]\n", "missing field `bundles`"),
        (
            "[[rule]]\nusers = [\"a\"]\nbundles = []\n",
            "rule #1: bundles is empty",
        ),
        (
            "[[rule]]\nbundles = [\"x\"]\n",
            "rule #1: applies to nobody",
        ),
        (
            "[[rule]]\nusers = [\"\"]\nbundles = [\"x\"]\n",
            "is not a user or group name",
        ),
        (
            "[[rule]]\nname = \"\"\nusers = [\"a\"]\nbundles = [\"x\"]\n",
            "name is empty",
        ),
        (
            "[[rule]]\nname = \"r\"\nusers = [\"a\"]\nbundles = [\"net/*\"]\n",
            "rule \"r\": bundle pattern `net/*`: character `/` can never match",
        ),
        (
            &format!("{RULE}versions = \">>1\"\n"),
            "rule \"r\": versions = \">>1\" is not a semver requirement",
        ),
        (
            &format!("{RULE}signers = [\"nope\"]\n"),
            "rule \"r\": signers entry `nope` is not a key id",
        ),
        (&format!("{RULE}signers = []\n"), "signers is empty"),
        (
            &format!("{RULE}max_duration = \"10x\"\n"),
            "rule \"r\": max_duration: `10x` needs a unit",
        ),
        (
            &format!("{RULE}max_duration = -5\n"),
            "max_duration: -5 seconds is negative",
        ),
        (&format!("{RULE}max_duration = \"0s\"\n"), "is zero"),
        (
            &format!("{RULE}max_duration = true\n"),
            "whole seconds or a string",
        ),
        (
            &format!("{RULE}[rule.parameters.count]\nmin = 5\nmax = 1\n"),
            "parameter `count`: min 5 is greater than max 1",
        ),
        (
            &format!("{RULE}[rule.parameters.count]\nmin = 5\nmax_len = 1\n"),
            "use one kind",
        ),
        (
            &format!("{RULE}[rule.parameters.text]\nmax_len = 600\n"),
            "max_len 600 is more than the 511",
        ),
        (
            &format!("{RULE}[rule.parameters.text]\nmax_len = -1\n"),
            "invalid value",
        ),
        (
            &format!("{RULE}[rule.parameters.\"9lives\"]\n"),
            "parameter `9lives` is not a valid parameter name",
        ),
        (&format!("{RULE}{RULE}"), "two rules are named \"r\""),
        ("rule = 3", "invalid type"),
        ("[[rule]", "expected"),
    ];
    for (text, expected) in rows {
        let error = Policy::from_toml(text).expect_err(text).to_string();
        assert!(
            error.contains(expected),
            "policy:\n{text}\nerror `{error}` lacks `{expected}`"
        );
    }
}

#[test]
fn load_names_the_file() {
    let dir = std::env::temp_dir().join(format!("stap-policy-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("policy.toml");
    std::fs::write(&path, "min_signatures = 0\n").unwrap();
    let error = Policy::load(&path).unwrap_err();
    assert!(matches!(error, PolicyError::InFile { .. }));
    assert!(
        error
            .to_string()
            .starts_with(&format!("policy file {}: ", path.display())),
        "{error}"
    );
    std::fs::write(&path, "min_signatures = 3\n").unwrap();
    assert_eq!(Policy::load(&path).unwrap().min_signatures(), 3);
    let missing = Policy::load(&dir.join("absent.toml")).unwrap_err();
    assert!(matches!(missing, PolicyError::Read { .. }), "{missing}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn packaged_example_is_valid() {
    let policy = Policy::from_toml(include_str!("../../packaging/policy.example.toml")).unwrap();
    assert!(!policy.rules().is_empty());
}
