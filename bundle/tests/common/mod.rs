//! Helpers shared by the integration tests: tiny kernel-module ELF files,
//! bundle specs, signing, and hand-made (hostile) tar + zstd archives.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::Write as _;

use object::write::{Object, StandardSection};
use object::{Architecture, BinaryFormat, Endianness, SectionKind};
use stap_bundle::archive::{self, BundleContents, Limits, ReadError, UnverifiedBundle};
use stap_bundle::assemble::{assemble, BundleSpec, ModuleInput, ScriptInput};
use stap_bundle::keys::{KeyId, SigningKey};
use stap_bundle::manifest::{ParamType, Parameter, Privilege};
use stap_bundle::signature::SignatureDocument;
use stap_bundle::verify::{self, TrustStore, VerifiedBundle, VerifyError};

pub const RELEASE: &str = "6.1.0-56-cloud-amd64";
pub const OTHER_RELEASE: &str = "6.12.9-amd64";
/// SOURCE_DATE_EPOCH used for reproducible bundles in the tests.
pub const EPOCH: u64 = 1_700_000_000;

/// A relocatable x86_64 ELF object with a `.modinfo` section, which is all
/// `assemble` reads from a kernel module.
pub fn module_elf(name: &str, vermagic: &str) -> Vec<u8> {
    let mut obj = elf_with_text();
    let modinfo = obj.add_section(
        Vec::new(),
        b".modinfo".to_vec(),
        SectionKind::ReadOnlyString,
    );
    let fields = format!("license=GPL\0name={name}\0vermagic={vermagic}\0");
    obj.append_section_data(modinfo, fields.as_bytes(), 1);
    obj.write().expect("ELF object serialises")
}

/// A valid ELF object that is not a kernel module (no `.modinfo`).
pub fn plain_elf() -> Vec<u8> {
    elf_with_text().write().expect("ELF object serialises")
}

fn elf_with_text() -> Object<'static> {
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
    let text = obj.section_id(StandardSection::Text);
    obj.append_section_data(text, &[0xc3], 1); // ret
    obj
}

pub fn vermagic_for(release: &str) -> String {
    format!("{release} SMP preempt mod_unload modversions ")
}

pub fn module_input(release: &str, built_for: &str) -> ModuleInput {
    ModuleInput {
        release: release.to_string(),
        version: Some("#1 SMP PREEMPT_DYNAMIC Debian".to_string()),
        origin: format!("build/{built_for}/stap_hello.ko"),
        bytes: module_elf("stap_hello", &vermagic_for(built_for)),
        kernel_crcs: Default::default(),
    }
}

/// A two-kernel spec; `name` distinguishes otherwise identical bundles.
pub fn spec(name: &str) -> BundleSpec {
    BundleSpec {
        name: name.to_string(),
        version: semver::Version::new(1, 2, 3),
        privilege: Privilege::Stapusr,
        not_after: Some("2099-01-01T00:00:00Z".to_string()),
        parameters: vec![Parameter {
            name: "target_pid".to_string(),
            ty: ParamType::Long,
        }],
        scripts: vec![ScriptInput {
            file_name: "hello.stp".to_string(),
            bytes: b"probe begin { println(\"hello\") exit() }\n".to_vec(),
        }],
        modules: vec![
            module_input(RELEASE, RELEASE),
            module_input(OTHER_RELEASE, OTHER_RELEASE),
        ],
        created: EPOCH as i64,
        tool_version: "0.1.0".to_string(),
        build_type: "assemble",
    }
}

pub fn contents(name: &str) -> BundleContents {
    assemble(spec(name)).expect("the test spec assembles")
}

pub fn sign(contents: &mut BundleContents, key: &SigningKey) {
    let doc = SignatureDocument::create(&contents.manifest_bytes, key);
    contents.signatures.insert(key.public_key().key_id(), doc);
}

pub fn key() -> SigningKey {
    SigningKey::generate().expect("/dev/urandom is readable")
}

pub fn key_id(key: &SigningKey) -> KeyId {
    key.public_key().key_id()
}

pub fn trust(keys: &[&SigningKey]) -> TrustStore {
    let mut store = TrustStore::new();
    for k in keys {
        store.add_key(k.public_key(), format!("{}.pub", key_id(k)).into());
    }
    store
}

