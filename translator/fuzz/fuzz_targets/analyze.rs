//! Semantic analysis on arbitrary input: never panics, and whatever it
//! accepts is a validated program that the `-p2` printer can print.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use stap_translator::ir::print_program;
use stap_translator::library::{Library, LibraryOptions};
use stap_translator::sema::{analyze, Options};
use stap_translator::{parse, Diagnostic, SourceMap, Target};

/// The builtin library, parsed once, with the source map it refers to.
fn library() -> &'static (Library, SourceMap) {
    static LIBRARY: OnceLock<(Library, SourceMap)> = OnceLock::new();
    LIBRARY.get_or_init(|| {
        let mut sources = SourceMap::new();
        let options = LibraryOptions {
            builtin: true,
            ..LibraryOptions::default()
        };
        let (library, _) = Library::load(&options, &Target::default(), None, &mut sources);
        (library, sources)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (library, library_sources) = library();
    let mut sources = library_sources.clone();
    let file = sources.add("fuzz.stp", text);
    let (tree, diagnostics) = parse(file, text, &Target::default());
    if diagnostics.iter().any(Diagnostic::is_error) {
        return;
    }
    let guru = data.len() % 2 == 0;
    let analysis = analyze(&[tree], library, &Options { guru });
    let _ = sources.render_all(&analysis.diagnostics);
    if let Some(program) = &analysis.program {
        assert!(!analysis.diagnostics.iter().any(Diagnostic::is_error));
        let _ = print_program(program);
    }
});
