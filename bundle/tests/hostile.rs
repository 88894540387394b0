//! Hostile inputs: each must be refused with the specific error that names
//! the problem, without a panic and without anything coming back verified.

mod common;

use common::*;
use stap_bundle::archive::{Limits, ReadError};
use stap_bundle::manifest::{Manifest, ManifestError, MAX_MANIFEST_BYTES};
use stap_bundle::paths::PathError;
use stap_bundle::signature::{SignatureDocument, SignatureError};
use stap_bundle::verify::VerifyError;
use stap_bundle::MANIFEST_PATH;

const MODULE_PATH: &str = "modules/6.1.0-56-cloud-amd64/stap_hello.ko";

fn default_read_error(bytes: &[u8]) -> ReadError {
    read_error(bytes, &Limits::default())
}

/// A valid signed bundle's entries with `extra` appended.
fn signed_entries_plus(extra: RawEntry) -> Vec<u8> {
    let mut c = contents("hostile");
    sign(&mut c, &key());
    let mut entries = valid_entries(&c);
    entries.push(extra);
    raw_bundle(&entries)
}

// --- entry names -----------------------------------------------------------

#[test]
fn parent_directory_entry_is_refused() {
    let err = default_read_error(&signed_entries_plus(RawEntry::file("../x", b"evil")));
    assert!(
        matches!(&err, ReadError::Path(PathError::BadComponent(p)) if p == "../x"),
        "{err:?}"
    );
}

#[test]
fn traversal_through_a_subdirectory_is_refused() {
    let err = default_read_error(&signed_entries_plus(RawEntry::file("a/../../x", b"evil")));
    assert!(
        matches!(&err, ReadError::Path(PathError::BadComponent(p)) if p == "a/../../x"),
        "{err:?}"
    );
}

#[test]
fn absolute_entry_is_refused() {
    let err = default_read_error(&signed_entries_plus(RawEntry::file(
        "/etc/cron.d/x",
        b"evil",
    )));
    assert!(
        matches!(&err, ReadError::Path(PathError::Absolute(p)) if p == "/etc/cron.d/x"),
        "{err:?}"
    );
}

#[test]
fn pax_path_override_with_traversal_is_refused() {
    // A PAX extended header renames the next entry; the reader must check the
    // name it finally uses, not the harmless one in the ustar header.
    let mut builder = tar::Builder::new(Vec::new());
    let manifest = contents("pax").manifest_bytes;
    builder
        .append(
            &RawEntry::file(MANIFEST_PATH, &manifest).header(),
            manifest.as_slice(),
        )
        .unwrap();
    builder
        .append_pax_extensions([("path", b"../../etc/passwd".as_slice())])
        .unwrap();
    builder
        .append(
            &RawEntry::file("harmless.txt", b"evil").header(),
            b"evil".as_slice(),
        )
        .unwrap();
    let err = default_read_error(&zstd_frame(&builder.into_inner().unwrap()));
    assert!(
        matches!(&err, ReadError::Path(PathError::BadComponent(p)) if p == "../../etc/passwd"),
        "{err:?}"
    );
}

#[test]
fn gnu_long_name_beyond_ustar_length_is_refused() {
    let long = format!("scripts/{}.stp", "a".repeat(120));
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(4);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    // append_data writes a GNU `././@LongLink` entry for the long name.
    builder
        .append_data(&mut header, &long, b"evil".as_slice())
        .unwrap();
    let err = default_read_error(&zstd_frame(&builder.into_inner().unwrap()));
    assert!(
        matches!(&err, ReadError::Path(PathError::TooLong(p)) if *p == long),
        "{err:?}"
    );
}

#[test]
fn non_utf8_entry_name_is_refused() {
    let entry = RawEntry {
        name: b"scripts/\xff.stp".to_vec(),
        ..RawEntry::file("", b"x")
    };
    let err = default_read_error(&signed_entries_plus(entry));
    assert!(
        matches!(err, ReadError::Path(PathError::BadCharacter(_))),
        "{err:?}"
    );
}

// --- entry kinds -----------------------------------------------------------

