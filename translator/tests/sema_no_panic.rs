//! Semantic analysis must never panic and must only return validated
//! programs: deterministic mutations of the sema test scripts plus
//! pathological programs. `fuzz/fuzz_targets/analyze.rs` is the
//! coverage-guided version.

mod common;

use std::path::PathBuf;

use common::{cases, test_target};
use stap_translator::ir::print_program;
use stap_translator::library::{Library, LibraryOptions};
use stap_translator::sema::{analyze, Options};
use stap_translator::{parse, Diagnostic, SourceMap};

/// Fragments that stress resolution and typing when spliced in.
const FRAGMENTS: [&str; 20] = [
    "x",
    "a[1]",
    "a[\"s\"]",
    " <<< 1",
    "@count(a)",
    "exit()",
    "execname()",
    " . \"s\"",
    " + 1",
    "=",
    "probe ",
    "global a;",
    "function f(p) { return p }",
    "f(1)",
    "mylib.tick",
    "begin",
    "timer.ms(1)",
    "$x",
    "%{ 1 %}",
    "foreach (k in a) ",
];

/// A small deterministic generator (64-bit LCG), so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n.max(1) as u64) as usize
    }
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn mutate(text: &str, rng: &mut Lcg) -> String {
    let mut out = text.to_string();
    for _ in 0..1 + rng.below(3) {
        let a = floor_boundary(&out, rng.below(out.len() + 1));
        let b = floor_boundary(&out, (a + rng.below(30)).min(out.len()));
        match rng.below(3) {
            0 => out.replace_range(a..b, ""),
            1 => {
                let copy = out[a..b].to_string();
                out.insert_str(a, &copy);
            }
            _ => out.insert_str(a, FRAGMENTS[rng.below(FRAGMENTS.len())]),
        }
    }
    out
}

struct Fixture {
    library: Library,
    sources: SourceMap,
}

impl Fixture {
    fn new() -> Fixture {
        let mut sources = SourceMap::new();
        let options = LibraryOptions {
            builtin: true,
            include_dirs: vec![PathBuf::from("tests/data/sema/tapset")],
            script_args: None,
        };
        let (library, _) = Library::load(&options, &test_target(), None, &mut sources);
        Fixture { library, sources }
    }

    /// Analyses `text`; returns whether a program came out.
    fn exercise(&self, text: &str, guru: bool) -> bool {
        let mut sources = self.sources.clone();
        let file = sources.add("input.stp", text);
        let (tree, diagnostics) = parse(file, text, &test_target());
        if diagnostics.iter().any(Diagnostic::is_error) {
            return false;
        }
        let analysis = analyze(&[tree], &self.library, &Options { guru });
        let _ = sources.render_all(&analysis.diagnostics);
        match &analysis.program {
            Some(program) => {
                assert!(
                    !analysis.diagnostics.iter().any(Diagnostic::is_error),
                    "a program despite errors:\n{text}"
                );
                assert!(!print_program(program).is_empty());
                true
            }
            None => {
                assert!(
                    analysis.diagnostics.iter().any(Diagnostic::is_error),
                    "no program and no error:\n{text}"
                );
                false
            }
        }
    }
}

#[test]
fn mutated_scripts_never_panic() {
    let fixture = Fixture::new();
    let mut rng = Lcg(0x5eed);
    let mut accepted = 0;
    let mut total = 0;
    for case in cases("sema", "ok").into_iter().chain(cases("sema", "err")) {
        let text = std::fs::read_to_string(&case).unwrap();
        for round in 0..40 {
            let mutated = mutate(&text, &mut rng);
            let outcome = std::panic::catch_unwind(|| fixture.exercise(&mutated, round % 2 == 0));
            match outcome {
                Ok(ok) => accepted += usize::from(ok),
                Err(_) => panic!(
                    "analysis panicked on a mutation of {}:\n{mutated}",
                    case.display()
                ),
            }
            total += 1;
        }
    }
    println!("{accepted} of {total} mutated scripts analysed cleanly");
}

#[test]
fn pathological_programs_never_panic() {
    let fixture = Fixture::new();
    let mut deep_aliases = String::from("probe a0 = begin { x0 = 0 }\n");
    for i in 1..200 {
        deep_aliases.push_str(&format!("probe a{i} = a{} {{ x{i} = {i} }}\n", i - 1));
    }
    deep_aliases.push_str("probe a199 { println(x0) }\n");
    let mut many_globals = String::new();
    for i in 0..2000 {
        many_globals.push_str(&format!("global g{i}\n"));
    }
    many_globals.push_str("probe begin {");
    for i in 1..2000 {
        many_globals.push_str(&format!(" g{i} = g{} + 1;", i - 1));
    }
    many_globals.push_str(" }\n");
    let chained_inference = {
        // Types flow backwards through a long call chain: many rounds.
        let mut text = String::new();
        for i in 0..300 {
            text.push_str(&format!("function f{i}(p) {{ return f{}(p) }}\n", i + 1));
        }
        text.push_str("function f300(p) { return p }\nprobe begin { s = f0(\"s\") . \"\" }\n");
        text
    };
    let programs = [
        ("deep aliases", deep_aliases, true),
        ("many globals", many_globals, true),
        ("call chain", chained_inference, true),
        (
            "self-recursion",
            "function f(n) { return n ? f(n - 1) : 0 } probe begin { f(3) }".to_string(),
            true,
        ),
        (
            "mutual alias recursion",
            "probe a = b {} probe b = a {} probe a {}".to_string(),
            false,
        ),
        (
            "untyped recursion",
            "function f(n) { return f(n) } probe begin { f(1) }".to_string(),
            false,
        ),
        ("wildcard everything", "probe * { }".to_string(), false),
        (
            "wildcard aliases",
            "probe mylib.* ?, *.tick ? { }".to_string(),
            true,
        ),
    ];
    for (name, text, expect_program) in &programs {
        let ok = fixture.exercise(text, false);
        assert_eq!(ok, *expect_program, "{name}");
    }
}
