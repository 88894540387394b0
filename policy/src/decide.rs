//! The decision: may this invoker run this verified bundle, with these
//! parameters, on this host, now? Pure: everything it looks at is passed in.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use stap_bundle::keys::KeyId;
use stap_bundle::manifest::{Manifest, ParamType};

use crate::file::{ParamLimits, Policy, Rule, DEFAULT_POLICY_PATH, TRUSTED_KEYS_DIR};
use crate::kernel_match::{match_kernel, HostFacts, KernelMismatch};
use crate::params::{check_string, parse_long};

/// Who asks to run the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoker {
    /// Real uid; 0 is root.
    pub uid: u32,
    pub user: String,
    /// Group names, the primary group included.
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub manifest: &'a Manifest,
    /// sha256 hex of the manifest.json bytes.
    pub manifest_digest: &'a str,
    /// Key ids of the signatures that verified against trusted keys.
    pub signers: &'a [KeyId],
    pub invoker: &'a Invoker,
    pub host: &'a HostFacts,
    /// `NAME=VALUE` settings requested on the command line.
    pub params: &'a [(String, String)],
    /// Seconds since the Unix epoch.
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow(Allowed),
    /// Every reason found, not just the first, so one attempt shows all
    /// that needs fixing.
    Deny(Vec<DenyReason>),
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    /// Index into the manifest's kernels.
    pub kernel: usize,
    /// Longest the probes may run, from the allowing rule.
    pub max_duration: Option<Duration>,
    /// Label of the rule that allowed the run; `None` for root.
    pub rule: Option<String>,
}

/// Which part of the setup a denial is about, so callers can pick exit
/// codes and hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenialKind {
    Signature,
    Policy,
    Kernel,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyReason {
    NoTrustedSigner,
    RevokedKey {
        key: KeyId,
    },
    TooFewSigners {
        distinct: usize,
        required: usize,
    },
    NoPolicy,
    RevokedBundle {
        digest: String,
    },
    Expired {
        not_after: String,
    },
    UnreadableExpiry {
        not_after: String,
    },
    NoRuleForInvoker {
        user: String,
        groups: Vec<String>,
    },
    BundleNotCovered {
        rule: String,
        bundle: String,
        patterns: Vec<String>,
    },
    VersionNotAllowed {
        rule: String,
        version: String,
        requirement: String,
    },
    SignerNotAllowed {
        rule: String,
        allowed: Vec<KeyId>,
    },
    UndeclaredParameter {
        name: String,
        bundle: String,
        declared: Vec<String>,
    },
    DuplicateParameter {
        name: String,
    },
    InvalidParameterValue {
        name: String,
        ty: ParamType,
        problem: String,
    },
    ParameterNotAllowed {
        rule: String,
        name: String,
    },
    ParameterOutOfRange {
        rule: String,
        name: String,
        value: i64,
        min: Option<i64>,
        max: Option<i64>,
    },
    ParameterTooLong {
        rule: String,
        name: String,
        len: usize,
        max_len: usize,
    },
    /// The rule gives string limits for a long parameter or the reverse.
    ParameterLimitMismatch {
        rule: String,
        name: String,
        declared: ParamType,
    },
    NoMatchingKernel(KernelMismatch),
}

