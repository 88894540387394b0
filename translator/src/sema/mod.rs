//! Semantic analysis: from parsed files to a validated [`ir::Program`].
//!
//! 1. Resolution ([`lower`]): names become ids, probe aliases are expanded,
//!    library files are pulled in on first use (transitively), privilege
//!    and guru-mode rules are applied.
//! 2. Type inference ([`infer`]): to a fixed point, as SystemTap does.
//! 3. Validation ([`ir::validate`]): the only way to a [`ValidProgram`].
//!
//! Analysis never panics on any input: problems become diagnostics, and a
//! program is returned only when there are no errors.

mod format;
mod infer;
mod lower;
mod probes;
mod suggest;

pub use format::parse_format;
pub use lower::point_text;
pub use probes::split_tracepoint;
pub use suggest::{did_you_mean, edit_distance};

use crate::ast;
use crate::diagnostic::Diagnostic;
use crate::ir::{self, ValidProgram};
use crate::library::Library;

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// `-g`: allow embedded C and other guru-mode constructs in the script.
    pub guru: bool,
}

/// The outcome of analysis: the program when there were no errors, and
/// every diagnostic (warnings included) either way.
#[derive(Debug)]
pub struct Analysis {
    pub program: Option<ValidProgram>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Analyses the user's `script` files (already parsed) against `library`.
pub fn analyze(script: &[ast::File], library: &Library, options: &Options) -> Analysis {
    let (mut program, mut diagnostics) = lower::lower(script, library, options);
    if diagnostics.iter().any(Diagnostic::is_error) {
        // Types of a partly resolved program would only add noise.
        return Analysis {
            program: None,
            diagnostics,
        };
    }
    infer::infer(&mut program, &mut diagnostics);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Analysis {
            program: None,
            diagnostics,
        };
    }
    match ir::validate(program) {
        Ok(valid) => Analysis {
            program: Some(valid),
            diagnostics,
        },
        Err(errors) => {
            diagnostics.extend(errors);
            Analysis {
                program: None,
                diagnostics,
            }
        }
    }
}
