//! Signature documents: one Sigstore bundle (v0.3, JSON encoding) per signer,
//! holding a pure Ed25519 signature over the exact bytes of `manifest.json`
//! and, as `messageDigest`, the manifest's SHA-256. The key is named by its
//! key id in `verificationMaterial.publicKey.hint`; the public key itself
//! comes from the verifier's trust store, never from the document.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::keys::{KeyId, PublicKey, SigningKey};

pub const MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const DIGEST_ALGORITHM: &str = "SHA2_256";
/// Largest signature document accepted; real ones are under 1 KiB.
pub const MAX_SIGNATURE_BYTES: u64 = 64 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SigstoreBundle {
    media_type: String,
    verification_material: VerificationMaterial,
    message_signature: MessageSignature,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerificationMaterial {
    public_key: PublicKeyIdentifier,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PublicKeyIdentifier {
    hint: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageSignature {
    message_digest: HashOutput,
    signature: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct HashOutput {
    algorithm: String,
    digest: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("not a Sigstore bundle document: {0}")]
    Malformed(String),
    #[error("media type `{0}` is not {MEDIA_TYPE}")]
    MediaType(String),
    #[error("key hint `{0}` is not a stap-pack key id (16 hex digits)")]
    Hint(String),
    #[error("message digest algorithm `{0}` is not {DIGEST_ALGORITHM}")]
    Algorithm(String),
    #[error(
        "the signature was made over a different manifest (its message digest does not match)"
    )]
    OtherManifest,
    #[error("the Ed25519 signature does not verify with key {0}")]
    BadSignature(KeyId),
}

/// A parsed signature document; its claims are unchecked until [`verify`](Self::verify).
#[derive(Debug, Clone)]
pub struct SignatureDocument {
    pub key_id: KeyId,
    digest: Vec<u8>,
    signature: [u8; 64],
}

impl SignatureDocument {
    /// Signs `manifest_bytes` and returns the JSON document to store.
    pub fn create(manifest_bytes: &[u8], key: &SigningKey) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let doc = SigstoreBundle {
            media_type: MEDIA_TYPE.to_string(),
            verification_material: VerificationMaterial {
                public_key: PublicKeyIdentifier {
                    hint: key.public_key().key_id().to_string(),
                },
            },
            message_signature: MessageSignature {
                message_digest: HashOutput {
                    algorithm: DIGEST_ALGORITHM.to_string(),
                    digest: b64.encode(crate::digest::sha256(manifest_bytes)),
                },
                signature: b64.encode(key.sign(manifest_bytes)),
            },
        };
        let mut out = serde_json::to_vec_pretty(&doc).expect("signature document serialises");
        out.push(b'\n');
        out
    }

    pub fn parse(bytes: &[u8]) -> Result<SignatureDocument, SignatureError> {
        let doc: SigstoreBundle =
            serde_json::from_slice(bytes).map_err(|e| SignatureError::Malformed(e.to_string()))?;
        if doc.media_type != MEDIA_TYPE {
            return Err(SignatureError::MediaType(doc.media_type));
        }
        let hint = doc.verification_material.public_key.hint;
        let key_id = KeyId::parse(&hint).ok_or(SignatureError::Hint(hint))?;
        let ms = doc.message_signature;
        if ms.message_digest.algorithm != DIGEST_ALGORITHM {
            return Err(SignatureError::Algorithm(ms.message_digest.algorithm));
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let digest = b64
            .decode(&ms.message_digest.digest)
            .map_err(|e| SignatureError::Malformed(format!("message digest: {e}")))?;
        let signature: [u8; 64] = b64
            .decode(&ms.signature)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| {
                SignatureError::Malformed("signature is not 64 bytes of base64".into())
            })?;
        Ok(SignatureDocument {
            key_id,
            digest,
            signature,
        })
    }

    /// Checks the document against the manifest bytes with the trusted key
    /// whose id the document names.
    pub fn verify(&self, manifest_bytes: &[u8], key: &PublicKey) -> Result<(), SignatureError> {
        if self.digest != crate::digest::sha256(manifest_bytes) {
            return Err(SignatureError::OtherManifest);
        }
        if key.key_id() != self.key_id || !key.verify(manifest_bytes, &self.signature) {
            return Err(SignatureError::BadSignature(self.key_id.clone()));
        }
        Ok(())
    }

    /// Archive path of the document for a key.
    pub fn archive_path(key_id: &KeyId) -> String {
        format!("{}{key_id}.sigstore.json", crate::SIGNATURES_DIR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_document_verifies_only_for_its_manifest_and_key() {
        let key = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap();
        let doc = SignatureDocument::parse(&SignatureDocument::create(b"manifest", &key)).unwrap();
        assert_eq!(doc.key_id, key.public_key().key_id());
        assert_eq!(doc.verify(b"manifest", &key.public_key()), Ok(()));
        assert_eq!(
            doc.verify(b"manifest2", &key.public_key()),
            Err(SignatureError::OtherManifest)
        );
        assert!(matches!(
            doc.verify(b"manifest", &other.public_key()),
            Err(SignatureError::BadSignature(_))
        ));
    }

    #[test]
    fn digest_matching_but_signature_forged_is_refused() {
        let key = SigningKey::generate().unwrap();
        let mut doc = SignatureDocument::parse(&SignatureDocument::create(b"m", &key)).unwrap();
        doc.signature[0] ^= 1;
        assert!(matches!(
            doc.verify(b"m", &key.public_key()),
            Err(SignatureError::BadSignature(_))
        ));
    }

    #[test]
    fn refuses_foreign_documents() {
        assert!(matches!(
            SignatureDocument::parse(b"{}"),
            Err(SignatureError::Malformed(_))
        ));
        let key = SigningKey::generate().unwrap();
        let text = String::from_utf8(SignatureDocument::create(b"m", &key)).unwrap();
        let v02 = text.replace("v0.3", "v0.2");
        assert!(matches!(
            SignatureDocument::parse(v02.as_bytes()),
            Err(SignatureError::MediaType(_))
        ));
        let sha512 = text.replace("SHA2_256", "SHA2_512");
        assert!(matches!(
            SignatureDocument::parse(sha512.as_bytes()),
            Err(SignatureError::Algorithm(_))
        ));
    }
}
