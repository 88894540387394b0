//! Preprocessing against targets: real Debian kernel header trees (when
//! installed), synthetic build trees in temp dirs, macro libraries and
//! script arguments.

use std::path::Path;

use stap_translator::printer::print_file;
use stap_translator::target::{Runtime, TargetError};
use stap_translator::{parse, parse_with, FileId, MacroLibrary, ParseOptions, SourceMap, Target};

/// Parses `text` for `options`, asserting that no diagnostics are produced,
/// and returns the printed tree.
fn printed_with(text: &str, options: &ParseOptions<'_>) -> String {
    let mut sources = SourceMap::new();
    let file = sources.add("test.stp", text);
    let (tree, diagnostics) = parse_with(file, text, options);
    assert!(
        diagnostics.is_empty(),
        "{}",
        sources.render_all(&diagnostics)
    );
    print_file(&tree)
}

fn printed(text: &str, target: &Target) -> String {
    printed_with(text, &ParseOptions::new(target))
}

fn errors(text: &str, options: &ParseOptions<'_>) -> String {
    let mut sources = SourceMap::new();
    let file = sources.add("test.stp", text);
    let (_, diagnostics) = parse_with(file, text, options);
    sources.render_all(&diagnostics)
}

const KERNEL_VERSION_SCRIPT: &str = r#"probe begin {
%( kernel_v >= "6.10" %? api = "new" %: api = "old" %)
%( kernel_vr == "6.1.*" %? series = 61 %: series = 0 %)
%( arch == "x86_64" && CONFIG_X86_64 == "y" %? arch = "x86" %)
%( CONFIG_ACPI_APEI_MEMORY_FAILURE == "y" %? apei = 1 %: apei = 0 %)
%( CONFIG_NR_CPUS >= 64 %? many = 1 %)
}
"#;

fn installed_tree(release: &str) -> Option<std::path::PathBuf> {
    let tree = Path::new("/usr/src").join(format!("linux-headers-{release}"));
    if tree.join(".config").is_file() {
        Some(tree)
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "kernel headers {release} are required in CI"
        );
        println!("skipped: {} not installed", tree.display());
        None
    }
}

#[test]
fn same_script_differs_per_real_kernel() {
    let Some(old_tree) = installed_tree("6.1.0-56-cloud-amd64") else {
        return;
    };
    let Some(new_tree) = installed_tree("6.12.117+deb12-cloud-amd64") else {
        return;
    };
    let old = Target::for_kernel_build_tree("6.1.0-56-cloud-amd64", &old_tree).unwrap();
    let new = Target::for_kernel_build_tree("6.12.117+deb12-cloud-amd64", &new_tree).unwrap();
    assert_eq!(old.arch, "x86_64");
    assert_eq!(old.kernel_version(), "6.1.0");
    assert_eq!(
        printed(KERNEL_VERSION_SCRIPT, &old),
        "probe begin {\n  api = \"old\";\n  series = 61;\n  arch = \"x86\";\n  apei = 0;\n  many = 1;\n}\n"
    );
    assert_eq!(
        printed(KERNEL_VERSION_SCRIPT, &new),
        "probe begin {\n  api = \"new\";\n  series = 0;\n  arch = \"x86\";\n  apei = 1;\n  many = 1;\n}\n"
    );
}

#[test]
fn installed_kernel_lookup_uses_debian_header_paths() {
    if installed_tree("6.1.0-56-cloud-amd64").is_none() {
        return;
    }
    let target = Target::for_installed_kernel("6.1.0-56-cloud-amd64").unwrap();
    assert_eq!(target.config_value("CONFIG_SMP"), "y");
    let from_tree =
        Target::for_build_tree(Path::new("/usr/src/linux-headers-6.1.0-56-cloud-amd64")).unwrap();
    assert_eq!(from_tree, target);
    let missing = Target::for_installed_kernel("0.0.0-none").unwrap_err();
    assert!(
        matches!(missing, TargetError::NoBuildTree { .. }),
        "{missing}"
    );
}

fn synthetic_tree(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".config"), config).unwrap();
    dir
}

