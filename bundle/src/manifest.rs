//! `manifest.json`: the signed description of a bundle (format version 1).
//!
//! The schema is documented in `docs/bundle-format.md`. Signatures cover the
//! exact bytes of the manifest, so the writer produces one canonical encoding
//! and the reader validates the parsed value before anything else uses it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::paths::check_entry_path;

/// The format epoch this crate reads and writes. A reader refuses any other.
pub const FORMAT_VERSION: u32 = 1;
/// The value of the `format` field: says what kind of document this is.
pub const FORMAT_NAME: &str = "stap-pack-bundle";
/// Largest manifest accepted, in bytes.
pub const MAX_MANIFEST_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub name: String,
    pub version: semver::Version,
    /// RFC 3339 UTC timestamp (`SOURCE_DATE_EPOCH` when set, for reproducibility).
    pub created: String,
    pub tool: Tool,
    /// Privilege the bundle's probes need (`stapusr`, `stapsys`, `stapdev`).
    pub privilege: Privilege,
    /// RFC 3339 UTC timestamp after which the bundle is expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    pub scripts: Vec<ScriptEntry>,
    pub parameters: Vec<Parameter>,
    pub kernels: Vec<KernelEntry>,
    /// Path of the provenance statement inside the bundle (also listed in `files`).
    pub provenance: String,
    /// Every payload file: the archive holds exactly these plus the manifest
    /// and the signatures.
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Privilege {
    Stapusr,
    Stapsys,
    Stapdev,
}

impl std::fmt::Display for Privilege {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Privilege::Stapusr => "stapusr",
            Privilege::Stapsys => "stapsys",
            Privilege::Stapdev => "stapdev",
        })
    }
}

