//! Conformance on SystemTap's own corpus: every tapset file and example
//! parses without error, and printing then re-parsing gives the same tree.

use std::path::{Path, PathBuf};

use stap_translator::erase_spans::erase_spans;
use stap_translator::printer::print_file;
use stap_translator::tapset::{load_library_macros, DEFAULT_TAPSET_DIR};
use stap_translator::target::{compare_versions, Runtime};
use stap_translator::{parse_with, MacroLibrary, ParseOptions, SourceMap, Target};

const EXAMPLE_DIRS: [&str; 2] = [
    "/usr/share/systemtap/examples",
    "/usr/share/doc/systemtap/examples",
];

fn stp_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            stp_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "stp") {
            out.push(path);
        }
    }
}

/// Targets for the oldest and newest installed kernel header trees (the
/// corpus branches on kernel versions), or the default target.
fn corpus_targets() -> Vec<Target> {
    let mut trees: Vec<PathBuf> = std::fs::read_dir("/usr/src")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join(".config").is_file())
        .collect();
    trees.sort();
    if trees.is_empty() {
        println!("target: default (no kernel header tree under /usr/src)");
        return vec![Target::default()];
    }
    let mut targets: Vec<Target> = trees
        .iter()
        .map(|tree| {
            let name = tree.file_name().unwrap().to_string_lossy().to_string();
            let release = name.trim_start_matches("linux-headers-");
            Target::for_kernel_build_tree(release, tree).expect("read kernel config")
        })
        .collect();
    targets.sort_by(|a, b| compare_versions(&a.kernel_release, &b.kernel_release));
    let newest = targets.pop().expect("at least one tree");
    targets.truncate(1);
    targets.push(newest);
    targets
}

fn runtime_of(path: &Path) -> Runtime {
    let text = path.to_string_lossy();
    if text.contains("/tapset/dyninst/") {
        Runtime::Dyninst
    } else if text.contains("/tapset/bpf/") {
        Runtime::Bpf
    } else {
        Runtime::Kernel
    }
}

/// Splits a shell command line (quotes and backslashes; no expansions).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                w.extend(chars.by_ref().take_while(|&c| c != '\''));
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => w.extend(chars.next()),
                        c => w.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            c if c.is_whitespace() => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// Examples whose `.meta` gives no usable arguments (none, or computed by
/// the shell): arguments chosen from the scripts' documented usage.
const EXAMPLE_ARGS: [(&str, &[&str]); 3] = [
    ("general/pyexample.stp", &["python3"]),
    ("profiling/graphcall.stp", &["/bin/ls", "main"]),
    ("memory/hw_watch_addr.stp", &["0xffffffff81000000"]),
];

/// Examples that are not scripts: stap rejects them as well.
const NOT_SCRIPTS: [&str; 1] = [
    // A template with `X.Y.Z` and `{...}` placeholders.
    "security-band-aids/security-bandaid-template.stp",
];

/// The script arguments an example's `.meta` file runs it with (its
/// `test_installcheck` or `test_check` command), as stap substitutes them
/// before parsing.
fn example_args(script: &Path) -> Option<Vec<String>> {
    if let Some((_, args)) = EXAMPLE_ARGS.iter().find(|(name, _)| script.ends_with(name)) {
        return Some(args.iter().map(|a| a.to_string()).collect());
    }
    const OPTIONS_WITH_VALUE: [&str; 13] = [
        "-c", "-x", "-o", "-D", "-I", "-d", "-r", "-e", "-s", "-S", "-B", "-m", "-T",
    ];
    let meta = std::fs::read_to_string(script.with_extension("meta")).ok()?;
    let script_name = script.file_name()?.to_string_lossy().to_string();
    let command = ["test_installcheck:", "test_check:"]
        .iter()
        .find_map(|key| meta.lines().find_map(|line| line.strip_prefix(key)))?;
    let words = shell_words(command);
    let position = words.iter().position(|w| w.ends_with(&script_name))?;
    let mut args = Vec::new();
    let mut rest = words[position + 1..].iter();
    while let Some(word) = rest.next() {
        if OPTIONS_WITH_VALUE.contains(&word.as_str()) {
            rest.next();
        } else if !(word.starts_with('-') && word.len() > 1) {
            args.push(word.clone());
        }
    }
    Some(args)
}