#[test]
fn synthetic_build_trees_drive_conditionals() {
    let x86 = synthetic_tree(
        "# comment\nCONFIG_X86_64=y\nCONFIG_FOO=m\nCONFIG_NUM=0x10\nCONFIG_OTHER=16\nCONFIG_STR=\"hello world\"\n# CONFIG_OFF is not set\n",
    );
    let target = Target::for_kernel_build_tree("5.10.0-test", x86.path()).unwrap();
    let script = r#"probe begin {
%( CONFIG_FOO == "m" %? a = 1 %: a = 0 %)
%( CONFIG_FOO == "y" %? b = 1 %: b = 0 %)
%( CONFIG_NUM == 16 %? c = 1 %: c = 0 %)
%( CONFIG_NUM == CONFIG_OTHER %? d = 1 %: d = 0 %)
%( CONFIG_STR == "\"hello*" %? e = 1 %: e = 0 %)
%( CONFIG_OFF == "" %? f = 1 %: f = 0 %)
%( CONFIG_OFF != "" || kernel_v == "5.10.0" %? g = 1 %: g = 0 %)
%( kernel_v > "5.9" && kernel_v < "5.10.1" && kernel_vr != "5.10.0-other" %? h = 1 %: h = 0 %)
}
"#;
    assert_eq!(
        printed(script, &target),
        "probe begin {\n  a = 1;\n  b = 0;\n  c = 1;\n  d = 1;\n  e = 1;\n  f = 1;\n  g = 1;\n  h = 1;\n}\n"
    );

    let arm = synthetic_tree("CONFIG_ARM64=y\n");
    let target = Target::for_kernel_build_tree("6.6.0", arm.path()).unwrap();
    assert_eq!(target.arch, "arm64");
    assert_eq!(
        printed(
            r#"probe begin { %( arch == "arm*" %? x = 1 %: x = 2 %) }"#,
            &target
        ),
        "probe begin {\n  x = 1;\n}\n"
    );

    let empty = tempfile::tempdir().unwrap();
    let err = Target::for_kernel_build_tree("1.0", empty.path()).unwrap_err();
    assert!(matches!(err, TargetError::Config { .. }), "{err}");
    let err = Target::for_build_tree(empty.path()).unwrap_err();
    assert!(matches!(err, TargetError::Release { .. }), "{err}");

    let generated = x86.path().join("include/generated");
    std::fs::create_dir_all(&generated).unwrap();
    std::fs::write(
        generated.join("utsrelease.h"),
        "#define UTS_RELEASE \"5.10.0-test\"\n",
    )
    .unwrap();
    assert_eq!(
        Target::for_build_tree(x86.path()).unwrap().kernel_release,
        "5.10.0-test"
    );
}

#[test]
fn translator_settings_are_conditions_too() {
    let script = r#"probe begin { %( runtime == "dyninst" %? r = 1 %: r = 0 %) %( guru_mode == 1 %? g = 1 %: g = 0 %) }"#;
    let target = Target {
        runtime: Runtime::Dyninst,
        guru_mode: true,
        ..Target::default()
    };
    assert_eq!(
        printed(script, &target),
        "probe begin {\n  r = 1;\n  g = 1;\n}\n"
    );
    assert_eq!(
        printed(script, &Target::default()),
        "probe begin {\n  r = 0;\n  g = 0;\n}\n"
    );
}

#[test]
fn skipped_branches_may_hold_anything() {
    let target = Target::default();
    let script = "probe begin { %( arch == \"s390\" %? this is not ) valid { %: ok = 1 %) }";
    assert_eq!(printed(script, &target), "probe begin {\n  ok = 1;\n}\n");
}

#[test]
fn library_macros_are_visible_and_isolated() {
    let target = Target::default();
    let mut library = MacroLibrary::new();
    let diagnostics = library.add_file(
        FileId(1),
        r#"@define lib_double(x) %( (@x) * 2 %)
@define lib_uses_local %( @local_only %)
%( arch == "x86_64" %? @define lib_arch %( "x86" %) %: @define lib_arch %( "other" %) %)"#,
        &target,
    );
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert_eq!(library.len(), 3);
    let options = ParseOptions {
        target: &target,
        macros: Some(&library),
        script_args: None,
    };
    assert_eq!(
        printed_with("probe begin { x = @lib_double(3) . @lib_arch }", &options),
        "probe begin {\n  x = 3 * 2 . \"x86\";\n}\n"
    );
    // A library macro body cannot see the script's own macros.
    let rendered = errors(
        "@define local_only %( 1 %)\nprobe begin { x = @lib_uses_local }",
        &options,
    );
    assert!(
        rendered.contains("unknown operator '@local_only'"),
        "{rendered}"
    );

    let duplicate = library.add_file(FileId(2), "@define lib_double %( 0 %)", &target);
    assert_eq!(duplicate.len(), 1, "{duplicate:?}");
    assert!(duplicate[0].message.contains("duplicate definition"));

    let stray = MacroLibrary::new().add_file(FileId(3), "probe begin {}", &target);
    assert!(stray[0]
        .message
        .contains("unexpected keyword 'probe' in library macro file"));
}

#[test]
fn macro_parameters_expand_in_the_callers_scope() {
    let target = Target::default();
    let script = "@define inner(v) %( [@v] %)\n@define outer(w) %( @inner(@w + 1) %)\n\
                  probe begin { x = a@outer(2) }";
    assert_eq!(
        printed(script, &target),
        "probe begin {\n  x = a[2 + 1];\n}\n"
    );
}

#[test]
fn script_arguments_are_substituted_when_given() {
    let target = Target::default();
    let args = vec![
        "kernel.function(\"vfs_read\")".to_string(),
        "a \"b\"".to_string(),
    ];
    let options = ParseOptions {
        target: &target,
        macros: None,
        script_args: Some(&args),
    };
    assert_eq!(
        printed_with(
            "probe $1 { printf(\"%s %d\\n\", @2, $#) %( $# >= 2 %? two = 1 %) }",
            &options
        ),
        "probe kernel.function(\"vfs_read\") {\n  printf(\"%s %d\\n\", \"a \\\"b\\\"\", 2);\n  two = 1;\n}\n"
    );
    let rendered = errors("probe begin { x = $3 }", &options);
    assert!(
        rendered.contains("command line argument out of range [1-2]"),
        "{rendered}"
    );
    // Without arguments they stay in the tree for later passes.
    let (tree, diagnostics) = parse(FileId(0), "probe begin { x = $1 }", &target);
    assert!(diagnostics.is_empty());
    assert_eq!(print_file(&tree), "probe begin {\n  x = $1;\n}\n");
}
