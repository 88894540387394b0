//! Lexer, preprocessor, parser and printer on arbitrary input: no panics,
//! and a clean parse prints to text that parses back to the same tree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stap_translator::erase_spans::erase_spans;
use stap_translator::printer::print_file;
use stap_translator::{parse, FileId, SourceMap, Target};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let target = Target::default();
    let mut sources = SourceMap::new();
    let file = sources.add("fuzz.stp", text);
    let (mut tree, diagnostics) = parse(file, text, &target);
    let _ = sources.render_all(&diagnostics);
    let printed = print_file(&tree);
    let (mut reparsed, reparse_diagnostics) = parse(FileId(1), &printed, &target);
    if diagnostics.is_empty() {
        assert!(
            reparse_diagnostics.is_empty(),
            "printed form does not parse:\n{printed}"
        );
        erase_spans(&mut tree);
        erase_spans(&mut reparsed);
        assert_eq!(tree, reparsed, "round trip changed the tree:\n{printed}");
    }
});
