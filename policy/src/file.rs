//! The policy file: TOML read strictly, then every value validated so that a
//! mistake is reported when the file is loaded, not when a user is refused.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use stap_bundle::keys::KeyId;
use stap_bundle::manifest::{is_identifier, is_sha256_hex};

use crate::duration::DurationSetting;
use crate::glob::Glob;
use crate::params::MAX_STRING_PARAM_BYTES;

/// Where the runner looks for the policy.
pub const DEFAULT_POLICY_PATH: &str = "/etc/stap-pack/policy.toml";
/// Trusted public keys (`*.pub`) always loaded, in addition to `trusted_keys`.
pub const TRUSTED_KEYS_DIR: &str = "/etc/stap-pack/trusted.d";
/// Largest policy file read; real ones are a few kilobytes.
pub const MAX_POLICY_BYTES: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("policy file {path} is {size} bytes, more than the {MAX_POLICY_BYTES} allowed; is it the right file?")]
    TooLarge { path: PathBuf, size: u64 },
    #[error("policy is not valid: {0}; fix the file (format: docs/policy.md)")]
    Syntax(String),
    #[error("policy is not valid: {0}")]
    Invalid(String),
    #[error("policy file {path}: {error}")]
    InFile {
        path: PathBuf,
        error: Box<PolicyError>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyToml {
    #[serde(default)]
    trusted_keys: Vec<PathBuf>,
    #[serde(default = "one")]
    min_signatures: i64,
    #[serde(default)]
    revoked_keys: Vec<String>,
    #[serde(default)]
    revoked_bundles: Vec<String>,
    #[serde(default = "yes")]
    refuse_expired: bool,
    #[serde(default, rename = "rule")]
    rules: Vec<RuleToml>,
}

fn one() -> i64 {
    1
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleToml {
    name: Option<String>,
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    bundles: Vec<String>,
    versions: Option<String>,
    signers: Option<Vec<String>>,
    max_duration: Option<DurationSetting>,
    #[serde(default)]
    parameters: BTreeMap<String, LimitsToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsToml {
    min: Option<i64>,
    max: Option<i64>,
    max_len: Option<usize>,
}

/// A loaded, validated policy. Only [`Policy::from_toml`] and
/// [`Policy::load`] make one, so every value in it has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    trusted_keys: Vec<PathBuf>,
    min_signatures: usize,
    revoked_keys: BTreeSet<KeyId>,
    revoked_bundles: BTreeSet<String>,
    refuse_expired: bool,
    rules: Vec<Rule>,
}

/// One `[[rule]]`: who it applies to, which bundles it covers, and what
/// those users may set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    name: Option<String>,
    /// 1-based position in the file, names unnamed rules in messages.
    position: usize,
    users: BTreeSet<String>,
    groups: BTreeSet<String>,
    bundles: Vec<Glob>,
    versions: Option<semver::VersionReq>,
    signers: Option<BTreeSet<KeyId>>,
    max_duration: Option<Duration>,
    parameters: BTreeMap<String, ParamLimits>,
}

/// What a rule lets its users set a parameter to. The kind must agree with
/// the parameter's type in the manifest, which is checked when deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamLimits {
    /// No limit beyond the parameter's type.
    Any,
    Long {
        min: Option<i64>,
        max: Option<i64>,
    },
    String {
        max_len: usize,
    },
}

