//! Positive paths: write → read → verify, reproducible output, the archive's
//! fixed metadata, and `assemble`'s checks on the modules it is given.

mod common;

use std::io::Read as _;

use common::*;
use stap_bundle::assemble::{assemble, AssembleError};
use stap_bundle::manifest::Manifest;
use stap_bundle::modinfo::{read_modinfo, ModinfoError};

#[test]
fn round_trip_with_two_signers() {
    let (alice, bob) = (key(), key());
    let mut c = contents("round-trip");
    sign(&mut c, &alice);
    sign(&mut c, &bob);
    let bytes = write(&c);

    let verified = read_and_verify(&bytes, &trust(&[&alice, &bob])).expect("bundle verifies");
    let mut expected_signers = vec![key_id(&alice), key_id(&bob)];
    expected_signers.sort();
    assert_eq!(verified.signers, expected_signers);
    assert!(verified.untrusted_signers.is_empty());
    assert_eq!(verified.manifest_bytes, c.manifest_bytes);
    assert_eq!(
        verified.manifest,
        Manifest::parse(&c.manifest_bytes).unwrap()
    );
    assert_eq!(
        verified.digest,
        stap_bundle::digest::sha256_hex(&c.manifest_bytes)
    );
    for (path, data) in &c.payload {
        assert_eq!(verified.file(path), Some(data.as_slice()), "{path}");
    }
    assert_eq!(verified.manifest.kernels.len(), 2);
    for kernel in &verified.manifest.kernels {
        assert_eq!(
            verified.module(kernel),
            c.payload[&kernel.module_path].as_slice()
        );
        assert_eq!(
            read_modinfo(verified.module(kernel))
                .unwrap()
                .vermagic_release(),
            kernel.release
        );
    }
    assert_eq!(verified.file("not/in/bundle"), None);

    // Trusting one of the two signers is enough; the other is reported.
    let verified =
        read_and_verify(&bytes, &trust(&[&bob])).expect("bundle verifies with one trusted signer");
    assert_eq!(verified.signers, vec![key_id(&bob)]);
    assert_eq!(verified.untrusted_signers, vec![key_id(&alice)]);
}

#[test]
fn unverified_bundle_reports_without_trust() {
    let signer = key();
    let mut c = contents("inspect");
    sign(&mut c, &signer);
    let unverified = read(&write(&c)).unwrap();
    assert_eq!(unverified.manifest_bytes(), c.manifest_bytes.as_slice());
    assert_eq!(
        unverified.signatures().keys().collect::<Vec<_>>(),
        vec![&key_id(&signer)]
    );
    let listing: Vec<(String, usize)> = unverified
        .payload_listing()
        .map(|(p, n)| (p.to_string(), n))
        .collect();
    let expected: Vec<(String, usize)> = c
        .payload
        .iter()
        .map(|(p, d)| (p.clone(), d.len()))
        .collect();
    assert_eq!(listing, expected);
    assert_eq!(unverified.check_integrity().unwrap().name, "inspect");
}

#[test]
fn same_spec_and_mtime_give_identical_bytes() {
    let first = stap_bundle::archive::write_bundle(&contents("repro"), EPOCH).unwrap();
    let second = stap_bundle::archive::write_bundle(&contents("repro"), EPOCH).unwrap();
    assert_eq!(first, second);
}

#[test]
fn different_mtime_gives_different_bytes() {
    let c = contents("repro");
    let first = stap_bundle::archive::write_bundle(&c, EPOCH).unwrap();
    let later = stap_bundle::archive::write_bundle(&c, EPOCH + 1).unwrap();
    assert_ne!(first, later);
}

#[test]
fn different_creation_time_gives_a_different_manifest() {
    let mut later_spec = spec("repro");
    later_spec.created += 1;
    assert_ne!(
        assemble(later_spec).unwrap().manifest_bytes,
        contents("repro").manifest_bytes
    );
}

