//! Run records: `/run/stap-pack/<module>.run`, written as root before a
//! module is loaded and removed after it is unloaded. They say who runs a
//! loaded module, so a second run of the same bundle is refused with a
//! name, and a module whose runner died (SIGKILL) can be told from one in
//! use and reaped: by the next run of the same user, by `--reap`, or by
//! root for anyone.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use nix::kmod::{delete_module, DeleteModuleFlags};
use nix::unistd::Uid;

use crate::privilege::Privilege;

pub const RUN_DIR: &str = "/run/stap-pack";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    pub module: String,
    pub uid: u32,
    pub user: String,
    pub pid: u32,
    /// The runner's start time (clock ticks after boot, /proc/PID/stat
    /// field 22): with the pid, it tells the runner from a later process
    /// that reuses its pid.
    pub start_time: u64,
    pub bundle: String,
}

impl RunRecord {
    fn path(module: &str) -> PathBuf {
        Path::new(RUN_DIR).join(format!("{module}.run"))
    }

    fn render(&self) -> String {
        format!(
            "uid={}\nuser={}\npid={}\nstart_time={}\nbundle={}\n",
            self.uid, self.user, self.pid, self.start_time, self.bundle
        )
    }

    fn parse(module: &str, text: &str) -> Option<RunRecord> {
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
                .map(str::to_string)
        };
        Some(RunRecord {
            module: module.to_string(),
            uid: field("uid")?.parse().ok()?,
            user: field("user")?,
            pid: field("pid")?.parse().ok()?,
            start_time: field("start_time")?.parse().ok()?,
            bundle: field("bundle")?,
        })
    }

    /// The record of a loaded module, if it has one.
    pub fn read(module: &str) -> Option<RunRecord> {
        let text = std::fs::read_to_string(Self::path(module)).ok()?;
        Self::parse(module, &text)
    }

    /// Whether the runner that wrote this record still runs.
    pub fn runner_alive(&self) -> bool {
        process_start_time(self.pid) == Some(self.start_time)
    }

    /// "alice (uid 1000), runner pid 123, bundle demo 1.0.0"
    pub fn who(&self) -> String {
        format!(
            "{} (uid {}), runner pid {}, bundle {}",
            self.user, self.uid, self.pid, self.bundle
        )
    }
}

/// Writes this run's record (as root: the directory is root's).
pub fn write(privilege: &Privilege, record: &RunRecord) -> Result<(), String> {
    privilege.as_root(|| {
        std::fs::create_dir_all(RUN_DIR)
            .and_then(|()| std::fs::write(RunRecord::path(&record.module), record.render()))
            .map_err(|e| format!("cannot write the run record in {RUN_DIR}: {e}"))
    })
}

pub fn remove(privilege: &Privilege, module: &str) {
    privilege.as_root(|| {
        let _ = std::fs::remove_file(RunRecord::path(module));
    });
}

/// This process's start time, for its record.
pub fn own_start_time() -> Result<u64, String> {
    process_start_time(std::process::id())
        .ok_or_else(|| "cannot read this process's start time from /proc/self/stat".to_string())
}

fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count
    // fields after its closing parenthesis.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// What reaping did with one record.
#[derive(Debug, PartialEq, Eq)]
pub enum Reaped {
    Unloaded(RunRecord),
    /// The module was gone already; the stale record was removed.
    Stale(RunRecord),
    Failed(RunRecord, String),
}

/// Unloads the modules whose runner is gone and that belong to `uid`
/// (every one for root). A module whose runner died has disarmed its
/// probes when its control file closed, so unloading it loses nothing.
pub fn reap(privilege: &Privilege, uid: Uid) -> Vec<Reaped> {
    let Ok(entries) = std::fs::read_dir(RUN_DIR) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".run").map(str::to_string))
        .collect();
    names.sort();
    let mut reaped = Vec::new();
    for module in names {
        let Some(record) = RunRecord::read(&module) else {
            continue;
        };
        if record.runner_alive() || !(uid.is_root() || record.uid == uid.as_raw()) {
            continue;
        }
        if !Path::new("/sys/module").join(&module).exists() {
            remove(privilege, &module);
            reaped.push(Reaped::Stale(record));
            continue;
        }
        let Ok(c_name) = CString::new(module.as_str()) else {
            continue;
        };
        match privilege.as_root(|| delete_module(&c_name, DeleteModuleFlags::O_NONBLOCK)) {
            Ok(()) => {
                remove(privilege, &module);
                reaped.push(Reaped::Unloaded(record));
            }
            Err(e) => reaped.push(Reaped::Failed(record, e.to_string())),
        }
    }
    reaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back() {
        let record = RunRecord {
            module: "demo_6_1".into(),
            uid: 1000,
            user: "alice".into(),
            pid: 42,
            start_time: 12345,
            bundle: "demo 1.0.0".into(),
        };
        assert_eq!(RunRecord::parse("demo_6_1", &record.render()), Some(record));
        assert_eq!(RunRecord::parse("x", "uid=1\n"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_changed_start_time_is_not() {
        let start_time = own_start_time().unwrap();
        let mut record = RunRecord {
            module: "m".into(),
            uid: 0,
            user: "root".into(),
            pid: std::process::id(),
            start_time,
            bundle: "b 1".into(),
        };
        assert!(record.runner_alive());
        record.start_time += 1;
        assert!(!record.runner_alive());
    }
}