fn assert_not_regular(entry: RawEntry, expected_kind: &str) {
    let name = String::from_utf8(entry.name.clone()).unwrap();
    let err = default_read_error(&signed_entries_plus(entry));
    match &err {
        ReadError::NotRegularFile { path, kind } => {
            assert_eq!(path, &name);
            assert_eq!(kind, expected_kind);
        }
        other => panic!("expected NotRegularFile for {expected_kind}, got {other:?}"),
    }
    assert!(
        err.to_string().contains("bundles hold only regular files"),
        "{err}"
    );
}

#[test]
fn symlink_entry_is_refused() {
    let link = RawEntry {
        link_name: Some(b"/etc/shadow".to_vec()),
        ..RawEntry::of_kind("scripts/x.stp", tar::EntryType::Symlink)
    };
    assert_not_regular(link, "symbolic link");
}

#[test]
fn hard_link_entry_is_refused() {
    let link = RawEntry {
        link_name: Some(MANIFEST_PATH.as_bytes().to_vec()),
        ..RawEntry::of_kind("scripts/x.stp", tar::EntryType::Link)
    };
    assert_not_regular(link, "hard link");
}

#[test]
fn character_device_entry_is_refused() {
    assert_not_regular(
        RawEntry::of_kind("dev/mem", tar::EntryType::Char),
        "character device",
    );
}

#[test]
fn block_device_entry_is_refused() {
    assert_not_regular(
        RawEntry::of_kind("dev/sda", tar::EntryType::Block),
        "block device",
    );
}

#[test]
fn directory_entry_is_refused() {
    assert_not_regular(
        RawEntry::of_kind("modules/", tar::EntryType::Directory),
        "directory",
    );
}

#[test]
fn fifo_entry_is_refused() {
    assert_not_regular(
        RawEntry::of_kind("scripts/pipe", tar::EntryType::Fifo),
        "FIFO",
    );
}

#[test]
fn global_pax_header_is_refused() {
    let mut entries = valid_entries(&contents("pax-global"));
    entries.insert(
        0,
        RawEntry::file("pax_global_header", b"19 path=../../evil\n"),
    );
    entries[0].kind = tar::EntryType::XGlobalHeader;
    let err = default_read_error(&raw_bundle(&entries));
    assert!(matches!(err, ReadError::NotRegularFile { .. }), "{err:?}");
}

// --- duplicates and manifest coverage --------------------------------------

#[test]
fn duplicate_payload_entry_is_refused() {
    let c = contents("dup");
    let mut entries = valid_entries(&c);
    // The second copy carries other bytes: which one would win is the attack.
    entries.push(RawEntry::file(MODULE_PATH, b"replacement module"));
    let err = default_read_error(&raw_bundle(&entries));
    assert!(
        matches!(&err, ReadError::Duplicate(p) if p == MODULE_PATH),
        "{err:?}"
    );
}

#[test]
fn duplicate_manifest_is_refused() {
    let mut c = contents("dup-manifest");
    sign(&mut c, &key());
    let mut entries = valid_entries(&c);
    entries.push(RawEntry::file(
        MANIFEST_PATH,
        &contents("other").manifest_bytes,
    ));
    let err = default_read_error(&raw_bundle(&entries));
    assert!(
        matches!(&err, ReadError::Duplicate(p) if p == MANIFEST_PATH),
        "{err:?}"
    );
}

#[test]
fn file_not_in_manifest_is_refused() {
    let signer = key();
    let mut c = contents("unlisted");
    sign(&mut c, &signer);
    c.payload
        .insert("scripts/extra.stp".to_string(), b"probe begin {}".to_vec());
    let err = verify_error(&write(&c), &trust(&[&signer]));
    assert!(
        matches!(&err, VerifyError::UnlistedFile(p) if p == "scripts/extra.stp"),
        "{err:?}"
    );
}

#[test]
fn manifest_file_missing_from_archive_is_refused() {
    let signer = key();
    let mut c = contents("missing");
    sign(&mut c, &signer);
    c.payload
        .remove(MODULE_PATH)
        .expect("the test bundle has this module");
    let err = verify_error(&write(&c), &trust(&[&signer]));
    assert!(
        matches!(&err, VerifyError::MissingFile(p) if p == MODULE_PATH),
        "{err:?}"
    );
}

