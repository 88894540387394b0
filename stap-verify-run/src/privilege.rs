//! Who the runner acts as. Installed setuid root, it starts with euid 0 and
//! the caller's real ids; before anything else it checks that state,
//! rebuilds the environment from scratch and drops to the caller's ids.
//! Root comes back only inside [`Privilege::as_root`], for the steps that
//! need it: loading, starting, stopping and unloading the module, opening
//! its control file, and the run records in [`RUN_DIR`].
//!
//! The saved set-user-ID stays 0 so that `as_root` can raise the effective
//! uid again; effective capabilities follow the effective uid, so between
//! privileged steps the process holds none.

use std::ffi::OsString;

use nix::sys::stat::{umask, Mode};
use nix::unistd::{getresgid, getresuid, seteuid, Gid, Uid, User};

/// The only `PATH` the runner itself has (it runs no program by name, but
/// libraries might).
const SAFE_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";
/// Caller variables a `-c` command (which runs as the caller) keeps.
const COMMAND_KEEPS: [&str; 4] = ["TERM", "LANG", "LC_ALL", "TZ"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunsAs {
    /// The real user is root: everything is allowed.
    Root,
    /// Setuid root, called by another user: root only inside `as_root`.
    Setuid,
    /// Neither: checks and `--dry-run` work, loading a module does not.
    Unprivileged,
}

pub struct Privilege {
    pub runs_as: RunsAs,
    pub uid: Uid,
    pub gid: Gid,
    /// The caller's umask, for the files created as the caller.
    pub caller_umask: Mode,
    /// The environment a `-c` command gets (see [`command_environment`]).
    pub command_env: Vec<(OsString, OsString)>,
}

impl Privilege {
    /// The self-check and the drop. Must run first, before any other code
    /// reads the environment or opens a file.
    pub fn establish() -> Result<Privilege, String> {
        let uids = getresuid().map_err(|e| format!("cannot read the process's user ids: {e}"))?;
        let gids = getresgid().map_err(|e| format!("cannot read the process's group ids: {e}"))?;
        let runs_as = if uids.real.is_root() {
            RunsAs::Root
        } else if uids.effective.is_root() {
            RunsAs::Setuid
        } else {
            RunsAs::Unprivileged
        };
        // A setgid install or a half-dropped state is not what this
        // program is made for: refuse rather than guess.
        if gids.effective != gids.real && !uids.real.is_root() {
            return Err(format!(
                "the runner runs with effective group {} but real group {}: it must be installed \
                 setuid root and not setgid (chmod 4750, owner root, group stapusr)",
                gids.effective, gids.real
            ));
        }
        let command_env = command_environment(uids.real);
        rebuild_environment();
        // Files the runner creates as root (run records) get fixed modes;
        // the caller's umask still applies to the files created as the caller.
        let caller_umask = umask(Mode::from_bits_truncate(0o022));
        if runs_as == RunsAs::Setuid {
            seteuid(uids.real)
                .map_err(|e| format!("cannot drop to the caller's user id {}: {e}", uids.real))?;
        }
        Ok(Privilege {
            runs_as,
            uid: uids.real,
            gid: gids.real,
            caller_umask,
            command_env,
        })
    }

    /// Runs `step` with euid 0 (when setuid), then drops again. Failing to
    /// drop again ends the process: no later step may run as root by
    /// accident.
    pub fn as_root<T>(&self, step: impl FnOnce() -> T) -> T {
        if self.runs_as != RunsAs::Setuid {
            return step();
        }
        if let Err(e) = seteuid(Uid::from_raw(0)) {
            // Without root the privileged step fails on its own, with the
            // kernel's reason; say why it is not root.
            eprintln!("stap-verify-run: cannot regain root for a privileged step: {e}");
        }
        let result = step();
        if let Err(e) = seteuid(self.uid) {
            eprintln!("stap-verify-run: cannot drop root again: {e}; stopping");
            std::process::abort();
        }
        result
    }

    /// Runs `step` with the caller's umask (files created as the caller).
    pub fn with_caller_umask<T>(&self, step: impl FnOnce() -> T) -> T {
        let ours = umask(self.caller_umask);
        let result = step();
        umask(ours);
        result
    }
}

/// Nothing of the caller's environment survives: `LD_*`, locale, `PATH`,
/// `TMPDIR`, `IFS` and the rest could steer code that runs as root.
fn rebuild_environment() {
    for (name, _) in std::env::vars_os() {
        std::env::remove_var(name);
    }
    std::env::set_var("PATH", SAFE_PATH);
}

/// What a `-c` command sees: the caller's identity from the password
/// database, a fixed `PATH`, and a few harmless caller variables. The
/// command runs with the caller's ids only, so this is for predictability,
/// not for safety.
fn command_environment(uid: Uid) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = vec![("PATH".into(), SAFE_PATH.into())];
    if let Ok(Some(user)) = User::from_uid(uid) {
        env.push(("HOME".into(), user.dir.into_os_string()));
        env.push(("USER".into(), user.name.clone().into()));
        env.push(("LOGNAME".into(), user.name.into()));
        env.push(("SHELL".into(), user.shell.into_os_string()));
    }
    for name in COMMAND_KEEPS {
        if let Some(value) = std::env::var_os(name) {
            env.push((name.into(), value));
        }
    }
    env
}
