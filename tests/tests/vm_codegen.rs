//! The C back end end to end: the translator's golden scripts
//! (translator/tests/out/*.stp) are translated for a kernel, built,
//! bundled, signed and run by stap-verify-run in a 2-CPU VM, with their
//! output, errors and exit status checked (the language semantics the
//! conformance suite checks in depth; this proves the path).

use std::path::Path;

use stap_kbuild::{build_module, find_build_dir, ModuleSources};
use stap_pack_tests::vm::{boot, Guest, VmRun, VmSpec};
use stap_pack_tests::{bin, run, workspace_root};
use stap_translator::{translate, ParamKind, Target, TranslateInput};

const CASES: &[&str] = &[
    "basics", "arrays", "errors", "limits", "timers", "settings", "stats",
];
const SCRIPT_ERROR: i32 = 8;

#[test]
fn golden_scripts_on_6_1() {
    golden_scripts("6.1.0-56-cloud-amd64");
}

#[test]
fn golden_scripts_on_6_12() {
    golden_scripts("6.12.117+deb12-cloud-amd64");
}

/// `-D` settings from a leading `# -D A=1 -D B=2` line (as the golden test reads them).
fn defines(text: &str) -> Vec<(String, Option<String>)> {
    let first = text.lines().next().unwrap_or_default();
    let Some(settings) = first.strip_prefix("# ").filter(|s| s.starts_with("-D ")) else {
        return Vec::new();
    };
    settings
        .split("-D ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (s.to_string(), None),
        })
        .collect()
}