#[test]
fn module_tampered_after_signing_is_refused() {
    let signer = key();
    let mut c = contents("tampered");
    sign(&mut c, &signer);
    let module = c.payload.get_mut(MODULE_PATH).unwrap();
    let last = module.len() - 1;
    module[last] ^= 0x01;
    let err = verify_error(&write(&c), &trust(&[&signer]));
    assert!(
        matches!(&err, VerifyError::DigestMismatch { path, .. } if path == MODULE_PATH),
        "{err:?}"
    );
    assert!(err.to_string().contains("altered after signing"), "{err}");
}

#[test]
fn no_manifest_is_refused() {
    let c = contents("no-manifest");
    let entries: Vec<RawEntry> = valid_entries(&c)
        .into_iter()
        .filter(|e| e.name != MANIFEST_PATH.as_bytes())
        .collect();
    let err = default_read_error(&raw_bundle(&entries));
    assert!(matches!(err, ReadError::NoManifest), "{err:?}");
}

// --- sizes and counts ------------------------------------------------------

/// A tar whose one payload entry is `len` zero bytes (declared size `len`),
/// compressed while streaming. Zeros compress to almost nothing.
fn zero_bomb(len: u64) -> Vec<u8> {
    let manifest = contents("bomb").manifest_bytes;
    let mut prefix = tar_bytes(&[RawEntry::file(MANIFEST_PATH, &manifest)]);
    prefix.truncate(prefix.len() - 1024); // drop the end-of-archive marker
    let mut header = RawEntry::file(MODULE_PATH, b"").header();
    header.set_size(len);
    header.set_cksum();
    prefix.extend_from_slice(header.as_bytes());
    let padding = (512 - len % 512) % 512;
    // The padding and the end-of-archive marker are zeros too.
    compress_zeros_after(&prefix, len + padding + 1024, b"")
}

#[test]
fn decompression_bomb_is_stopped_by_the_total_cap_while_streaming() {
    let bomb = zero_bomb(2 << 30);
    assert!(
        bomb.len() < 1 << 20,
        "2 GiB of zeros should compress to well under 1 MiB, got {}",
        bomb.len()
    );
    // Allow the entry itself so that only the cap on the total can stop it.
    let limits = Limits {
        max_total_bytes: 8 << 20,
        max_entry_bytes: 4 << 30,
        ..Limits::default()
    };
    let err = read_error(&bomb, &limits);
    assert!(
        matches!(err, ReadError::TotalSizeCap(cap) if cap == 8 << 20),
        "{err:?}"
    );
    assert!(err.to_string().contains("decompression bomb"), "{err}");
}

#[test]
fn entry_larger_than_max_entry_bytes_is_refused_with_default_limits() {
    let max = Limits::default().max_entry_bytes;
    let err = default_read_error(&zero_bomb(max + 1));
    match err {
        ReadError::EntryTooLarge {
            path,
            size,
            max: reported,
        } => {
            assert_eq!(path, MODULE_PATH);
            assert_eq!(size, max + 1);
            assert_eq!(reported, max);
        }
        other => panic!("expected EntryTooLarge, got {other:?}"),
    }
}

#[test]
fn entry_claiming_huge_size_is_refused_before_reading_it() {
    // The header claims 1 TiB but the archive holds none of it: refused on
    // the claim, with no attempt to allocate or read that much.
    let mut header = RawEntry::file(MODULE_PATH, b"").header();
    header.set_size(1 << 40);
    header.set_cksum();
    let mut tar = header.as_bytes().to_vec();
    tar.extend_from_slice(&[0; 1024]);
    let err = default_read_error(&zstd_frame(&tar));
    assert!(
        matches!(err, ReadError::EntryTooLarge { size, .. } if size == 1 << 40),
        "{err:?}"
    );
}

#[test]
fn entry_shorter_than_its_header_claims_is_refused() {
    let mut tar = tar_bytes(&[RawEntry::file(
        MANIFEST_PATH,
        &contents("short").manifest_bytes,
    )]);
    let mut header = RawEntry::file(MODULE_PATH, b"").header();
    header.set_size(4096);
    header.set_cksum();
    tar.truncate(tar.len() - 1024);
    tar.extend_from_slice(header.as_bytes());
    tar.extend_from_slice(&[0x5a; 100]);
    let err = default_read_error(&zstd_frame(&tar));
    assert!(matches!(err, ReadError::Corrupt(_)), "{err:?}");
}

