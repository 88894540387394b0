//! Who may run which stap-pack bundle, with which parameters, on which
//! kernel.
//!
//! [`Policy`] is the administrator's policy file, validated when loaded.
//! [`decide`] is the decision for one run request; it does no I/O and reads
//! no clock, so it is tested exhaustively. [`match_kernel`] picks the
//! bundle's kernel for the host and explains near misses. The format and
//! the semantics are described in `docs/policy.md`.
#![forbid(unsafe_code)]

mod decide;
mod duration;
mod file;
mod glob;
mod kernel_match;
mod params;

pub use decide::{decide, Allowed, Decision, DenialKind, DenyReason, Invoker, Request};
pub use file::{
    ParamLimits, Policy, PolicyError, Rule, DEFAULT_POLICY_PATH, MAX_POLICY_BYTES, TRUSTED_KEYS_DIR,
};
pub use glob::Glob;
pub use kernel_match::{match_kernel, HostFacts, KernelMismatch, NearMiss};
pub use params::{check_string, parse_long, MAX_STRING_PARAM_BYTES};
