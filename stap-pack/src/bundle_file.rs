//! Reading and writing bundle files on the build side.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};
use stap_bundle::archive::{read_bundle, write_bundle, BundleContents, Limits, UnverifiedBundle};

pub fn read(path: &Path) -> Result<UnverifiedBundle> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read bundle {}", path.display()))?;
    read_bundle(&bytes, &Limits::default())
        .with_context(|| format!("{} is not a valid bundle", path.display()))
}

/// Timestamp of every archive entry: `SOURCE_DATE_EPOCH` or 0, never the
/// clock, so rewriting a bundle stays reproducible.
pub fn archive_mtime() -> Result<u64> {
    let t = stap_bundle::time::source_date_epoch().map_err(anyhow::Error::msg)?;
    Ok(t.unsigned_abs())
}

/// Writes through a temporary file in the same directory and renames it
/// into place, so an interrupted write never leaves a half bundle behind.
pub fn write(path: &Path, contents: &BundleContents) -> Result<()> {
    let bytes = write_bundle(contents, archive_mtime()?).context("cannot encode bundle")?;
    write_atomically(path, &bytes)
}

pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}