#[test]
fn too_many_entries_are_refused() {
    let c = contents("many");
    let entries = valid_entries(&c);
    assert!(entries.len() > 3);
    let limits = Limits {
        max_entries: 3,
        ..Limits::default()
    };
    let err = read_error(&raw_bundle(&entries), &limits);
    assert!(matches!(err, ReadError::TooManyEntries(3)), "{err:?}");
}

#[test]
fn bundle_bigger_than_max_bundle_bytes_is_refused() {
    let bytes = signed_bundle("big", &key());
    let limits = Limits {
        max_bundle_bytes: bytes.len() as u64 - 1,
        ..Limits::default()
    };
    let err = read_error(&bytes, &limits);
    assert!(
        matches!(err, ReadError::TooLarge { size, max } if size == bytes.len() as u64 && max == size - 1),
        "{err:?}"
    );
}

#[test]
fn oversized_manifest_entry_is_refused_by_the_reader() {
    let mut manifest = contents("huge").manifest_bytes;
    manifest.resize(MAX_MANIFEST_BYTES + 1, b' ');
    let err = default_read_error(&raw_bundle(&[RawEntry::file(MANIFEST_PATH, &manifest)]));
    assert!(
        matches!(&err, ReadError::EntryTooLarge { path, max, .. } if path == MANIFEST_PATH && *max == MAX_MANIFEST_BYTES as u64),
        "{err:?}"
    );
}

#[test]
fn oversized_manifest_is_refused_by_the_parser() {
    let mut manifest = contents("huge").manifest_bytes;
    manifest.resize(MAX_MANIFEST_BYTES + 1, b' ');
    let err = Manifest::parse(&manifest).unwrap_err();
    assert!(
        matches!(err, ManifestError::TooLarge(n) if n == MAX_MANIFEST_BYTES + 1),
        "{err:?}"
    );
}

#[test]
fn oversized_signature_document_is_refused() {
    let name = SignatureDocument::archive_path(&key_id(&key()));
    let err = default_read_error(&signed_entries_plus(RawEntry::file(
        &name,
        &vec![b' '; 64 * 1024 + 1],
    )));
    assert!(
        matches!(&err, ReadError::EntryTooLarge { path, .. } if *path == name),
        "{err:?}"
    );
}

// --- the compressed stream -------------------------------------------------

/// An unsigned bundle: its bytes are the same on every run, so the
/// corruption tests below hit the same bytes every time.
fn deterministic_bundle() -> Vec<u8> {
    write(&contents("stream"))
}

#[test]
fn truncated_zstd_is_refused() {
    let bytes = deterministic_bundle();
    let err = default_read_error(&bytes[..bytes.len() / 2]);
    assert!(matches!(err, ReadError::Corrupt(_)), "{err:?}");
}

#[test]
fn zstd_missing_only_its_checksum_is_refused() {
    let bytes = deterministic_bundle();
    let err = default_read_error(&bytes[..bytes.len() - 4]);
    assert!(matches!(err, ReadError::Corrupt(_)), "{err:?}");
}

#[test]
fn corrupt_zstd_is_refused() {
    let bytes = deterministic_bundle();
    for offset in [bytes.len() / 3, bytes.len() / 2, bytes.len() * 2 / 3] {
        let mut corrupt = bytes.clone();
        for b in &mut corrupt[offset..offset + 8] {
            *b ^= 0xa5;
        }
        let err = default_read_error(&corrupt);
        assert!(
            matches!(err, ReadError::Corrupt(_)),
            "flip at {offset}: {err:?}"
        );
    }
}

#[test]
fn trailing_garbage_after_the_frame_is_refused() {
    let mut bytes = signed_bundle("trailing", &key());
    bytes.extend_from_slice(b"#!/bin/sh\nrm -rf /\n");
    let err = default_read_error(&bytes);
    assert!(matches!(err, ReadError::TrailingData), "{err:?}");
}

#[test]
fn second_zstd_frame_is_refused() {
    // The second frame would add an entry if the reader decoded on.
    let mut bytes = signed_bundle("two-frames", &key());
    bytes.extend_from_slice(&raw_bundle(&[RawEntry::file(
        "scripts/late.stp",
        b"probe begin {}",
    )]));
    let err = default_read_error(&bytes);
    assert!(matches!(err, ReadError::TrailingData), "{err:?}");
}