impl std::str::FromStr for Privilege {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "stapusr" => Ok(Privilege::Stapusr),
            "stapsys" => Ok(Privilege::Stapsys),
            "stapdev" => Ok(Privilege::Stapdev),
            other => Err(format!(
                "unknown privilege `{other}` (expected stapusr, stapsys or stapdev)"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptEntry {
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    Long,
    String,
}

impl std::fmt::Display for ParamType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ParamType::Long => "long",
            ParamType::String => "string",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameter {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ParamType,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelEntry {
    /// `uname -r` of the target kernel.
    pub release: String,
    /// `uname -v` of the target kernel, when the build knew it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `uname -m`, e.g. `x86_64`.
    pub arch: String,
    /// The module's `vermagic` from its `.modinfo`.
    pub vermagic: String,
    pub module_name: String,
    pub module_path: String,
    pub module_sha256: String,
    /// The kernel's CRC of each symbol the module imports, from the build
    /// tree's `Module.symvers` (modversions); the runner checks the
    /// module's `__versions` against them before loading.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub symbol_crcs: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is {0} bytes, more than the {MAX_MANIFEST_BYTES} allowed")]
    TooLarge(usize),
    #[error("manifest is not valid UTF-8")]
    NotUtf8,
    #[error("manifest is not valid JSON for this format: {0}")]
    Json(String),
    #[error("manifest says format `{0}`, expected `{FORMAT_NAME}`")]
    WrongFormat(String),
    #[error(
        "bundle format version {0} is not supported by this tool (it reads version {FORMAT_VERSION}); \
         use a stap-pack release that knows that version"
    )]
    UnsupportedVersion(u32),
    #[error("manifest is inconsistent: {0}")]
    Invalid(String),
}

impl Manifest {
    /// Parses and validates manifest bytes: size, encoding, format epoch,
    /// then every internal reference. Nothing from the payload is consulted.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge(bytes.len()));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| ManifestError::NotUtf8)?;
        // Read the epoch first so an unknown version is reported as such,
        // not as a schema mismatch.
        let probe: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ManifestError::Json(e.to_string()))?;
        match probe.get("format").and_then(|v| v.as_str()) {
            Some(FORMAT_NAME) => {}
            Some(other) => return Err(ManifestError::WrongFormat(other.to_string())),
            None => return Err(ManifestError::Json("missing field `format`".into())),
        }
        match probe.get("format_version").map(|v| (v, v.as_u64())) {
            Some((_, Some(v))) if v == u64::from(FORMAT_VERSION) => {}
            Some((_, Some(v))) => {
                return Err(ManifestError::UnsupportedVersion(
                    v.min(u64::from(u32::MAX)) as u32,
                ))
            }
            Some((other, None)) => {
                return Err(ManifestError::Json(format!(
                    "`format_version` must be a whole number, found {other}"
                )))
            }
            None => return Err(ManifestError::Json("missing field `format_version`".into())),
        }
        let manifest: Manifest =
            serde_json::from_value(probe).map_err(|e| ManifestError::Json(e.to_string()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// The canonical encoding: the bytes that get signed.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("manifest serialises");
        out.push(b'\n');
        out
    }

    /// Checks internal consistency: valid paths, unique files, every
    /// referenced path listed in `files` with the same digest.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let invalid = |m: String| Err(ManifestError::Invalid(m));
        if self.name.is_empty()
            || self.name.len() > 128
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return invalid(format!(
                "bundle name `{}` must be 1-128 characters of [A-Za-z0-9._-]",
                self.name
            ));
        }
        for ts in std::iter::once(&self.created).chain(self.not_after.as_ref()) {
            if crate::time::parse_rfc3339(ts).is_none() {
                return invalid(format!(
                    "`{ts}` is not an RFC 3339 UTC timestamp (YYYY-MM-DDTHH:MM:SSZ)"
                ));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for f in &self.files {
            check_entry_path(&f.path).map_err(|e| ManifestError::Invalid(e.to_string()))?;
            if is_reserved_path(&f.path) {
                return invalid(format!("payload file `{}` uses a reserved name", f.path));
            }
            if !is_sha256_hex(&f.sha256) {
                return invalid(format!("file `{}` has a malformed sha256", f.path));
            }
            if !seen.insert(f.path.as_str()) {
                return invalid(format!("file `{}` is listed twice", f.path));
            }
        }
        let digest_of = |path: &str| {
            self.files
                .iter()
                .find(|f| f.path == path)
                .map(|f| &f.sha256)
        };
        for s in &self.scripts {
            match digest_of(&s.path) {
                Some(d) if *d == s.sha256 => {}
                Some(_) => {
                    return invalid(format!(
                        "script `{}` digest differs from its file entry",
                        s.path
                    ))
                }
                None => return invalid(format!("script `{}` is not listed in files", s.path)),
            }
        }
        if digest_of(&self.provenance).is_none() {
            return invalid(format!(
                "provenance `{}` is not listed in files",
                self.provenance
            ));
        }
        if self.kernels.is_empty() {
            return invalid("no kernel entries".into());
        }
        let mut releases = std::collections::BTreeSet::new();
        for k in &self.kernels {
            if !releases.insert((k.release.as_str(), k.arch.as_str())) {
                return invalid(format!("kernel {} ({}) is listed twice", k.release, k.arch));
            }
            if !is_module_name(&k.module_name) {
                return invalid(format!(
                    "module name `{}` must be 1-55 characters of [a-z0-9_]",
                    k.module_name
                ));
            }
            match digest_of(&k.module_path) {
                Some(d) if *d == k.module_sha256 => {}
                Some(_) => {
                    return invalid(format!(
                        "module `{}` digest differs from its file entry",
                        k.module_path
                    ))
                }
                None => {
                    return invalid(format!("module `{}` is not listed in files", k.module_path))
                }
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for p in &self.parameters {
            if !is_identifier(&p.name) {
                return invalid(format!("parameter name `{}` is not an identifier", p.name));
            }
            if !names.insert(p.name.as_str()) {
                return invalid(format!("parameter `{}` is listed twice", p.name));
            }
        }
        Ok(())
    }

    /// The identity used for revocation and logging: sha256 of the manifest
    /// bytes. Stable across adding signatures, changes with any content.
    pub fn digest_of_bytes(manifest_bytes: &[u8]) -> String {
        crate::digest::sha256_hex(manifest_bytes)
    }
}

/// Names inside the archive that are not payload.
pub fn is_reserved_path(path: &str) -> bool {
    path == crate::MANIFEST_PATH || path.starts_with(crate::SIGNATURES_DIR)
}

pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Kernel module names: what `init_module` and `/sys/module` accept on x86_64.
pub fn is_module_name(s: &str) -> bool {
    (1..=55).contains(&s.len())
        && s.bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

pub fn is_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && s.len() <= 64
}
