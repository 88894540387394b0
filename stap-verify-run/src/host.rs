//! Who is asking and what this host runs.

use nix::unistd::{Gid, Group, Uid, User};
use stap_policy::{HostFacts, Invoker};

/// The real user (not the effective one: when setuid, euid is root).
pub fn invoker() -> Result<Invoker, String> {
    let uid = Uid::current();
    let user = User::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name);
    let mut gids =
        nix::unistd::getgroups().map_err(|e| format!("cannot read supplementary groups: {e}"))?;
    gids.push(Gid::current());
    gids.sort_by_key(|g| g.as_raw());
    gids.dedup();
    let groups = gids
        .into_iter()
        .map(|gid| {
            Group::from_gid(gid)
                .ok()
                .flatten()
                .map_or_else(|| gid.to_string(), |g| g.name)
        })
        .collect();
    Ok(Invoker {
        uid: uid.as_raw(),
        user,
        groups,
    })
}

pub fn facts() -> Result<HostFacts, String> {
    let uts = nix::sys::utsname::uname().map_err(|e| format!("uname failed: {e}"))?;
    let text = |s: &std::ffi::OsStr| s.to_string_lossy().into_owned();
    Ok(HostFacts {
        release: text(uts.release()),
        version: Some(text(uts.version())),
        machine: text(uts.machine()),
    })
}
