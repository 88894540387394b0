//! The checks, in order: who asks, read the bundle, load trust and policy,
//! verify, decide. Each failure maps to its documented exit status. Then
//! either report the decision (`--dry-run`) or run the session.

use std::io::Read as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use stap_bundle::archive::{read_bundle, Limits};
use stap_bundle::verify::{verify, TrustStore, VerifiedBundle, VerifyError};
use stap_policy::{decide, Allowed, Decision, DenialKind, Policy, Request};

use crate::audit;
use crate::cli::Options;
use crate::exit::Status;
use crate::preflight::{self, HostState};
use crate::privilege::{Privilege, RunsAs};
use crate::records::{self, Reaped};

const TRUST_DIR: &str = "/etc/stap-pack/trusted.d";
const POLICY_FILE: &str = "/etc/stap-pack/policy.toml";

pub fn run(options: &Options, privilege: &Privilege) -> Status {
    if !options.dry_run {
        report_reaped(&records::reap(privilege, privilege.uid));
    }
    let approved = match check(options, privilege) {
        Ok(approved) => approved,
        Err((status, message)) => {
            if !message.is_empty() {
                eprintln!("stap-verify-run: {message}");
            }
            return status;
        }
    };
    if options.dry_run {
        report_dry_run(&approved);
        Status::Allowed
    } else {
        crate::session::run(&approved, options, privilege)
    }
}

/// `--reap`: unloads what killed runs left behind; fails if one could not be.
pub fn reap(privilege: &Privilege) -> Status {
    let reaped = records::reap(privilege, privilege.uid);
    if reaped.is_empty() {
        eprintln!("stap-verify-run: nothing to reap");
    }
    report_reaped(&reaped)
}

fn report_reaped(reaped: &[Reaped]) -> Status {
    let mut status = Status::Allowed;
    for outcome in reaped {
        match outcome {
            Reaped::Unloaded(r) => eprintln!(
                "stap-verify-run: unloaded module {}, left loaded by a killed run of {}",
                r.module,
                r.who()
            ),
            Reaped::Stale(r) => eprintln!(
                "stap-verify-run: removed the record of module {} (no longer loaded) of {}",
                r.module,
                r.who()
            ),
            Reaped::Failed(r, e) => {
                eprintln!(
                    "stap-verify-run: cannot unload module {}, left by {}: {e}",
                    r.module,
                    r.who()
                );
                status = Status::RunFailed;
            }
        }
    }
    status
}

/// A failure's status and message; an empty message was printed already.
type Failure = (Status, String);

/// What the checks allowed: the verified bundle and the policy's decision.
pub struct Approved {
    pub verified: VerifiedBundle,
    pub allowed: Allowed,
    /// The kernel's parameter string for init_module.
    pub module_params: std::ffi::CString,
    /// Who runs what, for the dry-run report.
    subject: String,
    /// target(): the `-x` process (a `-c` command's pid is added at load).
    pub target_pid: Option<u32>,
}

