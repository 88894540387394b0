//! Runs a kernel's Kbuild for stap-pack: feature tests that turn API
//! differences between kernels into `stp_features.h`, and module builds
//! that compile generated code with the C runtime (`runtime-c/`), warning
//! free.
//!
//! Kernel APIs are never chosen by version number: Debian backports renames
//! inside one release series, so each feature is a small C file compiled
//! against the kernel's own headers, and the result is cached per build
//! directory.
#![forbid(unsafe_code)]

mod features;
mod make;
mod module;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use features::{features_header, FEATURE_TESTS};
pub use module::{build_module, ModuleSources, CONFIG_HEADER};

/// The C runtime's files, as copied into every module build directory.
pub const RUNTIME_FILES: &[(&str, &str)] = &[
    (
        "stp_runtime.c",
        include_str!("../../runtime-c/stp_runtime.c"),
    ),
    (
        "stp_runtime.h",
        include_str!("../../runtime-c/stp_runtime.h"),
    ),
    ("stp_wire.h", include_str!("../../runtime-c/stp_wire.h")),
    (
        "stp_kprobes.c",
        include_str!("../../runtime-c/stp_kprobes.c"),
    ),
    (
        "stp_kprobes.h",
        include_str!("../../runtime-c/stp_kprobes.h"),
    ),
    ("stp_lang.c", include_str!("../../runtime-c/stp_lang.c")),
    ("stp_lang.h", include_str!("../../runtime-c/stp_lang.h")),
    (
        "stp_tracepoints.c",
        include_str!("../../runtime-c/stp_tracepoints.c"),
    ),
    (
        "stp_tracepoints.h",
        include_str!("../../runtime-c/stp_tracepoints.h"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum KbuildError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot run make: {0}")]
    Make(std::io::Error),
    #[error("{dir} is not a kernel build directory (no Makefile); install the kernel's headers")]
    NotABuildDir { dir: PathBuf },
    #[error("the feature-test control file does not compile against {dir}, so the build environment is broken:\n{output}")]
    BrokenToolchain { dir: PathBuf, output: String },
    #[error("`{0}` is not a module name ([a-z0-9_], 1 to 55 characters)")]
    ModuleName(String),
    #[error(
        "`{0}` is not a plain source file name (*.c or *.h, no directories, not a runtime file)"
    )]
    SourceName(String),
    #[error("building module {module} against {dir} failed:\n{output}")]
    BuildFailed {
        module: String,
        dir: PathBuf,
        output: String,
    },
    #[error("{}:{line}: not a Module.symvers line (0xCRC, symbol, module, export type)", path.display())]
    BadSymvers { path: PathBuf, line: usize },
    #[error("building module {module} against {dir} printed warnings:\n{output}")]
    BuildWarned {
        module: String,
        dir: PathBuf,
        output: String,
    },
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> KbuildError + '_ {
    move |source| KbuildError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The kernel's exported symbols and their CRCs, from the build tree's
/// `Module.symvers` (`0xCRC<TAB>symbol<TAB>module<TAB>export type[<TAB>namespace]`);
/// empty when the tree has none (a kernel built without modversions).
pub fn read_module_symvers(build_dir: &Path) -> Result<BTreeMap<String, u32>, KbuildError> {
    let path = build_dir.join("Module.symvers");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(io_error(&path)(e)),
    };
    let mut crcs = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let mut fields = line.split('\t');
        let parsed = fields.next().and_then(|crc| {
            let crc = u32::from_str_radix(crc.strip_prefix("0x")?, 16).ok()?;
            Some((crc, fields.next()?))
        });
        let Some((crc, symbol)) = parsed else {
            return Err(KbuildError::BadSymvers {
                path: path.clone(),
                line: index + 1,
            });
        };
        crcs.insert(symbol.to_string(), crc);
    }
    Ok(crcs)
}

/// The Kbuild directory of an installed kernel header set, if any.
pub fn find_build_dir(release: &str) -> Option<PathBuf> {
    [
        format!("/lib/modules/{release}/build"),
        format!("/usr/src/linux-headers-{release}"),
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.join("Makefile").exists())
}