/// Translates, builds, assembles and signs `NAME.stpb` in `dir`.
fn bundle(dir: &Path, release: &str, build_dir: &Path, name: &str) {
    let script = workspace_root().join(format!("translator/tests/out/{name}.stp"));
    let text = std::fs::read_to_string(&script).unwrap();
    let target = Target::for_kernel_build_tree(release, build_dir).unwrap();
    let script_name = format!("{name}.stp");
    let defines = defines(&text);
    let module_name = format!("golden_{name}");
    let input = TranslateInput {
        script_name: &script_name,
        script_text: &text,
        script_args: &[],
        target: &target,
        include_dirs: &[],
        guru: false,
        module_name: &module_name,
        defines: &defines,
    };
    let translation = translate(&input).unwrap_or_else(|e| panic!("{}", e.render()));
    let files: Vec<(&str, &[u8])> = translation
        .files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let sources = ModuleSources {
        module_name: &module_name,
        files: &files,
    };
    let ko = build_module(build_dir, &sources, &dir.join(name), &dir.join("cache"))
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(&script, dir.join(&script_name)).unwrap();
    let module_arg = format!("{release}={}", ko.display());
    let unsigned = format!("{name}.unsigned.stpb");
    let mut args = vec![
        "assemble".to_string(),
        "--name".to_string(),
        name.replace('_', "-"),
        "--version".to_string(),
        "1.0.0".to_string(),
        "--script".to_string(),
        script_name.clone(),
        "--module".to_string(),
        module_arg,
        "-o".to_string(),
        unsigned.clone(),
    ];
    for (param, kind) in &translation.parameters {
        let kind = match kind {
            ParamKind::Long => "long",
            ParamKind::String => "string",
        };
        args.push("--param".to_string());
        args.push(format!("{param}:{kind}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&bin("stap-pack"), &args, dir).expect_code(0);
    run(
        &bin("stap-pack"),
        &[
            "sign",
            &unsigned,
            "--key",
            "k.key",
            "-o",
            &format!("{name}.stpb"),
        ],
        dir,
    )
    .expect_code(0);
}

fn golden_scripts(release: &str) {
    let Some(mut spec) = VmSpec::for_release(release) else {
        return;
    };
    spec.smp = 2;
    let Some(build_dir) = find_build_dir(release) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "headers for {release} are missing"
        );
        return;
    };
    let host = tempfile::tempdir().unwrap();
    run(&bin("stap-pack"), &["keygen", "--out", "k"], host.path()).expect_code(0);
    let mut guest = Guest::new();
    guest
        .file(
            "/etc/k.pub",
            std::fs::read(host.path().join("k.pub")).unwrap(),
            0o644,
        )
        .host_binary(&bin("stap-verify-run"), "/usr/bin/stap-verify-run");
    let mut steps: Vec<(String, String)> = CASES
        .iter()
        .map(|name| (name.to_string(), format!("/{name}.stpb")))
        .collect();
    steps.push((
        "timers with parameters".to_string(),
        "/timers.stpb max_ticks=2 who=param".to_string(),
    ));
    for name in CASES {
        bundle(host.path(), release, &build_dir, name);
        let bytes = std::fs::read(host.path().join(format!("{name}.stpb"))).unwrap();
        guest.file(&format!("/{name}.stpb"), bytes, 0o644);
    }
    for (step, args) in &steps {
        guest.command(
            step,
            &format!("stap-verify-run -q --timeout 20s --trust /etc/k.pub {args}"),
        );
    }
    guest.step("kernel log", "dmesg");
    let vm = boot(&spec, &guest).unwrap();
    eprintln!(
        "{release}: booted in {:.1?}, all steps done in {:.1?}",
        vm.boot_time, vm.total_time
    );
    check(&vm);
    let log = &vm.step("kernel log").output;
    for bad in [
        "WARNING:",
        "BUG:",
        "Oops",
        "general protection",
        "refcount_t",
    ] {
        assert!(!log.contains(bad), "kernel log shows {bad}:\n{log}");
    }
}

fn check(vm: &VmRun) {
    let basics = vm.command("basics");
    assert_eq!((basics.status, basics.stderr), (0, ""));
    assert_eq!(
        basics.stdout,
        "hello demo: n=7 hex=0x7 oct=7 [    7] [7    ] [00007] A 0xff %\n\
         7 hello demo\n\
         1, two, 3a|b\n  a|b  |xy\n42!\n\
         strlen=10 substr=demo isinstr=1\n\
         replace=hello world strtol=255\n\
         shifts 4611686018427387904 -4 15\n\
         min -9223372036854775808 / -1 = -9223372036854775808, % -1 = 0\n\
         1 big 1\n"
    );

    let arrays = vm.command("arrays");
    assert_eq!((arrays.status, arrays.stderr), (0, ""));
    assert_eq!(
        arrays.stdout,
        "carol=35\nalice=30\nbob=25\n\
         by name alice\nby name bob\nby name carol\n\
         by age desc carol=35\nby age desc alice=30\nby age desc bob=25\n\
         1 one uno\n2 two dos\n\
         by word desc two\nby word desc three\nby word desc one\n\
         ring 2=4\nring 3=9\nring 4=16\n\
         in: 1 0 1\nafter: 0 11\n"
    );

    // A caught error goes on; the uncaught one ends the session, and the
    // error probe runs instead of the end probe.
    let errors = vm.command("errors");
    assert_eq!(errors.status, SCRIPT_ERROR, "{}", errors.stderr);
    assert_eq!(
        errors.stdout,
        "caught: caught this\ncaught: division by 0\ncaught without a variable\n\
         now uncaught\nerror probe ran\n"
    );
    assert_eq!(errors.stderr, "ERROR: division by 0 near errors.stp:23:6\n");

    // MAXNESTING can be caught; MAXACTION cannot.
    let limits = vm.command("limits");
    assert_eq!(limits.status, SCRIPT_ERROR, "{}", limits.stderr);
    assert_eq!(
        limits.stdout,
        "fib(10)=55\ncaught: MAXNESTING exceeded\nerror probe\n"
    );
    assert!(
        limits
            .stderr
            .starts_with("ERROR: MAXACTION exceeded near limits.stp:"),
        "{}",
        limits.stderr
    );

    for (step, who, ticks) in [
        ("timers", "timer", 5),
        ("timers with parameters", "param", 2),
    ] {
        let timers = vm.command(step);
        assert_eq!((timers.status, timers.stderr), (0, ""), "{step}");
        let lines: Vec<&str> = timers.stdout.lines().collect();
        assert_eq!(
            lines[..3],
            [
                "first begin",
                "pid>0: 1 cpu>=0: 1 uid: 0",
                "execname: yes pp: begin"
            ],
            "{step}"
        );
        // The other timer may already be running when exit() is called.
        assert!(
            lines[3].starts_with(&format!("{who}: {ticks} ticks, time ok: 1")),
            "{step}: {}",
            timers.stdout
        );
        assert_eq!(
            lines.last(),
            Some(&"end: 1 ticks, tid==pid in end: 1"),
            "{step}"
        );
    }

    let stats = vm.command("stats");
    assert_eq!((stats.status, stats.stderr), (0, ""));
    assert_eq!(
        stats.stdout,
        "2 2 -2 4 1\na 1 1 1\nb 2 11 6\n0 0\ncaught: empty aggregate\n"
    );

    // -D MAXSTRINGLEN=16 MAXMAPENTRIES=4 MAXACTION=50.
    let settings = vm.command("settings");
    assert_eq!(settings.status, SCRIPT_ERROR, "{}", settings.stderr);
    assert_eq!(
        settings.stdout,
        "0123456789abcde 15\n15\ncaught: Array overflow,\n"
    );
    assert!(
        settings
            .stderr
            .starts_with("ERROR: MAXACTION exceeded near settings.stp:"),
        "{}",
        settings.stderr
    );
}
