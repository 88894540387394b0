//! Checks before any load attempt, each failure one clear sentence: what the
//! kernel would refuse (and then only explain in `dmesg`) is refused here
//! first. Order: loading allowed at all, the module's vermagic and symbol
//! versions against the kernel it must run on, signature enforcement, a
//! module of the same name already loaded.

use std::path::{Path, PathBuf};

use stap_bundle::manifest::KernelEntry;
use stap_bundle::modinfo::{read_modinfo, read_versions};

use crate::exit::Status;
use crate::records::RunRecord;

const MODULES_DISABLED: &str = "/proc/sys/kernel/modules_disabled";
const SIG_ENFORCE: &str = "/sys/module/module/parameters/sig_enforce";
const LOCKDOWN: &str = "/sys/kernel/security/lockdown";
/// What ends a module with an appended signature.
const SIGNATURE_MARKER: &[u8] = b"~Module signature appended~\n";
/// Bounds the search for a reference module (a host with only compressed
/// modules has thousands of files to pass over).
const MAX_DIRS_SEARCHED: usize = 64;

pub type Refusal = (Status, String);

/// What the host says, read once (separate from the checks for tests).
pub struct HostState {
    pub release: String,
    pub modules_disabled: bool,
    pub sig_enforce: bool,
    /// The active lockdown mode when it is not `none`.
    pub lockdown: Option<String>,
    /// The running kernel's vermagic, from one of its own modules, and
    /// that module's path (None when the host has no uncompressed one).
    pub vermagic: Option<(String, PathBuf)>,
}

impl HostState {
    pub fn read(release: &str) -> HostState {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        HostState {
            release: release.to_string(),
            modules_disabled: read(MODULES_DISABLED).trim() == "1",
            sig_enforce: read(SIG_ENFORCE).trim() == "Y",
            lockdown: active_lockdown(&read(LOCKDOWN)),
            vermagic: kernel_vermagic(release),
        }
    }
}

/// The kernel keeps its own vermagic to itself; every module shipped with
/// it carries the same string, so the first uncompressed one found under
/// `/lib/modules/<release>/kernel` tells it.
fn kernel_vermagic(release: &str) -> Option<(String, PathBuf)> {
    let mut pending = vec![Path::new("/lib/modules").join(release).join("kernel")];
    let mut visited = 0;
    while let Some(dir) = pending.pop() {
        visited += 1;
        if visited > MAX_DIRS_SEARCHED {
            return None;
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .ok()?
            .filter_map(|e| Some(e.ok()?.path()))
            .collect();
        entries.sort();
        for path in &entries {
            if path.extension().is_some_and(|e| e == "ko") {
                let bytes = std::fs::read(path).ok()?;
                return Some((read_modinfo(&bytes).ok()?.vermagic, path.clone()));
            }
        }
        pending.extend(entries.into_iter().filter(|p| p.is_dir()).rev());
    }
    None
}

/// `none [integrity] confidentiality` → `integrity`.
fn active_lockdown(text: &str) -> Option<String> {
    let start = text.find('[')? + 1;
    let end = start + text[start..].find(']')?;
    let mode = &text[start..end];
    (mode != "none").then(|| mode.to_string())
}

pub fn check(module: &[u8], kernel: &KernelEntry, host: &HostState) -> Result<(), Refusal> {
    let name = &kernel.module_name;
    if host.modules_disabled {
        return Err((
            Status::RunFailed,
            format!(
                "this host forbids loading modules ({MODULES_DISABLED} is 1, until reboot); \
                 no bundle can run here"
            ),
        ));
    }
    check_kernel_match(module, kernel, host)?;
    if !module.ends_with(SIGNATURE_MARKER) {
        let enforcer = if host.sig_enforce {
            Some("module.sig_enforce is set".to_string())
        } else {
            host.lockdown
                .as_ref()
                .map(|mode| format!("the kernel is locked down ({mode})"))
        };
        if let Some(enforcer) = enforcer {
            return Err((
                Status::RunFailed,
                format!(
                    "module {name} has no kernel module signature and {enforcer}: the kernel \
                     would refuse it; sign the modules with a key this kernel trusts (MOK) \
                     when building the bundle"
                ),
            ));
        }
    }
    if Path::new("/sys/module").join(name).exists() {
        let who = match RunRecord::read(name) {
            Some(record) if record.runner_alive() => {
                format!(
                    "this bundle is already running here: started by {}",
                    record.who()
                )
            }
            Some(record) => format!(
                "an earlier run by {} was killed and left it loaded (its probes are disarmed); \
                 `stap-verify-run --reap` as that user or root unloads it",
                record.who()
            ),
            None => format!(
                "it was not loaded by stap-verify-run; if nothing uses it, `rmmod {name}` as root"
            ),
        };
        return Err((
            Status::RunFailed,
            format!("module {name} is already loaded: {who}"),
        ));
    }
    Ok(())
}

/// The module really is the one the manifest describes for this kernel.
fn check_kernel_match(
    module: &[u8],
    kernel: &KernelEntry,
    host: &HostState,
) -> Result<(), Refusal> {
    let release = host.release.as_str();
    let refuse = |message: String| Err((Status::NoMatchingKernel, message));
    let name = &kernel.module_name;
    let info = match read_modinfo(module) {
        Ok(info) => info,
        Err(e) => return refuse(format!("module {name} is not a loadable module: {e}")),
    };
    if info.vermagic != kernel.vermagic {
        return refuse(format!(
            "module {name} has vermagic `{}`, but the manifest records `{}` for kernel {}",
            info.vermagic, kernel.vermagic, kernel.release
        ));
    }
    if info.vermagic_release() != release {
        return refuse(format!(
            "module {name} was built for kernel {} (vermagic `{}`), this host runs {release}",
            info.vermagic_release(),
            info.vermagic
        ));
    }
    if let Some((running, reference)) = &host.vermagic {
        if info.vermagic != *running {
            return refuse(format!(
                "module {name} has vermagic `{}`, but this kernel's modules (e.g. {}) have `{running}`: \
                 the kernel would refuse it",
                info.vermagic,
                reference.display()
            ));
        }
    }
    if !kernel.symbol_crcs.is_empty() {
        let versions = match read_versions(module) {
            Ok(versions) => versions,
            Err(e) => return refuse(format!("module {name}: cannot read __versions: {e}")),
        };
        for version in &versions {
            match kernel.symbol_crcs.get(&version.name) {
                Some(&crc) if crc == version.crc => {}
                Some(&crc) => {
                    return refuse(format!(
                        "module {name} expects symbol {} with CRC {:#010x}, but kernel {} has \
                         {crc:#010x}: it was built against other headers",
                        version.name, version.crc, kernel.release
                    ))
                }
                None => {
                    return refuse(format!(
                        "module {name} imports symbol {}, which kernel {} does not export",
                        version.name, kernel.release
                    ))
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockdown_mode_is_the_bracketed_one() {
        assert_eq!(active_lockdown("[none] integrity confidentiality\n"), None);
        assert_eq!(
            active_lockdown("none [integrity] confidentiality\n"),
            Some("integrity".to_string())
        );
        assert_eq!(active_lockdown(""), None);
    }
}
