//! The stap-pack bundle format, version 1.
//!
//! A bundle is one zstd-compressed tar archive holding `manifest.json`, the
//! signatures over it (`signatures/*.sigstore.json`) and the payload the
//! manifest lists. Reading is split in two steps so that nothing from the
//! payload can be used before it was verified:
//! [`archive::read_bundle`] checks the archive's structure and yields an
//! [`archive::UnverifiedBundle`]; [`verify::verify`] checks trust, signatures
//! and digests and yields a [`verify::VerifiedBundle`], the only type that
//! hands out payload bytes.
#![forbid(unsafe_code)]

pub mod archive;
pub mod assemble;
pub mod digest;
pub mod keys;
pub mod manifest;
pub mod modinfo;
pub mod paths;
pub mod provenance;
pub mod signature;
pub mod time;
pub mod verify;

/// Path of the manifest inside the archive.
pub const MANIFEST_PATH: &str = "manifest.json";
/// Folder of signature documents inside the archive.
pub const SIGNATURES_DIR: &str = "signatures/";
/// File name extension of bundles.
pub const BUNDLE_EXTENSION: &str = "stpb";