#[test]
fn data_after_end_of_archive_inside_the_frame_is_refused() {
    let c = contents("after-end");
    let mut tar = tar_bytes(&valid_entries(&c));
    let hidden = tar_bytes(&[RawEntry::file("scripts/hidden.stp", b"probe begin {}")]);
    tar.extend_from_slice(&hidden);
    let err = default_read_error(&zstd_frame(&tar));
    assert!(matches!(err, ReadError::TrailingData), "{err:?}");
}

#[test]
fn zero_padding_after_end_of_archive_is_accepted() {
    // Block-padded tars (tar -b20) end in zeros: that is not hostile.
    let signer = key();
    let mut c = contents("padded");
    sign(&mut c, &signer);
    let mut tar = tar_bytes(&valid_entries(&c));
    tar.extend_from_slice(&[0; 10 * 512]);
    let verified =
        read_and_verify(&zstd_frame(&tar), &trust(&[&signer])).expect("padded bundle verifies");
    assert_eq!(verified.signers, vec![key_id(&signer)]);
}

#[test]
fn empty_archive_is_refused() {
    let err = default_read_error(&zstd_frame(&tar_bytes(&[])));
    assert!(matches!(err, ReadError::NoManifest), "{err:?}");
}

#[test]
fn empty_zstd_frame_is_refused() {
    let err = default_read_error(&zstd_frame(b""));
    assert!(matches!(err, ReadError::NoManifest), "{err:?}");
}

#[test]
fn empty_input_is_refused() {
    let err = default_read_error(b"");
    assert!(matches!(err, ReadError::Corrupt(_)), "{err:?}");
}

#[test]
fn input_that_is_not_zstd_is_refused() {
    let err = default_read_error(b"this is a text file, not a bundle\n");
    assert!(matches!(err, ReadError::Corrupt(_)), "{err:?}");
}

#[test]
fn uncompressed_tar_is_refused() {
    let err = default_read_error(&tar_bytes(&valid_entries(&contents("plain-tar"))));
    assert!(matches!(err, ReadError::Corrupt(_)), "{err:?}");
}

// --- the manifest ----------------------------------------------------------

/// A signed bundle whose manifest JSON was edited by `edit` before signing:
/// the signature is valid, so only the manifest checks can refuse it.
fn bundle_with_manifest(
    edit: impl FnOnce(&mut serde_json::Value),
) -> (Vec<u8>, stap_bundle::verify::TrustStore) {
    let mut c = contents("edited");
    let mut value: serde_json::Value = serde_json::from_slice(&c.manifest_bytes).unwrap();
    edit(&mut value);
    c.manifest_bytes = serde_json::to_vec_pretty(&value).unwrap();
    let signer = key();
    sign(&mut c, &signer);
    (write(&c), trust(&[&signer]))
}