#[test]
fn entries_are_sorted_regular_files_owned_by_root_with_mode_0644() {
    let mut c = contents("headers");
    sign(&mut c, &key());
    let tar = zstd::decode_all(write(&c).as_slice()).unwrap();
    let mut archive = tar::Archive::new(tar.as_slice());
    let mut paths = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        assert!(header.as_ustar().is_some(), "{path}: not a ustar header");
        assert_eq!(header.entry_type(), tar::EntryType::Regular, "{path}");
        assert_eq!(header.mode().unwrap(), 0o644, "{path}");
        assert_eq!(header.uid().unwrap(), 0, "{path}");
        assert_eq!(header.gid().unwrap(), 0, "{path}");
        assert_eq!(header.mtime().unwrap(), EPOCH, "{path}");
        assert_eq!(header.username_bytes().unwrap_or_default(), b"", "{path}");
        assert_eq!(header.groupname_bytes().unwrap_or_default(), b"", "{path}");
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        assert_eq!(data.len() as u64, header.size().unwrap());
        paths.push(path);
    }
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    // The manifest, one signature and the payload: nothing else.
    assert_eq!(paths.len(), 2 + c.payload.len());
    assert!(paths.contains(&"manifest.json".to_string()));
}

#[test]
fn assembled_manifest_describes_the_modules() {
    let manifest = Manifest::parse(&contents("describe").manifest_bytes).unwrap();
    let releases: Vec<&str> = manifest
        .kernels
        .iter()
        .map(|k| k.release.as_str())
        .collect();
    assert_eq!(releases, vec![RELEASE, OTHER_RELEASE]);
    for k in &manifest.kernels {
        assert_eq!(k.arch, "x86_64");
        assert_eq!(k.module_name, "stap_hello");
        assert_eq!(k.vermagic, vermagic_for(&k.release));
        assert_eq!(
            k.module_path,
            format!("modules/{}/stap_hello.ko", k.release)
        );
    }
    assert_eq!(manifest.created, "2023-11-14T22:13:20Z");
    assert_eq!(manifest.not_after.as_deref(), Some("2099-01-01T00:00:00Z"));
}

#[test]
fn assemble_refuses_a_module_filed_under_the_wrong_kernel() {
    let mut s = spec("wrong-kernel");
    s.modules = vec![module_input(RELEASE, OTHER_RELEASE)];
    match assemble(s) {
        Err(AssembleError::WrongKernel {
            release,
            built_for,
            origin,
            ..
        }) => {
            assert_eq!(release, RELEASE);
            assert_eq!(built_for, OTHER_RELEASE);
            assert!(origin.contains(OTHER_RELEASE), "{origin}");
        }
        other => panic!("expected WrongKernel, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn assemble_refuses_an_object_without_modinfo() {
    let mut s = spec("no-modinfo");
    s.modules[0].bytes = plain_elf();
    match assemble(s) {
        Err(AssembleError::Modinfo {
            source: ModinfoError::NoModinfo,
            origin,
        }) => {
            assert!(origin.ends_with("stap_hello.ko"), "{origin}")
        }
        other => panic!("expected Modinfo(NoModinfo), got {:?}", other.map(|_| ())),
    }
}

#[test]
fn assemble_refuses_a_module_without_vermagic() {
    let mut s = spec("no-vermagic");
    let mut obj = object::write::Object::new(
        object::BinaryFormat::Elf,
        object::Architecture::X86_64,
        object::Endianness::Little,
    );
    let section = obj.add_section(
        Vec::new(),
        b".modinfo".to_vec(),
        object::SectionKind::ReadOnlyString,
    );
    obj.append_section_data(section, b"name=stap_hello\0license=GPL\0", 1);
    s.modules[0].bytes = obj.write().unwrap();
    match assemble(s) {
        Err(AssembleError::Modinfo {
            source: ModinfoError::Missing("vermagic"),
            ..
        }) => {}
        other => panic!(
            "expected Modinfo(Missing(vermagic)), got {:?}",
            other.map(|_| ())
        ),
    }
}

#[test]
fn assemble_refuses_bytes_that_are_not_elf() {
    let mut s = spec("not-elf");
    s.modules[0].bytes = b"#!/bin/sh\n".to_vec();
    assert!(matches!(
        assemble(s),
        Err(AssembleError::Modinfo {
            source: ModinfoError::NotElf(_),
            ..
        })
    ));
}