impl DenyReason {
    pub fn kind(&self) -> DenialKind {
        match self {
            DenyReason::NoTrustedSigner
            | DenyReason::RevokedKey { .. }
            | DenyReason::TooFewSigners { .. } => DenialKind::Signature,
            DenyReason::NoMatchingKernel(_) => DenialKind::Kernel,
            _ => DenialKind::Policy,
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DenyReason::NoTrustedSigner => write!(
                f,
                "no signature on the bundle is by a trusted, non-revoked key; have it signed by a key in \
                 {TRUSTED_KEYS_DIR} or in the policy's trusted_keys"
            ),
            DenyReason::RevokedKey { key } => {
                write!(f, "the bundle is signed by revoked key {key}, and that signature does not count")
            }
            DenyReason::TooFewSigners { distinct, required } => write!(
                f,
                "the bundle has {distinct} distinct trusted, non-revoked signer(s) but the policy requires \
                 {required} (min_signatures); have it signed by more trusted keys"
            ),
            DenyReason::NoPolicy => write!(
                f,
                "no policy file; only root may run bundles (an administrator can grant others access in \
                 {DEFAULT_POLICY_PATH})"
            ),
            DenyReason::RevokedBundle { digest } => write!(
                f,
                "the bundle (manifest sha256 {digest}) is revoked by the policy's revoked_bundles; ask its \
                 publisher for a replacement"
            ),
            DenyReason::Expired { not_after } => {
                write!(f, "the bundle expired at {not_after}; ask its publisher for a renewed bundle")
            }
            DenyReason::UnreadableExpiry { not_after } => write!(
                f,
                "the bundle's expiry `{not_after}` is not an RFC 3339 UTC timestamp, so it is treated as expired"
            ),
            DenyReason::NoRuleForInvoker { user, groups } => write!(
                f,
                "no policy rule applies to user {user} (groups: {}); ask an administrator for a rule naming \
                 this user or one of these groups",
                if groups.is_empty() { "none".to_string() } else { groups.join(", ") }
            ),
            DenyReason::BundleNotCovered { rule, bundle, patterns } => {
                write!(f, "{rule} does not cover bundle {bundle} (it covers {})", patterns.join(", "))
            }
            DenyReason::VersionNotAllowed { rule, version, requirement } => {
                write!(f, "{rule} does not allow version {version} of the bundle (it requires {requirement})")
            }
            DenyReason::SignerNotAllowed { rule, allowed } => write!(
                f,
                "{rule} requires a signature by one of the keys {}, and none of the bundle's trusted, \
                 non-revoked signers is among them",
                join(allowed)
            ),
            DenyReason::UndeclaredParameter { name, bundle, declared } => write!(
                f,
                "parameter {name} is not declared by bundle {bundle} (it declares: {})",
                if declared.is_empty() { "none".to_string() } else { declared.join(", ") }
            ),
            DenyReason::DuplicateParameter { name } => {
                write!(f, "parameter {name} is given more than once; give it once")
            }
            DenyReason::InvalidParameterValue { name, ty, problem } => {
                write!(f, "invalid value for {ty} parameter {name}: {problem}")
            }
            DenyReason::ParameterNotAllowed { rule, name } => write!(
                f,
                "{rule} does not let its users set parameter {name}; leave it unset or ask an administrator \
                 to add [rule.parameters.{name}]"
            ),
            DenyReason::ParameterOutOfRange { rule, name, value, min, max } => {
                let range = match (min, max) {
                    (Some(lo), Some(hi)) => format!("{lo} to {hi}"),
                    (Some(lo), None) => format!("at least {lo}"),
                    (None, Some(hi)) => format!("at most {hi}"),
                    (None, None) => "any value".to_string(),
                };
                write!(f, "parameter {name}={value} is outside what {rule} allows ({range})")
            }
            DenyReason::ParameterTooLong { rule, name, len, max_len } => {
                write!(f, "parameter {name} is {len} bytes long, more than the {max_len} {rule} allows")
            }
            DenyReason::ParameterLimitMismatch { rule, name, declared } => write!(
                f,
                "{rule} limits parameter {name} as if it were a {}, but the bundle declares it as a \
                 {declared}; an administrator needs to fix the rule",
                match declared {
                    ParamType::Long => "string (max_len)",
                    ParamType::String => "long (min/max)",
                }
            ),
            DenyReason::NoMatchingKernel(mismatch) => write!(f, "{mismatch}"),
        }
    }
}

