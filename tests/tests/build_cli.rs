//! stap-pack build: script → modules for a kernel matrix → one bundle, with
//! what the manifest must say about it, and clear failures.

use stap_pack_tests::{bin, run, test_kernel};

const SCRIPT: &str = "global cap = 3\nglobal name = \"probe\"\nprobe begin { printf(\"%s %d\\n\", name, cap) exit() }\n";

fn have_headers(release: &str) -> bool {
    let found = stap_kbuild::find_build_dir(release).is_some();
    assert!(
        found || std::env::var_os("CI").is_none(),
        "kernel headers for {release} are missing"
    );
    found
}

#[test]
fn build_writes_a_signed_bundle_whose_manifest_describes_the_modules() {
    let kernel = test_kernel();
    if !have_headers(&kernel) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("limits.stp"), SCRIPT).unwrap();
    let sp = bin("stap-pack");
    run(&sp, &["keygen", "--out", "k"], p).expect_code(0);
    let out = run(
        &sp,
        &[
            "build",
            "limits.stp",
            "-r",
            &kernel,
            "--name",
            "limits",
            "--version",
            "0.3.0",
            "--key",
            "k.key",
            "-o",
            "l.stpb",
        ],
        p,
    )
    .expect_code(0);
    assert!(
        out.stderr.contains(&format!("{kernel}: built in")),
        "progress is shown: {}",
        out.stderr
    );
    run(&sp, &["verify", "l.stpb", "--trust", "k.pub"], p).expect_code(0);

    let json: serde_json::Value = serde_json::from_str(
        &run(&sp, &["inspect", "l.stpb", "--json"], p)
            .expect_code(0)
            .stdout,
    )
    .unwrap();
    let manifest = &json["manifest"];
    assert_eq!(
        manifest["privilege"], "stapusr",
        "begin-only scripts need the least privilege"
    );
    assert_eq!(
        manifest["parameters"],
        serde_json::json!([{"name": "cap", "type": "long"}, {"name": "name", "type": "string"}])
    );
    let entry = &manifest["kernels"][0];
    assert_eq!(entry["release"], kernel.as_str());
    assert_eq!(entry["module_name"], "limits");
    assert!(entry["vermagic"].as_str().unwrap().starts_with(&kernel));
    assert!(
        entry["version"].as_str().unwrap().starts_with("#1 SMP"),
        "uname -v recorded from the headers: {entry}"
    );
    assert_eq!(manifest["scripts"][0]["path"], "scripts/limits.stp");

    let bundle = stap_bundle::archive::read_bundle(
        &std::fs::read(p.join("l.stpb")).unwrap(),
        &Default::default(),
    )
    .unwrap();
    let trust = {
        let mut t = stap_bundle::verify::TrustStore::new();
        t.add_path(&p.join("k.pub")).unwrap();
        t
    };
    let verified = stap_bundle::verify::verify(bundle, &trust).unwrap();
    let provenance: serde_json::Value =
        serde_json::from_slice(verified.file("provenance.intoto.json").unwrap()).unwrap();
    assert_eq!(
        provenance["predicate"]["buildDefinition"]["buildType"],
        "urn:stap-pack:buildtype:build:v1"
    );
    assert_eq!(
        verified.file("scripts/limits.stp").unwrap(),
        SCRIPT.as_bytes()
    );
}

#[test]
fn script_errors_are_reported_with_location_and_nothing_is_built() {
    let kernel = test_kernel();
    if !have_headers(&kernel) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        &bin("stap-pack"),
        &[
            "build",
            "-e",
            "probe begin { x = 1; x = \"s\" }",
            "-r",
            &kernel,
            "--name",
            "bad",
            "--version",
            "1.0.0",
            "-o",
            "b.stpb",
        ],
        dir.path(),
    );
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("<command line>:1:"), "{}", out.stderr);
    assert!(out.stderr.contains("nothing was built"), "{}", out.stderr);
    assert!(!dir.path().join("b.stpb").exists());
}

#[test]
fn a_kernel_without_headers_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        &bin("stap-pack"),
        &[
            "build",
            "-e",
            "probe begin { exit() }",
            "-r",
            "9.9.9-no-such-kernel",
            "--name",
            "x",
            "--version",
            "1.0.0",
            "-o",
            "x.stpb",
        ],
        dir.path(),
    );
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains("no kernel build tree for 9.9.9-no-such-kernel"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("linux-headers-9.9.9-no-such-kernel"),
        "{}",
        out.stderr
    );
}

/// A kprobe on a function the kernel's System.map lacks fails the build
/// before any compiler runs, naming the probe point, the kernel and where
/// it is; functions in modules are left to the load-time check.
#[test]
fn build_checks_kprobe_functions_against_the_system_map() {
    let kernel = test_kernel();
    let Some(real_tree) = stap_kbuild::find_build_dir(&kernel) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "kernel headers for {kernel} are missing"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    // The real build tree (for the configuration), with a System.map.
    let tree = p.join("tree");
    std::fs::create_dir(&tree).unwrap();
    for entry in std::fs::read_dir(&real_tree).unwrap() {
        let entry = entry.unwrap();
        std::os::unix::fs::symlink(entry.path(), tree.join(entry.file_name())).unwrap();
    }
    std::fs::write(
        tree.join("System.map"),
        "ffffffff81000000 T _stext\nffffffff81001000 T vfs_read\n",
    )
    .unwrap();
    std::fs::write(
        p.join("k.stp"),
        "probe kprobe.function(\"vfs_read\") { }\n\
         probe kprobe.function(\"no_such_fn\").return { }\n\
         probe kprobe.module(\"tun\").function(\"not_checked_here\") { }\n",
    )
    .unwrap();
    let kernel_arg = format!("{kernel}={}", tree.display());
    let out = run(
        &bin("stap-pack"),
        &[
            "build",
            "k.stp",
            "-r",
            &kernel_arg,
            "--name",
            "k",
            "--version",
            "1.0.0",
            "-o",
            "k.stpb",
        ],
        p,
    )
    .expect_code(1);
    assert!(
        out.stderr.contains(&format!(
            "error: `kprobe.function(\"no_such_fn\").return`: kernel {kernel} has no function `no_such_fn`"
        )) && out.stderr.contains("k.stp:2:7"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("looked in {}", tree.join("System.map").display())),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("`vfs_read`") && !out.stderr.contains("not_checked_here"),
        "only the missing kernel function is reported: {}",
        out.stderr
    );
    assert!(!out.stderr.contains("Kbuild started"), "{}", out.stderr);
    assert!(!p.join("k.stpb").exists());
}
