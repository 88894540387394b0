//! The container: a ustar archive compressed as one zstd frame.
//!
//! Writing is deterministic (sorted entries, fixed owner, mode and mtime, one
//! compression level) so the same inputs give byte-identical bundles.
//! Reading treats the bytes as hostile: only regular files with checked names,
//! no duplicates, caps on entry count, per-entry and total decompressed size
//! enforced while streaming, nothing after the archive or the frame.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::rc::Rc;

use crate::keys::KeyId;
use crate::manifest::MAX_MANIFEST_BYTES;
use crate::paths::{check_entry_path, PathError};
use crate::signature::{SignatureDocument, MAX_SIGNATURE_BYTES};
use crate::MANIFEST_PATH;

const ZSTD_LEVEL: i32 = 12;
const FILE_MODE: u32 = 0o644;
/// Largest buffer reserved from an entry's declared size; bigger entries grow.
const PREALLOCATE_MAX: u64 = 16 << 20;

/// Caps applied while reading. The defaults fit a matrix of a few hundred
/// modules with room to spare and keep a hostile bundle from exhausting memory.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Compressed bundle size.
    pub max_bundle_bytes: u64,
    /// Sum of all decompressed bytes, tar headers and padding included.
    pub max_total_bytes: u64,
    pub max_entry_bytes: u64,
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bundle_bytes: 256 << 20,
            max_total_bytes: 1 << 30,
            max_entry_bytes: 128 << 20,
            max_entries: 4096,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("bundle is {size} bytes, more than the {max} allowed")]
    TooLarge { size: u64, max: u64 },
    #[error(
        "bundle is corrupt or truncated (not one valid zstd frame holding a tar archive): {0}"
    )]
    Corrupt(String),
    #[error(
        "bundle decompresses to more than {0} bytes (refused as a possible decompression bomb)"
    )]
    TotalSizeCap(u64),
    #[error("entry `{path}` is {size} bytes, more than the {max} allowed")]
    EntryTooLarge { path: String, size: u64, max: u64 },
    #[error("bundle has more than {0} entries")]
    TooManyEntries(usize),
    #[error("entry `{path}` is a {kind}; bundles hold only regular files")]
    NotRegularFile { path: String, kind: String },
    #[error("bad entry name: {0}")]
    Path(#[from] PathError),
    #[error("entry `{0}` appears more than once")]
    Duplicate(String),
    #[error("entry `{0}` is not a signature document name (signatures/<key id>.sigstore.json)")]
    SignatureName(String),
    #[error("bundle has no manifest.json")]
    NoManifest,
    #[error("data follows the end of the archive (trailing garbage)")]
    TrailingData,
}

/// What [`write_bundle`] packs. Signature documents are keyed by signer.
#[derive(Debug, Clone, Default)]
pub struct BundleContents {
    pub manifest_bytes: Vec<u8>,
    pub signatures: BTreeMap<KeyId, Vec<u8>>,
    pub payload: BTreeMap<String, Vec<u8>>,
}

/// A bundle whose structure was checked but whose content is not yet trusted.
/// Only [`crate::verify::verify`] turns it into something that hands out payload.
#[derive(Debug, Clone)]
pub struct UnverifiedBundle {
    pub(crate) contents: BundleContents,
}

impl UnverifiedBundle {
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.contents.manifest_bytes
    }

    pub fn signatures(&self) -> &BTreeMap<KeyId, Vec<u8>> {
        &self.contents.signatures
    }

    /// Names and sizes of payload entries, for reporting only.
    pub fn payload_listing(&self) -> impl Iterator<Item = (&str, usize)> {
        self.contents
            .payload
            .iter()
            .map(|(p, b)| (p.as_str(), b.len()))
    }

    /// Hands the contents back for rewriting (adding a signature). The caller
    /// must have checked the payload against the manifest first.
    pub fn into_contents(self) -> BundleContents {
        self.contents
    }
}

/// Packs the contents deterministically; `mtime` is the timestamp given to
/// every entry (`SOURCE_DATE_EPOCH` or 0).
pub fn write_bundle(contents: &BundleContents, mtime: u64) -> io::Result<Vec<u8>> {
    let mut entries: Vec<(String, &[u8])> =
        vec![(MANIFEST_PATH.to_string(), &contents.manifest_bytes)];
    entries.extend(
        contents
            .signatures
            .iter()
            .map(|(k, d)| (SignatureDocument::archive_path(k), d.as_slice())),
    );
    entries.extend(
        contents
            .payload
            .iter()
            .map(|(p, d)| (p.clone(), d.as_slice())),
    );
    entries.sort_by(|a, b| a.0.cmp(&b.0));

    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL)?;
    encoder.include_checksum(true)?;
    encoder.include_contentsize(false)?;
    {
        let mut builder = tar::Builder::new(&mut encoder);
        builder.mode(tar::HeaderMode::Deterministic);
        for (path, data) in &entries {
            check_entry_path(path).map_err(io::Error::other)?;
            let mut header = tar::Header::new_ustar();
            header.set_path(path)?;
            header.set_size(data.len() as u64);
            header.set_mode(FILE_MODE);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(mtime);
            header.set_entry_type(tar::EntryType::Regular);
            header.set_cksum();
            builder.append(&header, *data)?;
        }
        builder.finish()?;
    }
    let mut out = encoder.finish()?;
    out.flush()?;
    Ok(out)
}