impl Policy {
    /// Reads and validates a policy file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        use std::io::Read as _;
        let read_error = |source| PolicyError::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read_error)?;
        let mut text = String::new();
        // Read one byte past the limit to tell "at the limit" from "over it".
        file.take(MAX_POLICY_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(read_error)?;
        let size = text.len() as u64;
        if size > MAX_POLICY_BYTES {
            return Err(PolicyError::TooLarge {
                path: path.to_path_buf(),
                size,
            });
        }
        Policy::from_toml(&text).map_err(|e| PolicyError::InFile {
            path: path.to_path_buf(),
            error: Box::new(e),
        })
    }

    /// Parses and validates policy text.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        let raw: PolicyToml =
            basic_toml::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        let invalid = PolicyError::Invalid;

        for path in &raw.trusted_keys {
            if !path.is_absolute() {
                return Err(invalid(format!(
                    "trusted_keys entry `{}` is a relative path; write it absolute so it does not depend on \
                     the directory the runner is started from",
                    path.display()
                )));
            }
        }
        let min_signatures = usize::try_from(raw.min_signatures)
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                invalid(format!(
                    "min_signatures = {} must be at least 1",
                    raw.min_signatures
                ))
            })?;
        let revoked_keys = parse_key_ids(&raw.revoked_keys, "revoked_keys").map_err(invalid)?;
        let mut revoked_bundles = BTreeSet::new();
        for digest in &raw.revoked_bundles {
            let lower = digest.to_ascii_lowercase();
            if !is_sha256_hex(&lower) {
                return Err(invalid(format!(
                    "revoked_bundles entry `{digest}` is not a sha256 digest (64 hex digits: the sha256 \
                     of the bundle's manifest.json)"
                )));
            }
            revoked_bundles.insert(lower);
        }

        let mut rules = Vec::with_capacity(raw.rules.len());
        let mut names = BTreeSet::new();
        for (index, rule) in raw.rules.into_iter().enumerate() {
            let rule = Rule::from_toml(rule, index + 1).map_err(invalid)?;
            if let Some(name) = &rule.name {
                if !names.insert(name.clone()) {
                    return Err(invalid(format!(
                        "two rules are named \"{name}\"; rule names must be unique"
                    )));
                }
            }
            rules.push(rule);
        }

        Ok(Policy {
            trusted_keys: raw.trusted_keys,
            min_signatures,
            revoked_keys,
            revoked_bundles,
            refuse_expired: raw.refuse_expired,
            rules,
        })
    }

    /// Extra trusted key files or directories of `*.pub`, besides
    /// [`TRUSTED_KEYS_DIR`].
    pub fn trusted_keys(&self) -> &[PathBuf] {
        &self.trusted_keys
    }

    /// Distinct trusted, non-revoked signers a bundle needs (not for root).
    pub fn min_signatures(&self) -> usize {
        self.min_signatures
    }

    pub fn is_key_revoked(&self, key: &KeyId) -> bool {
        self.revoked_keys.contains(key)
    }

    /// `manifest_digest` is the sha256 hex of the bundle's manifest.json.
    pub fn is_bundle_revoked(&self, manifest_digest: &str) -> bool {
        self.revoked_bundles
            .contains(&manifest_digest.to_ascii_lowercase())
    }

    pub fn refuse_expired(&self) -> bool {
        self.refuse_expired
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

impl Rule {
    fn from_toml(raw: RuleToml, position: usize) -> Result<Rule, String> {
        let label = match &raw.name {
            Some(name) => format!("rule \"{name}\""),
            None => format!("rule #{position}"),
        };
        let problem = |what: String| format!("{label}: {what}");

        if raw.name.as_deref() == Some("") {
            return Err(problem(
                "name is empty; give a label or leave name out".into(),
            ));
        }
        if raw.users.is_empty() && raw.groups.is_empty() {
            return Err(problem("applies to nobody; list users or groups".into()));
        }
        if let Some(empty) = raw
            .users
            .iter()
            .chain(&raw.groups)
            .find(|n| n.is_empty() || n.contains(char::is_whitespace))
        {
            return Err(problem(format!("`{empty}` is not a user or group name")));
        }
        if raw.bundles.is_empty() {
            return Err(problem(
                "bundles is empty; list the bundle names or patterns (e.g. \"net-*\") it covers"
                    .into(),
            ));
        }
        let bundles = raw
            .bundles
            .iter()
            .map(|p| Glob::parse(p).map_err(|why| problem(format!("bundle pattern `{p}`: {why}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let versions = raw
            .versions
            .as_deref()
            .map(|req| {
                semver::VersionReq::parse(req)
                    .map_err(|e| problem(format!("versions = \"{req}\" is not a semver requirement (e.g. \">=1.2, <2\"): {e}")))
            })
            .transpose()?;
        let signers = raw
            .signers
            .as_deref()
            .map(|ids| {
                let ids = parse_key_ids(ids, "signers").map_err(&problem)?;
                if ids.is_empty() {
                    return Err(problem(
                        "signers is empty, so no bundle could match; list key ids or leave it out"
                            .into(),
                    ));
                }
                Ok(ids)
            })
            .transpose()?;
        let max_duration = raw
            .max_duration
            .as_ref()
            .map(|d| {
                d.to_duration()
                    .map_err(|why| problem(format!("max_duration: {why}")))
            })
            .transpose()?;
        let mut parameters = BTreeMap::new();
        for (name, limits) in raw.parameters {
            if !is_identifier(&name) {
                return Err(problem(format!(
                    "parameter `{name}` is not a valid parameter name"
                )));
            }
            let limits = ParamLimits::from_toml(&limits)
                .map_err(|why| problem(format!("parameter `{name}`: {why}")))?;
            parameters.insert(name, limits);
        }

        Ok(Rule {
            name: raw.name,
            position,
            users: raw.users.into_iter().collect(),
            groups: raw.groups.into_iter().collect(),
            bundles,
            versions,
            signers,
            max_duration,
            parameters,
        })
    }

    /// The rule's name, or `#N` (its position in the file) when it has none.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => name.clone(),
            None => format!("#{}", self.position),
        }
    }

    /// How messages refer to the rule: `rule "name"` or `rule #N`.
    pub fn describe(&self) -> String {
        match &self.name {
            Some(name) => format!("rule \"{name}\""),
            None => format!("rule #{}", self.position),
        }
    }

    /// Whether the rule applies to a user with these group names.
    pub fn applies_to(&self, user: &str, groups: &[String]) -> bool {
        self.users.contains(user) || groups.iter().any(|g| self.groups.contains(g))
    }

    pub fn bundles(&self) -> &[Glob] {
        &self.bundles
    }

    pub fn versions(&self) -> Option<&semver::VersionReq> {
        self.versions.as_ref()
    }

    pub fn signers(&self) -> Option<&BTreeSet<KeyId>> {
        self.signers.as_ref()
    }

    pub fn max_duration(&self) -> Option<Duration> {
        self.max_duration
    }

    /// Limits for a parameter; `None` means users of this rule may not set it.
    pub fn parameter(&self, name: &str) -> Option<ParamLimits> {
        self.parameters.get(name).copied()
    }
}

impl ParamLimits {
    fn from_toml(raw: &LimitsToml) -> Result<ParamLimits, String> {
        match (raw.min, raw.max, raw.max_len) {
            (None, None, None) => Ok(ParamLimits::Any),
            (min, max, None) => match (min, max) {
                (Some(lo), Some(hi)) if lo > hi => Err(format!("min {lo} is greater than max {hi}")),
                _ => Ok(ParamLimits::Long { min, max }),
            },
            (None, None, Some(max_len)) if max_len > MAX_STRING_PARAM_BYTES => Err(format!(
                "max_len {max_len} is more than the {MAX_STRING_PARAM_BYTES} bytes any string parameter may have"
            )),
            (None, None, Some(max_len)) => Ok(ParamLimits::String { max_len }),
            _ => Err("min/max limit long parameters and max_len limits string parameters; use one kind".into()),
        }
    }
}

/// Key ids as written in the file; upper-case hex is accepted and folded.
fn parse_key_ids(ids: &[String], field: &str) -> Result<BTreeSet<KeyId>, String> {
    ids.iter()
        .map(|id| {
            KeyId::parse(&id.to_ascii_lowercase()).ok_or_else(|| {
                format!("{field} entry `{id}` is not a key id (16 hex digits naming a public key)")
            })
        })
        .collect()
}
