#![forbid(unsafe_code)]
//! SystemTap script language front end: lexer, preprocessor, parser and
//! pretty-printer (semantic analysis builds on [`ast`]).

pub mod ast;
pub mod diagnostic;
pub mod erase_spans;
pub mod ir;
pub mod lexer;
pub mod library;
pub mod parser;
pub mod preprocess;
pub mod printer;
pub mod sema;
pub mod tapset;
pub mod target;

pub use diagnostic::{Diagnostic, FileId, Severity, SourceMap, Span};
pub use parser::{parse, parse_with, ParseOptions};
pub use preprocess::MacroLibrary;
pub use target::Target;
