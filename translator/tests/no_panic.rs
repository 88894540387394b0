//! The front end must never panic, whatever the input: deterministic
//! mutations of real scripts plus pathological inputs (deep nesting,
//! runaway macros). `fuzz/` holds the coverage-guided version.

use std::path::Path;

use stap_translator::erase_spans::erase_spans;
use stap_translator::printer::print_file;
use stap_translator::{parse, FileId, SourceMap, Target};

/// Fragments that stress the lexer, preprocessor and parser when spliced in.
const FRAGMENTS: [&str; 24] = [
    "%(", "%?", "%:", "%)", "@define", "@x", "{", "}", "(", ")", "[", "]", "\"", "/*", "%{", "$",
    "@", "->", "probe", ",", ";", "?", "<<<", "é",
];

/// A small deterministic generator (64-bit LCG), so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
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
    for _ in 0..1 + rng.below(4) {
        let a = floor_boundary(&out, rng.below(out.len() + 1));
        let b = floor_boundary(&out, (a + rng.below(40)).min(out.len()));
        match rng.below(4) {
            0 => out.replace_range(a..b, ""),
            1 => {
                let copy = out[a..b].to_string();
                out.insert_str(a, &copy);
            }
            2 => out.insert_str(a, FRAGMENTS[rng.below(FRAGMENTS.len())]),
            _ => out.truncate(a),
        }
    }
    out
}

/// Parses, prints and re-parses; any panic fails the test.
fn exercise(text: &str, target: &Target) {
    let mut sources = SourceMap::new();
    let file = sources.add("input.stp", text);
    let (mut tree, diagnostics) = parse(file, text, target);
    let _ = sources.render_all(&diagnostics);
    let printed = print_file(&tree);
    let (mut reparsed, _) = parse(FileId(1), &printed, target);
    if diagnostics.is_empty() {
        erase_spans(&mut tree);
        erase_spans(&mut reparsed);
        assert_eq!(
            tree, reparsed,
            "round trip of a clean parse changed the tree:\n{text}"
        );
    }
}

fn seeds() -> Vec<String> {
    let mut seeds = Vec::new();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/parse");
    for kind in ["ok", "err"] {
        let mut paths: Vec<_> = std::fs::read_dir(data.join(kind))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "stp"))
            .collect();
        paths.sort();
        seeds.extend(paths.iter().map(|p| std::fs::read_to_string(p).unwrap()));
    }
    for tapset in [
        "/usr/share/systemtap/tapset/linux/ioblock.stp",
        "/usr/share/systemtap/tapset/linux/syscalls.stpm",
    ] {
        if let Ok(text) = std::fs::read_to_string(tapset) {
            seeds.push(text);
        }
    }
    seeds
}

#[test]
fn mutated_scripts_never_panic() {
    let target = Target::default();
    let mut rng = Lcg(0x5eed);
    let seeds = seeds();
    for seed in &seeds {
        exercise(seed, &target);
        for _ in 0..100 {
            exercise(&mutate(seed, &mut rng), &target);
        }
    }
}

#[test]
fn pathological_inputs_never_panic() {
    let target = Target::default();
    let deep = 20_000;
    let inputs = [
        format!("probe begin {{ x = {}1{} }}", "(".repeat(deep), ")".repeat(deep)),
        format!("probe begin {{ x = {}1 }}", "-".repeat(deep)),
        format!("probe begin {{ x = {}1 }}", "!~".repeat(deep)),
        format!("probe begin {} {}", "{".repeat(deep), "}".repeat(deep)),
        format!("probe begin {{ {} x = 1 }}", "if (1) ".repeat(deep)),
        format!("probe begin {{ x = {}1 }}", "a = ".repeat(deep)),
        format!("probe begin {{ x = {}1 }}", "a ? b : ".repeat(deep)),
        format!("probe {}begin{} {{ }}", "a.{".repeat(deep), "}".repeat(deep)),
        format!("probe {}{{ }}", "a.{b,c}.".repeat(40)),
        format!("{}probe begin {{}}{}", "%( arch == \"x\" %? ".repeat(deep), "%)".repeat(deep)),
        "@define A %( @A @A %)\nprobe begin { x = @A }".to_string(),
        "@define A %( @B @B @B @B %)\n@define B %( @C @C @C @C %)\n@define C %( @D @D @D @D %)\n\
         @define D %( @E @E @E @E %)\n@define E %( 1 1 1 1 1 1 1 1 1 1 %)\nprobe begin { x = @A @A @A @A @A @A @A @A }"
            .to_string(),
        "@define F(a) %( @F(@a @a) %)\nprobe begin { x = @F(1) }".to_string(),
        "%( %? %: %) %( arch %) %( 1 == %? %(".to_string(),
        "probe begin { x = 99999999999999999999999 + 0x + 09 + 0xfffffffffffffffff }".to_string(),
        "\u{0}\u{1}\u{ff}\"\\".to_string(),
        String::new(),
    ];
    for input in &inputs {
        exercise(input, &target);
    }
}
