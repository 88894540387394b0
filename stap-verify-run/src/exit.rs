//! Exit statuses: one per kind of outcome, documented in the README and in
//! `--help`, so scripts around the runner can tell refusals apart.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The bundle may run (with `--dry-run`: would run); a run ended normally.
    Allowed = 0,
    /// Trust store or policy file unreadable or invalid; host facts unavailable.
    Config = 1,
    /// Bad command line, or an option reserved to root.
    Usage = 2,
    /// The bundle cannot be read or is not a well-formed bundle.
    UnreadableBundle = 3,
    /// Unsigned, untrusted, revoked or bad signature, or payload altered after signing.
    Signature = 4,
    /// Policy refuses this user, bundle or parameters (revoked or expired bundles too).
    PolicyDenied = 5,
    /// No kernel in the bundle matches the running kernel.
    NoMatchingKernel = 6,
    /// The module could not be loaded (already loaded, refused by the
    /// kernel) or the run failed (control file, output file, protocol).
    RunFailed = 7,
    /// The script ended with an error (more errors than MAXERRORS).
    ScriptError = 8,
    /// A second interrupt forced the unload: end probes may not have run
    /// and output may be missing.
    Forced = 9,
}

impl From<Status> for std::process::ExitCode {
    fn from(s: Status) -> Self {
        std::process::ExitCode::from(s as u8)
    }
}
