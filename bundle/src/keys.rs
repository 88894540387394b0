//! Ed25519 keys in the PEM encodings OpenSSL uses (PKCS#8 private key,
//! SubjectPublicKeyInfo public key), so a security team can inspect them with
//! standard tools, and the key id that names a key everywhere.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ed25519_dalek::{Signer as _, Verifier as _};

/// DER prefix of a PKCS#8 v1 Ed25519 private key; the 32-byte seed follows.
const PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32-byte key follows.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
const PRIVATE_LABEL: &str = "PRIVATE KEY";
const PUBLIC_LABEL: &str = "PUBLIC KEY";
/// Largest key file read; real ones are under 200 bytes.
const MAX_KEY_FILE: u64 = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a PEM `{label}` block")]
    NotPem { path: PathBuf, label: &'static str },
    #[error("{path}: not an Ed25519 {what} (only Ed25519 keys are supported)")]
    NotEd25519 { path: PathBuf, what: &'static str },
    #[error("{path}: the public key is not a valid Ed25519 point")]
    BadPoint { path: PathBuf },
    #[error("cannot read random bytes from /dev/urandom: {0}")]
    Random(std::io::Error),
}

/// Hex of the first 8 bytes of sha256(raw 32-byte public key).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(String);

impl KeyId {
    pub fn of(public: &ed25519_dalek::VerifyingKey) -> KeyId {
        KeyId(crate::digest::to_hex(
            &crate::digest::sha256(public.as_bytes())[..8],
        ))
    }

    /// Accepts the 16 lower-case hex digits of a key id, as written in
    /// policies and signature documents.
    pub fn parse(s: &str) -> Option<KeyId> {
        (s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| KeyId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub struct SigningKey {
    inner: ed25519_dalek::SigningKey,
}

impl SigningKey {
    /// A fresh key from the kernel's random source.
    pub fn generate() -> Result<SigningKey, KeyError> {
        use std::io::Read as _;
        let mut seed = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut seed))
            .map_err(KeyError::Random)?;
        Ok(SigningKey {
            inner: ed25519_dalek::SigningKey::from_bytes(&seed),
        })
    }

    pub fn from_pem(pem: &str, path: &Path) -> Result<SigningKey, KeyError> {
        let der = pem_decode(pem, PRIVATE_LABEL).ok_or_else(|| KeyError::NotPem {
            path: path.to_path_buf(),
            label: PRIVATE_LABEL,
        })?;
        let seed: [u8; 32] = der
            .strip_prefix(&PKCS8_PREFIX[..])
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| KeyError::NotEd25519 {
                path: path.to_path_buf(),
                what: "PKCS#8 private key",
            })?;
        Ok(SigningKey {
            inner: ed25519_dalek::SigningKey::from_bytes(&seed),
        })
    }

    pub fn load(path: &Path) -> Result<SigningKey, KeyError> {
        SigningKey::from_pem(&read_small(path)?, path)
    }

    pub fn to_pem(&self) -> String {
        let mut der = PKCS8_PREFIX.to_vec();
        der.extend_from_slice(self.inner.as_bytes());
        pem_encode(&der, PRIVATE_LABEL)
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            inner: self.inner.verifying_key(),
        }
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.inner.sign(message).to_bytes()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    inner: ed25519_dalek::VerifyingKey,
}

impl PublicKey {
    pub fn from_pem(pem: &str, path: &Path) -> Result<PublicKey, KeyError> {
        let der = pem_decode(pem, PUBLIC_LABEL).ok_or_else(|| KeyError::NotPem {
            path: path.to_path_buf(),
            label: PUBLIC_LABEL,
        })?;
        let raw: [u8; 32] = der
            .strip_prefix(&SPKI_PREFIX[..])
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| KeyError::NotEd25519 {
                path: path.to_path_buf(),
                what: "public key",
            })?;
        let inner =
            ed25519_dalek::VerifyingKey::from_bytes(&raw).map_err(|_| KeyError::BadPoint {
                path: path.to_path_buf(),
            })?;
        Ok(PublicKey { inner })
    }

    pub fn load(path: &Path) -> Result<PublicKey, KeyError> {
        PublicKey::from_pem(&read_small(path)?, path)
    }

    pub fn to_pem(&self) -> String {
        let mut der = SPKI_PREFIX.to_vec();
        der.extend_from_slice(self.inner.as_bytes());
        pem_encode(&der, PUBLIC_LABEL)
    }

    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.inner)
    }

    /// Strict Ed25519 verification (rejects malleable and small-order forms).
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        self.inner.verify_strict(message, &sig).is_ok() && self.inner.verify(message, &sig).is_ok()
    }
}

fn read_small(path: &Path) -> Result<String, KeyError> {
    use std::io::Read as _;
    let read = || -> std::io::Result<String> {
        let mut text = String::new();
        std::fs::File::open(path)?
            .take(MAX_KEY_FILE)
            .read_to_string(&mut text)?;
        Ok(text)
    };
    read().map_err(|source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn pem_encode(der: &[u8], label: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn pem_decode(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = pem.split_once(&begin)?.1.split_once(&end)?.0;
    let joined: String = body.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(joined)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_keeps_key_and_id() {
        let key = SigningKey::generate().unwrap();
        let again = SigningKey::from_pem(&key.to_pem(), Path::new("k")).unwrap();
        let public = PublicKey::from_pem(&key.public_key().to_pem(), Path::new("p")).unwrap();
        assert_eq!(again.public_key(), public);
        assert_eq!(public.key_id().as_str().len(), 16);
        let sig = key.sign(b"message");
        assert!(public.verify(b"message", &sig));
        assert!(!public.verify(b"messagf", &sig));
    }

    #[test]
    fn key_id_matches_definition() {
        // RFC 8032 test vector 1 public key.
        let raw = [
            0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64,
            0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68,
            0xf7, 0x07, 0x51, 0x1a,
        ];
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&raw).unwrap();
        let expected = crate::digest::to_hex(&crate::digest::sha256(&raw)[..8]);
        assert_eq!(KeyId::of(&vk).as_str(), expected);
    }

    #[test]
    fn refuses_other_key_kinds() {
        let pub_as_private = SigningKey::generate().unwrap().public_key().to_pem();
        assert!(matches!(
            SigningKey::from_pem(&pub_as_private, Path::new("x")),
            Err(KeyError::NotPem { .. })
        ));
        let rsa_like = pem_encode(&[0x30, 0x03, 0x02, 0x01, 0x00], PUBLIC_LABEL);
        assert!(matches!(
            PublicKey::from_pem(&rsa_like, Path::new("x")),
            Err(KeyError::NotEd25519 { .. })
        ));
    }
}