fn join(keys: &[KeyId]) -> String {
    keys.iter()
        .map(KeyId::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A requested parameter that is declared and well typed.
struct TypedParam<'a> {
    name: &'a str,
    value: TypedValue,
}

enum TypedValue {
    Long(i64),
    /// Only the length matters to rules.
    String {
        len: usize,
    },
}

/// Decides whether `req` may run. `policy` is `None` when there is no
/// policy file: then only root may run bundles.
pub fn decide(policy: Option<&Policy>, req: &Request) -> Decision {
    let is_root = req.invoker.uid == 0;
    let mut reasons = Vec::new();

    let signers = check_signers(policy, req, is_root, &mut reasons);
    check_bundle_validity(policy, req, &mut reasons);
    let params = check_params(req, &mut reasons);

    let mut allowing_rule = None;
    if !is_root {
        match policy {
            None => reasons.push(DenyReason::NoPolicy),
            Some(policy) => match find_allowing_rule(policy, req, &signers, &params) {
                Ok(rule) => allowing_rule = Some(rule),
                Err(rule_reasons) => reasons.extend(rule_reasons),
            },
        }
    }

    let kernel = match_kernel(&req.manifest.kernels, req.host);
    match kernel {
        Ok(kernel) if reasons.is_empty() => Decision::Allow(Allowed {
            kernel,
            max_duration: allowing_rule.and_then(Rule::max_duration),
            rule: allowing_rule.map(Rule::label),
        }),
        Ok(_) => Decision::Deny(reasons),
        Err(mismatch) => {
            reasons.push(DenyReason::NoMatchingKernel(mismatch));
            Decision::Deny(reasons)
        }
    }
}

/// Returns the distinct signers that count: trusted and not revoked.
/// Revoked keys are only reported when their loss leaves too few signers.
fn check_signers<'a>(
    policy: Option<&Policy>,
    req: &Request<'a>,
    is_root: bool,
    reasons: &mut Vec<DenyReason>,
) -> BTreeSet<&'a KeyId> {
    let is_revoked = |key: &KeyId| policy.is_some_and(|p| p.is_key_revoked(key));
    let (revoked, counted): (BTreeSet<&KeyId>, BTreeSet<&KeyId>) =
        req.signers.iter().partition(|key| is_revoked(key));
    let required = match policy {
        Some(policy) if !is_root => policy.min_signatures(),
        _ => 1,
    };
    if counted.len() < required {
        reasons.extend(
            revoked
                .into_iter()
                .map(|key| DenyReason::RevokedKey { key: key.clone() }),
        );
        reasons.push(if counted.is_empty() {
            DenyReason::NoTrustedSigner
        } else {
            DenyReason::TooFewSigners {
                distinct: counted.len(),
                required,
            }
        });
    }
    counted
}

/// Revocation and expiry: they bind everyone, root included.
fn check_bundle_validity(policy: Option<&Policy>, req: &Request, reasons: &mut Vec<DenyReason>) {
    if policy.is_some_and(|p| p.is_bundle_revoked(req.manifest_digest)) {
        reasons.push(DenyReason::RevokedBundle {
            digest: req.manifest_digest.to_string(),
        });
    }
    let refuse_expired = policy.map_or(true, Policy::refuse_expired);
    if let (true, Some(not_after)) = (refuse_expired, &req.manifest.not_after) {
        match stap_bundle::time::parse_rfc3339(not_after) {
            Some(expiry) if req.now > expiry => reasons.push(DenyReason::Expired {
                not_after: not_after.clone(),
            }),
            Some(_) => {}
            None => reasons.push(DenyReason::UnreadableExpiry {
                not_after: not_after.clone(),
            }),
        }
    }
}

/// Checks what holds for every invoker: each parameter given once, declared
/// by the bundle and well typed. Returns the ones that passed, for rules.
fn check_params<'a>(req: &Request<'a>, reasons: &mut Vec<DenyReason>) -> Vec<TypedParam<'a>> {
    let mut seen = BTreeSet::new();
    let mut typed = Vec::new();
    for (name, value) in req.params {
        if !seen.insert(name.as_str()) {
            reasons.push(DenyReason::DuplicateParameter { name: name.clone() });
            continue;
        }
        let Some(declared) = req.manifest.parameters.iter().find(|p| p.name == *name) else {
            reasons.push(DenyReason::UndeclaredParameter {
                name: name.clone(),
                bundle: req.manifest.name.clone(),
                declared: req
                    .manifest
                    .parameters
                    .iter()
                    .map(|p| p.name.clone())
                    .collect(),
            });
            continue;
        };
        let value = match declared.ty {
            ParamType::Long => parse_long(value).map(TypedValue::Long),
            ParamType::String => {
                check_string(value).map(|()| TypedValue::String { len: value.len() })
            }
        };
        match value {
            Ok(value) => typed.push(TypedParam { name, value }),
            Err(problem) => reasons.push(DenyReason::InvalidParameterValue {
                name: name.clone(),
                ty: declared.ty,
                problem,
            }),
        }
    }
    typed
}