struct Outcome {
    parsed: usize,
    round_trip: usize,
    failures: Vec<String>,
}

fn check_files(files: &[PathBuf], base: &Target, tapset: &Path, examples: bool) -> Outcome {
    let mut outcome = Outcome {
        parsed: 0,
        round_trip: 0,
        failures: Vec::new(),
    };
    let mut libraries: Vec<(Runtime, SourceMap, MacroLibrary)> = Vec::new();
    for path in files {
        let runtime = if examples {
            Runtime::Kernel
        } else {
            runtime_of(path)
        };
        let target = Target {
            runtime,
            ..base.clone()
        };
        if !libraries.iter().any(|(r, _, _)| *r == runtime) {
            let mut sources = SourceMap::new();
            let (library, diagnostics) =
                load_library_macros(&[tapset.to_path_buf()], &target, &mut sources);
            assert!(
                diagnostics.is_empty(),
                "{}",
                sources.render_all(&diagnostics)
            );
            libraries.push((runtime, sources, library));
        }
        let (_, library_sources, library) =
            libraries.iter().find(|(r, _, _)| *r == runtime).unwrap();
        let mut sources = library_sources.clone();
        let text = std::fs::read_to_string(path).expect("read corpus file");
        let file = sources.add(path.display().to_string(), text.clone());
        // The tapset sees the script's arguments (none here); examples get
        // the arguments their test command line passes.
        let args = if examples {
            example_args(path)
        } else {
            Some(Vec::new())
        };
        let options = ParseOptions {
            target: &target,
            macros: Some(library),
            script_args: args.as_deref(),
        };
        let (mut tree, diagnostics) = parse_with(file, &text, &options);
        let errors: Vec<_> = diagnostics
            .iter()
            .filter(|d| d.is_error())
            .cloned()
            .collect();
        if !errors.is_empty() {
            outcome.failures.push(sources.render_all(&errors));
            continue;
        }
        outcome.parsed += 1;
        let printed = print_file(&tree);
        let reprinted_file = sources.add(format!("{} (printed)", path.display()), printed.clone());
        let (mut reparsed, diagnostics) = parse_with(reprinted_file, &printed, &options);
        erase_spans(&mut tree);
        erase_spans(&mut reparsed);
        if diagnostics.iter().any(|d| d.is_error()) {
            outcome.failures.push(format!(
                "{}: printed form does not parse:\n{}",
                path.display(),
                sources.render_all(&diagnostics)
            ));
        } else if tree != reparsed {
            outcome
                .failures
                .push(format!("{}: round trip changed the tree", path.display()));
        } else {
            outcome.round_trip += 1;
        }
    }
    outcome
}

#[test]
fn corpus_parses_and_round_trips() {
    let tapset = Path::new(DEFAULT_TAPSET_DIR);
    let examples = EXAMPLE_DIRS.iter().map(Path::new).find(|p| p.is_dir());
    let Some(examples) = examples.filter(|_| tapset.is_dir()) else {
        let reason =
            "SystemTap corpus not installed (apt-get install systemtap-common systemtap-doc)";
        assert!(std::env::var_os("CI").is_none(), "{reason}");
        println!("skipped: {reason}");
        return;
    };
    let mut tapset_files = Vec::new();
    stp_files(tapset, &mut tapset_files);
    tapset_files.sort();
    let mut example_files = Vec::new();
    stp_files(examples, &mut example_files);
    example_files.retain(|path| !NOT_SCRIPTS.iter().any(|name| path.ends_with(name)));
    example_files.sort();

    let mut failures = Vec::new();
    for target in corpus_targets() {
        let tapset_outcome = check_files(&tapset_files, &target, tapset, false);
        let example_outcome = check_files(&example_files, &target, tapset, true);
        println!(
            "kernel {:?}: parsed {}/{} tapset files, {}/{} examples, round-trip ok {}",
            target.kernel_release,
            tapset_outcome.parsed,
            tapset_files.len(),
            example_outcome.parsed,
            example_files.len(),
            tapset_outcome.round_trip + example_outcome.round_trip
        );
        failures.extend(tapset_outcome.failures);
        failures.extend(example_outcome.failures);
    }
    for failure in failures.iter().take(30) {
        println!("{failure}");
    }
    assert!(
        failures.is_empty(),
        "{} corpus checks failed",
        failures.len()
    );
}