fn check(options: &Options, privilege: &Privilege) -> Result<Approved, Failure> {
    let invoker = crate::host::invoker().map_err(|e| (Status::Config, e))?;
    if invoker.uid != 0 {
        if let Some(option) = options.root_only_used() {
            return Err((
                Status::Usage,
                format!("{option} is reserved to root; the runner uses its fixed configuration"),
            ));
        }
    }
    let mut host = crate::host::facts().map_err(|e| (Status::Config, e))?;
    if let Some(r) = &options.kernel_release {
        host.release = r.clone();
        // An assumed release says nothing about the build: match by release
        // unless a version is assumed too.
        host.version = options.kernel_version.clone();
    }
    if let Some(v) = &options.kernel_version {
        host.version = Some(v.clone());
    }
    if let Some(m) = &options.machine {
        host.machine = m.clone();
    }

    let limits = Limits::default();
    let bytes = read_capped(&options.bundle, limits.max_bundle_bytes).map_err(|e| {
        (
            Status::UnreadableBundle,
            format!("cannot read bundle {}: {e}", options.bundle.display()),
        )
    })?;
    let unverified = read_bundle(&bytes, &limits).map_err(|e| {
        (
            Status::UnreadableBundle,
            format!("{} is not a valid bundle: {e}", options.bundle.display()),
        )
    })?;

    let policy = load_policy(options, privilege)?;
    let trust = load_trust(options, policy.as_ref(), privilege)?;
    // Nothing of an unverified bundle is worth repeating: name its path.
    let claimed = format!(
        "bundle file {} for user {} (uid {})",
        options.bundle.display(),
        invoker.user,
        invoker.uid
    );
    let verified = verify(unverified, &trust).map_err(|e| {
        let status = match e {
            VerifyError::Manifest(_) => Status::UnreadableBundle,
            _ => Status::Signature,
        };
        audit::denied(&claimed, &[e.to_string()]);
        (status, String::new())
    })?;

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let m = &verified.manifest;
    let decision = decide(
        policy.as_ref(),
        &Request {
            manifest: m,
            manifest_digest: &verified.digest,
            signers: &verified.signers,
            invoker: &invoker,
            host: &host,
            params: &options.params,
            now,
        },
    );
    let signers = verified
        .signers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let subject = format!(
        "bundle {} {} (manifest sha256 {}) for user {} (uid {}) on kernel {} ({}); signed by {signers}",
        m.name, m.version, verified.digest, invoker.user, invoker.uid, host.release, host.machine
    );
    match decision {
        Decision::Allow(allowed) => {
            let deny = |message: String, status: Status| {
                audit::denied(&subject, &[message]);
                (status, String::new())
            };
            let module_params = crate::params::module_params(&m.parameters, &options.params)
                .map_err(|message| deny(message, Status::PolicyDenied))?;
            if let Some(pid) = options.target_pid {
                check_target(pid, invoker.uid).map_err(|m| deny(m, Status::PolicyDenied))?;
            }
            let kernel = &m.kernels[allowed.kernel];
            let state = HostState::read(&host.release);
            preflight::check(verified.module(kernel), kernel, &state)
                .map_err(|(status, message)| deny(message, status))?;
            let why = match &allowed.rule {
                Some(rule) => format!("policy rule {rule}"),
                None => "the real user is root".to_string(),
            };
            audit::allowed(&subject, &why, options.quiet || options.dry_run);
            Ok(Approved {
                verified,
                allowed,
                module_params,
                subject,
                target_pid: options.target_pid,
            })
        }
        Decision::Deny(reasons) => {
            let texts: Vec<String> = reasons.iter().map(ToString::to_string).collect();
            audit::denied(&subject, &texts);
            // The most fundamental refusal decides the status.
            let kinds: Vec<DenialKind> = reasons.iter().map(|r| r.kind()).collect();
            let status = if kinds.contains(&DenialKind::Signature) {
                Status::Signature
            } else if kinds.contains(&DenialKind::Policy) {
                Status::PolicyDenied
            } else {
                Status::NoMatchingKernel
            };
            Err((status, String::new()))
        }
    }
}

fn report_dry_run(approved: &Approved) {
    let allowed = &approved.allowed;
    let kernel = &approved.verified.manifest.kernels[allowed.kernel];
    println!("ALLOWED: {}", approved.subject);
    println!(
        "  kernel entry {} module {} ({})",
        kernel.release, kernel.module_name, kernel.module_path
    );
    match &allowed.rule {
        Some(rule) => println!("  allowed by policy rule {rule}"),
        None => println!("  allowed because the real user is root"),
    }
    if let Some(d) = allowed.max_duration {
        println!("  maximum run time {}s", d.as_secs());
    }
    println!("  dry run: nothing was loaded");
}