/// The first rule (in file order) that applies to the invoker, covers the
/// bundle and allows the parameters. Otherwise the reasons: those of the
/// rules that cover the bundle if any do (their parameter problems), else
/// why each applicable rule does not cover it.
fn find_allowing_rule<'p>(
    policy: &'p Policy,
    req: &Request,
    signers: &BTreeSet<&KeyId>,
    params: &[TypedParam],
) -> Result<&'p Rule, Vec<DenyReason>> {
    let invoker = req.invoker;
    let applicable: Vec<&Rule> = policy
        .rules()
        .iter()
        .filter(|rule| rule.applies_to(&invoker.user, &invoker.groups))
        .collect();
    if applicable.is_empty() {
        return Err(vec![DenyReason::NoRuleForInvoker {
            user: invoker.user.clone(),
            groups: invoker.groups.clone(),
        }]);
    }
    let mut coverage_reasons = Vec::new();
    let mut parameter_reasons = Vec::new();
    for rule in applicable {
        let not_covered = coverage_problems(rule, req.manifest, signers);
        if !not_covered.is_empty() {
            coverage_reasons.extend(not_covered);
            continue;
        }
        let refused = parameter_problems(rule, params);
        if refused.is_empty() {
            return Ok(rule);
        }
        parameter_reasons.extend(refused);
    }
    Err(if parameter_reasons.is_empty() {
        coverage_reasons
    } else {
        parameter_reasons
    })
}

fn coverage_problems(
    rule: &Rule,
    manifest: &Manifest,
    signers: &BTreeSet<&KeyId>,
) -> Vec<DenyReason> {
    let mut problems = Vec::new();
    if !rule
        .bundles()
        .iter()
        .any(|glob| glob.matches(&manifest.name))
    {
        problems.push(DenyReason::BundleNotCovered {
            rule: rule.describe(),
            bundle: manifest.name.clone(),
            patterns: rule
                .bundles()
                .iter()
                .map(|g| g.as_str().to_string())
                .collect(),
        });
    }
    if let Some(requirement) = rule.versions() {
        if !requirement.matches(&manifest.version) {
            problems.push(DenyReason::VersionNotAllowed {
                rule: rule.describe(),
                version: manifest.version.to_string(),
                requirement: requirement.to_string(),
            });
        }
    }
    if let Some(allowed) = rule.signers() {
        if !signers.iter().any(|key| allowed.contains(*key)) {
            problems.push(DenyReason::SignerNotAllowed {
                rule: rule.describe(),
                allowed: allowed.iter().cloned().collect(),
            });
        }
    }
    problems
}

fn parameter_problems(rule: &Rule, params: &[TypedParam]) -> Vec<DenyReason> {
    let mut problems = Vec::new();
    for param in params {
        let name = param.name.to_string();
        let Some(limits) = rule.parameter(param.name) else {
            problems.push(DenyReason::ParameterNotAllowed {
                rule: rule.describe(),
                name,
            });
            continue;
        };
        match (limits, &param.value) {
            (ParamLimits::Any, _) => {}
            (ParamLimits::Long { min, max }, TypedValue::Long(value)) => {
                if min.is_some_and(|lo| *value < lo) || max.is_some_and(|hi| *value > hi) {
                    problems.push(DenyReason::ParameterOutOfRange {
                        rule: rule.describe(),
                        name,
                        value: *value,
                        min,
                        max,
                    });
                }
            }
            (ParamLimits::String { max_len }, TypedValue::String { len }) => {
                if *len > max_len {
                    problems.push(DenyReason::ParameterTooLong {
                        rule: rule.describe(),
                        name,
                        len: *len,
                        max_len,
                    });
                }
            }
            (ParamLimits::Long { .. }, TypedValue::String { .. }) => {
                problems.push(DenyReason::ParameterLimitMismatch {
                    rule: rule.describe(),
                    name,
                    declared: ParamType::String,
                })
            }
            (ParamLimits::String { .. }, TypedValue::Long(_)) => {
                problems.push(DenyReason::ParameterLimitMismatch {
                    rule: rule.describe(),
                    name,
                    declared: ParamType::Long,
                })
            }
        }
    }
    problems
}