#[test]
fn unknown_format_version_is_refused_with_a_readable_message() {
    let (bytes, trust) = bundle_with_manifest(|m| m["format_version"] = 2.into());
    let err = verify_error(&bytes, &trust);
    assert!(
        matches!(
            err,
            VerifyError::Manifest(ManifestError::UnsupportedVersion(2))
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("format version 2 is not supported"),
        "{message}"
    );
    assert!(message.contains("reads version 1"), "{message}");
}

#[test]
fn unknown_format_version_with_other_schema_is_still_reported_as_version() {
    // A future version may change fields; the version must be reported,
    // not a confusing schema error.
    let (bytes, trust) = bundle_with_manifest(|m| {
        m["format_version"] = 7.into();
        m["kernels"] = serde_json::json!({"new": "shape"});
    });
    let err = verify_error(&bytes, &trust);
    assert!(
        matches!(
            err,
            VerifyError::Manifest(ManifestError::UnsupportedVersion(7))
        ),
        "{err:?}"
    );
}

#[test]
fn wrong_format_name_is_refused() {
    let (bytes, trust) = bundle_with_manifest(|m| m["format"] = "in-toto".into());
    let err = verify_error(&bytes, &trust);
    assert!(
        matches!(&err, VerifyError::Manifest(ManifestError::WrongFormat(f)) if f == "in-toto"),
        "{err:?}"
    );
}

#[test]
fn manifest_with_unknown_fields_is_refused() {
    let (bytes, trust) = bundle_with_manifest(|m| m["load_anything"] = true.into());
    let err = verify_error(&bytes, &trust);
    assert!(
        matches!(&err, VerifyError::Manifest(ManifestError::Json(m)) if m.contains("unknown field `load_anything`")),
        "{err:?}"
    );
}

#[test]
fn manifest_with_unknown_nested_field_is_refused() {
    let (bytes, trust) = bundle_with_manifest(|m| m["kernels"][0]["skip_checks"] = true.into());
    let err = verify_error(&bytes, &trust);
    assert!(
        matches!(&err, VerifyError::Manifest(ManifestError::Json(m)) if m.contains("unknown field `skip_checks`")),
        "{err:?}"
    );
}

#[test]
fn non_utf8_manifest_is_refused() {
    let mut c = contents("latin1");
    let at = c
        .manifest_bytes
        .windows(6)
        .position(|w| w == b"latin1")
        .unwrap();
    c.manifest_bytes[at] = 0xe9; // Latin-1 é
    let signer = key();
    sign(&mut c, &signer);
    let err = verify_error(&write(&c), &trust(&[&signer]));
    assert!(
        matches!(err, VerifyError::Manifest(ManifestError::NotUtf8)),
        "{err:?}"
    );
}

#[test]
fn manifest_that_is_not_json_is_refused() {
    let err = Manifest::parse(b"format = \"stap-pack-bundle\"\n").unwrap_err();
    assert!(matches!(err, ManifestError::Json(_)), "{err:?}");
}

#[test]
fn invalid_not_after_is_refused() {
    for bad in [
        "2030-01-01",
        "2030-01-01T00:00:00+02:00",
        "2030-02-30T00:00:00Z",
        "tomorrow",
    ] {
        let mut value: serde_json::Value =
            serde_json::from_slice(&contents("expiry").manifest_bytes).unwrap();
        value["not_after"] = bad.into();
        let err = Manifest::parse(&serde_json::to_vec(&value).unwrap()).unwrap_err();
        assert!(
            matches!(&err, ManifestError::Invalid(m) if m.contains(bad) && m.contains("RFC 3339")),
            "{bad}: {err:?}"
        );
    }
}

#[test]
fn manifest_listing_a_traversal_path_is_refused() {
    // Even a correctly signed manifest may not name a file outside the bundle.
    let (bytes, trust) =
        bundle_with_manifest(|m| m["files"][0]["path"] = "../../etc/passwd".into());
    let err = verify_error(&bytes, &trust);
    assert!(
        matches!(&err, VerifyError::Manifest(ManifestError::Invalid(m)) if m.contains("../../etc/passwd")),
        "{err:?}"
    );
}

// --- signatures ------------------------------------------------------------

#[test]
fn unsigned_bundle_is_refused() {
    let err = verify_error(&write(&contents("unsigned")), &trust(&[&key()]));
    assert!(matches!(err, VerifyError::Unsigned), "{err:?}");
    assert!(err.to_string().contains("stap-pack sign"), "{err}");
}

#[test]
fn signature_by_untrusted_key_is_refused_naming_the_key() {
    let stranger = key();
    let err = verify_error(&signed_bundle("untrusted", &stranger), &trust(&[&key()]));
    assert!(
        matches!(&err, VerifyError::NoTrustedSigner { signed_by } if *signed_by == vec![key_id(&stranger)]),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(key_id(&stranger).as_str()),
        "{err}"
    );
}

#[test]
fn signature_moved_onto_another_manifest_is_refused() {
    let signer = key();
    let mut a = contents("bundle-a");
    sign(&mut a, &signer);
    let mut b = contents("bundle-b");
    b.signatures = a.signatures.clone();
    let err = verify_error(&write(&b), &trust(&[&signer]));
    assert!(
        matches!(&err, VerifyError::BadSignature { key_id: k, source: SignatureError::OtherManifest } if *k == key_id(&signer)),
        "{err:?}"
    );
}

#[test]
fn signature_with_forged_digest_is_refused() {
    // Moving a signature and rewriting its messageDigest to match the new
    // manifest leaves the Ed25519 signature itself wrong.
    let signer = key();
    let a = contents("bundle-a");
    let mut b = contents("bundle-b");
    let doc = String::from_utf8(SignatureDocument::create(&a.manifest_bytes, &signer)).unwrap();
    let b64 = |bytes: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let digest_a = b64(&stap_bundle::digest::sha256(&a.manifest_bytes));
    let digest_b = b64(&stap_bundle::digest::sha256(&b.manifest_bytes));
    assert!(doc.contains(&digest_a));
    b.signatures.insert(
        key_id(&signer),
        doc.replace(&digest_a, &digest_b).into_bytes(),
    );
    let err = verify_error(&write(&b), &trust(&[&signer]));
    assert!(
        matches!(
            &err,
            VerifyError::BadSignature {
                source: SignatureError::BadSignature(_),
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn signature_filed_under_another_key_id_is_refused() {
    let (signer, filed_as) = (key(), key());
    let mut c = contents("misfiled");
    c.signatures.insert(
        key_id(&filed_as),
        SignatureDocument::create(&c.manifest_bytes, &signer),
    );
    let err = verify_error(&write(&c), &trust(&[&signer, &filed_as]));
    assert!(
        matches!(&err, VerifyError::SignatureDocument { key_id: k, source: SignatureError::Hint(h) }
            if *k == key_id(&filed_as) && *h == key_id(&signer).to_string()),
        "{err:?}"
    );
}

#[test]
fn malformed_signature_document_is_refused() {
    let signer = key();
    let mut c = contents("malformed");
    c.signatures.insert(
        key_id(&signer),
        b"{\"mediaType\": \"application/vnd.dev.sigstore.bundle.v0.3+json\"}".to_vec(),
    );
    let err = verify_error(&write(&c), &trust(&[&signer]));
    assert!(
        matches!(
            &err,
            VerifyError::SignatureDocument {
                source: SignatureError::Malformed(_),
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn signature_document_with_short_signature_is_refused() {
    let signer = key();
    let mut c = contents("short-sig");
    let doc: serde_json::Value =
        serde_json::from_slice(&SignatureDocument::create(&c.manifest_bytes, &signer)).unwrap();
    let mut doc = doc;
    doc["messageSignature"]["signature"] = "AAAA".into();
    c.signatures
        .insert(key_id(&signer), serde_json::to_vec(&doc).unwrap());
    let err = verify_error(&write(&c), &trust(&[&signer]));
    assert!(
        matches!(&err, VerifyError::SignatureDocument { source: SignatureError::Malformed(m), .. } if m.contains("64 bytes")),
        "{err:?}"
    );
}

#[test]
fn bad_signature_entry_names_are_refused() {
    let id = key_id(&key());
    for name in [
        "signatures/alice.sigstore.json".to_string(),
        format!("signatures/{}.sigstore.json", id.as_str().to_uppercase()),
        format!("signatures/{id}.json"),
        format!("signatures/{id}.sigstore.json.bak"),
        format!("signatures/nested/{id}.sigstore.json"),
        "signatures/.sigstore.json".to_string(),
    ] {
        let err = default_read_error(&signed_entries_plus(RawEntry::file(&name, b"{}")));
        assert!(
            matches!(&err, ReadError::SignatureName(p) if *p == name),
            "{name}: {err:?}"
        );
    }
}

#[test]
fn entry_claim_is_not_allocated_up_front() {
    // With the per-entry cap lifted, a header claiming 1 TiB must still end
    // in an error for the missing data, not in an allocation of the claim
    // (which aborts the process).
    let mut header = RawEntry::file(MODULE_PATH, b"").header();
    header.set_size(1 << 40);
    header.set_cksum();
    let mut tar = header.as_bytes().to_vec();
    tar.extend_from_slice(&[0x5a; 4096]);
    let limits = Limits {
        max_entry_bytes: u64::MAX,
        ..Limits::default()
    };
    let err = read_error(&zstd_frame(&tar), &limits);
    assert!(matches!(err, ReadError::Corrupt(_)), "{err:?}");
}

#[test]
fn format_version_that_is_not_a_number_is_named_as_such() {
    let (bytes, trust) = bundle_with_manifest(|m| m["format_version"] = "1".into());
    let err = verify_error(&bytes, &trust);
    let message = err.to_string();
    assert!(
        message.contains("`format_version` must be a whole number"),
        "{message}"
    );
}
