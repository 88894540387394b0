//! One `make` invocation in a kernel build directory for an external
//! directory (`M=`), with its output captured.

use std::path::Path;
use std::process::Command;

use crate::KbuildError;

pub(crate) struct MakeRun {
    pub success: bool,
    /// stdout then stderr.
    pub output: String,
}

/// `make -C build_dir M=dir targets...`; `keep_going` builds every target
/// that can be built even when others fail.
pub(crate) fn make(
    build_dir: &Path,
    dir: &Path,
    targets: &[String],
    keep_going: bool,
) -> Result<MakeRun, KbuildError> {
    if !build_dir.join("Makefile").exists() {
        return Err(KbuildError::NotABuildDir {
            dir: build_dir.to_path_buf(),
        });
    }
    let mut command = Command::new("make");
    if keep_going {
        command.arg("-k");
    }
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let output = command
        .arg(format!("-j{jobs}"))
        .arg("-C")
        .arg(build_dir)
        .arg(format!("M={}", dir.display()))
        .args(targets)
        // A jobserver inherited from cargo or an outer make would be shared
        // with unrelated work; this build is self-contained.
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .output()
        .map_err(KbuildError::Make)?;
    Ok(MakeRun {
        success: output.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    })
}
