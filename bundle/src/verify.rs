//! Verification, in the order the format promises: parse the manifest, keep
//! only signatures whose key id is trusted, verify those signatures over the
//! manifest bytes, then check that the archive holds exactly the manifest's
//! files with matching sizes and digests. Payload bytes become reachable only
//! through the [`VerifiedBundle`] this returns.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::archive::UnverifiedBundle;
use crate::keys::{KeyError, KeyId, PublicKey};
use crate::manifest::{KernelEntry, Manifest, ManifestError};
use crate::signature::{SignatureDocument, SignatureError};

/// Public keys the verifier trusts, by key id, with the file each came from.
#[derive(Debug, Default, Clone)]
pub struct TrustStore {
    keys: BTreeMap<KeyId, (PublicKey, PathBuf)>,
}

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("cannot read trust directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl TrustStore {
    pub fn new() -> TrustStore {
        TrustStore::default()
    }

    /// Adds a public key file, or every `*.pub` file of a directory.
    pub fn add_path(&mut self, path: &Path) -> Result<(), TrustError> {
        if path.is_dir() {
            let read_dir = std::fs::read_dir(path).map_err(|source| TrustError::Dir {
                path: path.into(),
                source,
            })?;
            let mut files = Vec::new();
            for entry in read_dir {
                let entry = entry.map_err(|source| TrustError::Dir {
                    path: path.into(),
                    source,
                })?;
                let p = entry.path();
                if p.extension().is_some_and(|e| e == "pub") {
                    files.push(p);
                }
            }
            files.sort();
            for file in files {
                self.add_key(PublicKey::load(&file)?, file);
            }
        } else {
            self.add_key(PublicKey::load(path)?, path.to_path_buf());
        }
        Ok(())
    }

    pub fn add_key(&mut self, key: PublicKey, source: PathBuf) {
        self.keys.entry(key.key_id()).or_insert((key, source));
    }

    pub fn get(&self, id: &KeyId) -> Option<&PublicKey> {
        self.keys.get(id).map(|(k, _)| k)
    }

    pub fn source_of(&self, id: &KeyId) -> Option<&Path> {
        self.keys.get(id).map(|(_, p)| p.as_path())
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("invalid manifest: {0}")]
    Manifest(#[from] ManifestError),
    #[error("bundle is not signed; sign it with `stap-pack sign BUNDLE --key KEY`")]
    Unsigned,
    #[error("no signature is by a trusted key (signed by {}); add the signer's public key to the trust store if you trust it", list(.signed_by))]
    NoTrustedSigner { signed_by: Vec<KeyId> },
    #[error("signature by trusted key {key_id} is invalid: {source}")]
    BadSignature {
        key_id: KeyId,
        source: SignatureError,
    },
    #[error("signature document {key_id} is malformed: {source}")]
    SignatureDocument {
        key_id: KeyId,
        source: SignatureError,
    },
    #[error("payload file `{0}` is listed in the manifest but missing from the archive")]
    MissingFile(String),
    #[error("archive holds `{0}`, which the manifest does not list")]
    UnlistedFile(String),
    #[error("payload file `{path}` does not match the manifest (expected {expected}, found {found}); the bundle was altered after signing")]
    DigestMismatch {
        path: String,
        expected: String,
        found: String,
    },
}

fn list(ids: &[KeyId]) -> String {
    ids.iter()
        .map(KeyId::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A bundle whose manifest was signed by at least one trusted key and whose
/// payload matches the manifest.
#[derive(Debug, Clone)]
pub struct VerifiedBundle {
    pub manifest: Manifest,
    pub manifest_bytes: Vec<u8>,
    /// sha256 of the manifest bytes: the bundle's identity.
    pub digest: String,
    /// Trusted keys whose signatures verified, in key id order.
    pub signers: Vec<KeyId>,
    /// Signature documents by keys not in the trust store (not verified).
    pub untrusted_signers: Vec<KeyId>,
    payload: BTreeMap<String, Vec<u8>>,
}

impl VerifiedBundle {
    pub fn file(&self, path: &str) -> Option<&[u8]> {
        self.payload.get(path).map(Vec::as_slice)
    }

    /// The module bytes of a kernel entry (present: checked during verification).
    pub fn module(&self, kernel: &KernelEntry) -> &[u8] {
        self.payload
            .get(&kernel.module_path)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

/// Verifies an unverified bundle against a trust store.
pub fn verify(bundle: UnverifiedBundle, trust: &TrustStore) -> Result<VerifiedBundle, VerifyError> {
    let contents = bundle.contents;
    let manifest = Manifest::parse(&contents.manifest_bytes)?;
    if contents.signatures.is_empty() {
        return Err(VerifyError::Unsigned);
    }
    let mut signers = Vec::new();
    let mut untrusted_signers = Vec::new();
    for (key_id, doc_bytes) in &contents.signatures {
        let Some(key) = trust.get(key_id) else {
            untrusted_signers.push(key_id.clone());
            continue;
        };
        let doc = SignatureDocument::parse(doc_bytes).map_err(|source| {
            VerifyError::SignatureDocument {
                key_id: key_id.clone(),
                source,
            }
        })?;
        if &doc.key_id != key_id {
            return Err(VerifyError::SignatureDocument {
                key_id: key_id.clone(),
                source: SignatureError::Hint(doc.key_id.to_string()),
            });
        }
        // A trusted key's signature that fails means the manifest or the
        // signature was tampered with: refuse outright.
        doc.verify(&contents.manifest_bytes, key)
            .map_err(|source| VerifyError::BadSignature {
                key_id: key_id.clone(),
                source,
            })?;
        signers.push(key_id.clone());
    }
    if signers.is_empty() {
        return Err(VerifyError::NoTrustedSigner {
            signed_by: untrusted_signers,
        });
    }
    check_payload(&manifest, &contents.payload)?;
    Ok(VerifiedBundle {
        digest: Manifest::digest_of_bytes(&contents.manifest_bytes),
        manifest,
        manifest_bytes: contents.manifest_bytes,
        signers,
        untrusted_signers,
        payload: contents.payload,
    })
}

/// Checks that the payload is exactly the manifest's file list, byte for
/// byte. Used by verification and before signing.
pub fn check_payload(
    manifest: &Manifest,
    payload: &BTreeMap<String, Vec<u8>>,
) -> Result<(), VerifyError> {
    for file in &manifest.files {
        let data = payload
            .get(&file.path)
            .ok_or_else(|| VerifyError::MissingFile(file.path.clone()))?;
        let found = crate::digest::sha256_hex(data);
        if data.len() as u64 != file.size || found != file.sha256 {
            return Err(VerifyError::DigestMismatch {
                path: file.path.clone(),
                expected: format!("{} bytes, sha256 {}", file.size, file.sha256),
                found: format!("{} bytes, sha256 {found}", data.len()),
            });
        }
    }
    if let Some(extra) = payload
        .keys()
        .find(|p| !manifest.files.iter().any(|f| &f.path == *p))
    {
        return Err(VerifyError::UnlistedFile(extra.clone()));
    }
    Ok(())
}

impl UnverifiedBundle {
    /// Parses the manifest and checks the payload against it without any
    /// trust decision: what a signer checks before signing and what
    /// `inspect` reports.
    pub fn check_integrity(&self) -> Result<Manifest, VerifyError> {
        let manifest = Manifest::parse(&self.contents.manifest_bytes)?;
        check_payload(&manifest, &self.contents.payload)?;
        Ok(manifest)
    }
}