/// Reads and structurally checks a bundle held in memory.
pub fn read_bundle(bytes: &[u8], limits: &Limits) -> Result<UnverifiedBundle, ReadError> {
    if bytes.len() as u64 > limits.max_bundle_bytes {
        return Err(ReadError::TooLarge {
            size: bytes.len() as u64,
            max: limits.max_bundle_bytes,
        });
    }
    let decoder = zstd::stream::read::Decoder::with_buffer(bytes)
        .map_err(|e| ReadError::Corrupt(e.to_string()))?
        .single_frame();
    let cap_hit = Rc::new(Cell::new(false));
    let capped = CappedReader {
        inner: decoder,
        remaining: limits.max_total_bytes,
        cap_hit: cap_hit.clone(),
    };
    let mut archive = tar::Archive::new(capped);
    // A failed read is either the size cap or a broken frame or archive.
    let stream_error = |e: io::Error, cap_hit: &Cell<bool>| -> ReadError {
        if cap_hit.get() {
            ReadError::TotalSizeCap(limits.max_total_bytes)
        } else {
            ReadError::Corrupt(e.to_string())
        }
    };

    let mut contents = BundleContents::default();
    let mut seen = std::collections::BTreeSet::new();
    let mut manifest_seen = false;
    let entries = archive.entries().map_err(|e| stream_error(e, &cap_hit))?;
    for (index, entry) in entries.enumerate() {
        let mut entry = entry.map_err(|e| stream_error(e, &cap_hit))?;
        if index >= limits.max_entries {
            return Err(ReadError::TooManyEntries(limits.max_entries));
        }
        let raw_path = entry.path_bytes();
        let path = std::str::from_utf8(&raw_path)
            .map_err(|_| PathError::BadCharacter(String::from_utf8_lossy(&raw_path).into_owned()))?
            .to_string();
        let kind = entry.header().entry_type();
        if kind != tar::EntryType::Regular {
            return Err(ReadError::NotRegularFile {
                path,
                kind: entry_kind_name(kind),
            });
        }
        check_entry_path(&path)?;
        if !seen.insert(path.clone()) {
            return Err(ReadError::Duplicate(path));
        }
        let size = entry.size();
        let max = if path == MANIFEST_PATH {
            MAX_MANIFEST_BYTES as u64
        } else if path.starts_with(crate::SIGNATURES_DIR) {
            MAX_SIGNATURE_BYTES
        } else {
            limits.max_entry_bytes
        };
        if size > max {
            return Err(ReadError::EntryTooLarge { path, size, max });
        }
        // The size is only a claim: reserve at most what the total cap lets
        // through so a lying header cannot make us allocate (and abort).
        let mut data =
            Vec::with_capacity(size.min(limits.max_total_bytes).min(PREALLOCATE_MAX) as usize);
        entry
            .read_to_end(&mut data)
            .map_err(|e| stream_error(e, &cap_hit))?;
        if data.len() as u64 != size {
            return Err(ReadError::Corrupt(format!("entry `{path}` is truncated")));
        }
        if path == MANIFEST_PATH {
            manifest_seen = true;
            contents.manifest_bytes = data;
        } else if let Some(name) = path.strip_prefix(crate::SIGNATURES_DIR) {
            let key_id = name
                .strip_suffix(".sigstore.json")
                .and_then(KeyId::parse)
                .ok_or_else(|| ReadError::SignatureName(path.clone()))?;
            contents.signatures.insert(key_id, data);
        } else {
            contents.payload.insert(path, data);
        }
    }
    if !manifest_seen {
        return Err(ReadError::NoManifest);
    }
    // After the end-of-archive marker only zero padding may follow, and the
    // frame must end exactly where the input ends.
    let mut rest = archive.into_inner();
    let mut buf = [0u8; 8192];
    loop {
        let n = rest
            .read(&mut buf)
            .map_err(|e| stream_error(e, &rest.cap_hit))?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return Err(ReadError::TrailingData);
        }
    }
    if !rest.inner.finish().is_empty() {
        return Err(ReadError::TrailingData);
    }
    Ok(UnverifiedBundle { contents })
}

fn entry_kind_name(kind: tar::EntryType) -> String {
    match kind {
        tar::EntryType::Symlink => "symbolic link".into(),
        tar::EntryType::Link => "hard link".into(),
        tar::EntryType::Char => "character device".into(),
        tar::EntryType::Block => "block device".into(),
        tar::EntryType::Directory => "directory".into(),
        tar::EntryType::Fifo => "FIFO".into(),
        other => format!("non-regular entry (type {:?})", other.as_byte() as char),
    }
}

/// Counts decompressed bytes and fails once the total cap is passed, so a
/// bomb is stopped while streaming rather than after it filled memory.
struct CappedReader<R> {
    inner: R,
    remaining: u64,
    cap_hit: Rc<Cell<bool>>,
}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        match self.remaining.checked_sub(n as u64) {
            Some(left) => {
                self.remaining = left;
                Ok(n)
            }
            None => {
                self.cap_hit.set(true);
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "decompressed size cap exceeded",
                ))
            }
        }
    }
}