/// Opens without following a final symlink, refuses anything but a regular
/// file, and reads at most `cap` bytes into memory: every later check works
/// on these bytes, never on the path again.
fn read_capped(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if meta.len() > cap {
        return Err(std::io::Error::other(format!(
            "{} bytes is more than the {cap} allowed",
            meta.len()
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(std::io::Error::other(format!(
            "more than the {cap} bytes allowed"
        )));
    }
    Ok(bytes)
}

/// `-x PID`: the caller's own process (root: any).
fn check_target(pid: u32, uid: u32) -> Result<(), String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|_| format!("-x {pid}: no such process"))?;
    let owner: Option<u32> = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next()?.parse().ok());
    match owner {
        Some(owner) if uid == 0 || owner == uid => Ok(()),
        Some(owner) => Err(format!(
            "-x {pid}: the process belongs to uid {owner}; only your own processes can be targets"
        )),
        None => Err(format!("-x {pid}: cannot read the process's owner")),
    }
}

/// When setuid, configuration must be root's alone: a file or directory
/// another user could change would let that user decide what runs.
fn check_root_owned(path: &Path, privilege: &Privilege) -> Result<(), Failure> {
    if privilege.runs_as != RunsAs::Setuid {
        return Ok(());
    }
    let mut checked = Some(path);
    while let Some(current) = checked {
        let meta = match std::fs::symlink_metadata(current) {
            Ok(meta) => meta,
            Err(_) if current != path => break,
            Err(e) => return Err((Status::Config, format!("{}: {e}", current.display()))),
        };
        // A sticky directory (like `/tmp`) lets nobody but an entry's owner
        // rename or remove it, so root's entries in it stay root's.
        let sticky_dir = current != path && meta.is_dir() && meta.mode() & 0o1000 != 0;
        if meta.uid() != 0 || (meta.mode() & 0o022 != 0 && !sticky_dir) {
            return Err((
                Status::Config,
                format!(
                    "{} is owned by uid {} with mode {:o}: configuration used by the setuid \
                     runner must be owned by root and writable by root alone",
                    current.display(),
                    meta.uid(),
                    meta.mode() & 0o7777
                ),
            ));
        }
        checked = current.parent().filter(|p| !p.as_os_str().is_empty());
    }
    Ok(())
}

fn load_policy(options: &Options, privilege: &Privilege) -> Result<Option<Policy>, Failure> {
    let path = options
        .policy
        .clone()
        .unwrap_or_else(|| PathBuf::from(POLICY_FILE));
    if path.exists() {
        check_root_owned(&path, privilege)?;
    }
    // Root may keep the policy unreadable to others.
    match privilege.as_root(|| Policy::load(&path)) {
        Ok(p) => Ok(Some(p)),
        // No default policy file: only root may run anything. An explicit
        // --policy that is missing is an error.
        Err(_) if options.policy.is_none() && !path.exists() => Ok(None),
        Err(e) => Err((Status::Config, format!("policy {}: {e}", path.display()))),
    }
}

fn load_trust(
    options: &Options,
    policy: Option<&Policy>,
    privilege: &Privilege,
) -> Result<TrustStore, Failure> {
    let mut paths: Vec<PathBuf> = if options.trust.is_empty() {
        let mut defaults = vec![PathBuf::from(TRUST_DIR)];
        defaults.extend(
            policy
                .map(|p| p.trusted_keys().to_vec())
                .unwrap_or_default(),
        );
        defaults.retain(|p| p.exists() || p.as_os_str() != TRUST_DIR);
        defaults
    } else {
        options.trust.clone()
    };
    paths.dedup();
    let mut trust = TrustStore::new();
    for path in &paths {
        check_root_owned(path, privilege)?;
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| {
                (
                    Status::Config,
                    format!("trust store {}: {e}", path.display()),
                )
            })?;
            for entry in entries.flatten() {
                check_root_owned(&entry.path(), privilege)?;
            }
        }
        privilege
            .as_root(|| trust.add_path(path))
            .map_err(|e| (Status::Config, format!("trust store: {e}")))?;
    }
    if trust.is_empty() {
        return Err((
            Status::Signature,
            format!(
                "no trusted keys (looked in {}); install the signers' public keys there",
                list(&paths)
            ),
        ));
    }
    Ok(trust)
}

fn list(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return TRUST_DIR.to_string();
    }
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