/// A bundle signed by `key`, written with the test epoch.
pub fn signed_bundle(name: &str, key: &SigningKey) -> Vec<u8> {
    let mut c = contents(name);
    sign(&mut c, key);
    write(&c)
}

pub fn write(contents: &BundleContents) -> Vec<u8> {
    archive::write_bundle(contents, EPOCH).expect("writing to memory succeeds")
}

pub fn read(bytes: &[u8]) -> Result<UnverifiedBundle, ReadError> {
    archive::read_bundle(bytes, &Limits::default())
}

pub fn read_and_verify(bytes: &[u8], trust: &TrustStore) -> Result<VerifiedBundle, VerifyError> {
    verify::verify(
        read(bytes).expect("the archive is structurally valid"),
        trust,
    )
}

/// Reading must fail; returns the error (panics with what was read otherwise).
pub fn read_error(bytes: &[u8], limits: &Limits) -> ReadError {
    match archive::read_bundle(bytes, limits) {
        Ok(b) => panic!(
            "hostile archive was accepted: {:?}",
            b.payload_listing().collect::<Vec<_>>()
        ),
        Err(e) => e,
    }
}

/// Verification must fail; returns the error.
pub fn verify_error(bytes: &[u8], trust: &TrustStore) -> VerifyError {
    match read_and_verify(bytes, trust) {
        Ok(v) => panic!("hostile bundle verified, signed by {:?}", v.signers),
        Err(e) => e,
    }
}

/// One entry of a hand-made archive. The name is written into the header
/// bytes directly so that names `tar::Header::set_path` refuses (`..`,
/// absolute) can be made.
pub struct RawEntry {
    pub name: Vec<u8>,
    pub kind: tar::EntryType,
    pub data: Vec<u8>,
    pub link_name: Option<Vec<u8>>,
}

impl RawEntry {
    pub fn file(name: &str, data: &[u8]) -> RawEntry {
        RawEntry {
            name: name.as_bytes().to_vec(),
            kind: tar::EntryType::Regular,
            data: data.to_vec(),
            link_name: None,
        }
    }

    pub fn of_kind(name: &str, kind: tar::EntryType) -> RawEntry {
        RawEntry {
            name: name.as_bytes().to_vec(),
            kind,
            data: Vec::new(),
            link_name: None,
        }
    }

    pub fn header(&self) -> tar::Header {
        let mut header = tar::Header::new_ustar();
        let ustar = header.as_ustar_mut().expect("ustar header");
        assert!(
            self.name.len() <= ustar.name.len(),
            "test entry name fits the ustar name field"
        );
        ustar.name[..self.name.len()].copy_from_slice(&self.name);
        if let Some(link) = &self.link_name {
            ustar.linkname[..link.len()].copy_from_slice(link);
        }
        header.set_size(self.data.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(EPOCH);
        header.set_entry_type(self.kind);
        header.set_cksum();
        header
    }
}

/// Uncompressed tar with the standard end-of-archive marker.
pub fn tar_bytes(entries: &[RawEntry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for e in entries {
        builder
            .append(&e.header(), e.data.as_slice())
            .expect("in-memory tar");
    }
    builder.into_inner().expect("in-memory tar")
}

pub fn zstd_frame(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).expect("in-memory zstd")
}

pub fn raw_bundle(entries: &[RawEntry]) -> Vec<u8> {
    zstd_frame(&tar_bytes(entries))
}

/// The entries of a valid signed bundle, for building variants of it.
pub fn valid_entries(contents: &BundleContents) -> Vec<RawEntry> {
    let mut entries = vec![RawEntry::file(
        stap_bundle::MANIFEST_PATH,
        &contents.manifest_bytes,
    )];
    for (id, doc) in &contents.signatures {
        entries.push(RawEntry::file(&SignatureDocument::archive_path(id), doc));
    }
    for (path, data) in &contents.payload {
        entries.push(RawEntry::file(path, data));
    }
    entries
}

/// Streams `len` zero bytes through a zstd encoder without holding them.
pub fn compress_zeros_after(prefix: &[u8], len: u64, suffix: &[u8]) -> Vec<u8> {
    let mut encoder = zstd::Encoder::new(Vec::new(), 1).expect("zstd encoder");
    encoder.write_all(prefix).unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        encoder.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    encoder.write_all(suffix).unwrap();
    encoder.finish().unwrap()
}
