//! `stap-pack check`: run the translator front end on a script, stap-style
//! (`-p1` prints the parsed script, `-p2` will elaborate it).

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use stap_translator::printer::print_file;
use stap_translator::tapset::{load_library_macros, DEFAULT_TAPSET_DIR};
use stap_translator::{parse_with, Diagnostic, ParseOptions, SourceMap, Target};

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Stop after pass N: 1 parses and prints the script, 2 elaborates it.
    #[arg(short = 'p', value_name = "N", value_parser = clap::value_parser!(u8).range(1..=2))]
    pub pass: Option<u8>,
    /// Add a tapset directory (its macro files are used).
    #[arg(short = 'I', value_name = "DIR")]
    pub include: Vec<PathBuf>,
    /// Define a C macro for the module build (NAME or NAME=VALUE).
    #[arg(short = 'D', value_name = "NAME=VALUE")]
    pub define: Vec<String>,
    /// Check for this kernel release (its build tree must be installed), or
    /// for the build tree at this path (when it contains '/'), instead of
    /// the running kernel.
    #[arg(short = 'r', value_name = "KRELEASE")]
    pub kernel_release: Option<String>,
    /// Guru mode (`guru_mode == 1` in conditionals).
    #[arg(short = 'g')]
    pub guru: bool,
    /// Script text given on the command line instead of a file.
    #[arg(short = 'e', value_name = "SCRIPT")]
    pub script: Option<String>,
    /// The script FILE (unless -e is given; `-` reads standard input),
    /// followed by the script's arguments ($1, @1, ...).
    #[arg(value_name = "FILE | ARGS", trailing_var_arg = true)]
    pub args: Vec<String>,
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    for define in &args.define {
        let name = define
            .split_once('=')
            .map_or(define.as_str(), |(name, _)| name);
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            bail!("-D {define}: expected NAME or NAME=VALUE");
        }
    }
    let (script_name, script_text, script_args) = read_script(&args)?;
    let mut target = match &args.kernel_release {
        Some(tree) if tree.contains('/') => Target::for_build_tree(Path::new(tree))?,
        Some(release) => Target::for_installed_kernel(release)?,
        None => running_kernel_target(),
    };
    target.guru_mode = args.guru;

    let mut sources = SourceMap::new();
    let mut diagnostics = Vec::new();
    let mut tapset_roots: Vec<PathBuf> = std::iter::once(PathBuf::from(DEFAULT_TAPSET_DIR))
        .filter(|dir| dir.is_dir())
        .chain(args.include.iter().cloned())
        .collect();
    // `-I` naming the default directory must not load its macros twice.
    let mut seen = std::collections::BTreeSet::new();
    tapset_roots.retain(|dir| seen.insert(dir.canonicalize().unwrap_or_else(|_| dir.clone())));
    let (macros, library_diagnostics) = load_library_macros(&tapset_roots, &target, &mut sources);
    diagnostics.extend(library_diagnostics);

    let file = sources.add(script_name, script_text.clone());
    let options = ParseOptions {
        target: &target,
        macros: Some(&macros),
        script_args: Some(&script_args),
    };
    let (tree, parse_diagnostics) = parse_with(file, &script_text, &options);
    diagnostics.extend(parse_diagnostics);
    eprint!("{}", sources.render_all(&diagnostics));
    let failed = diagnostics.iter().any(Diagnostic::is_error);
    if failed {
        let errors = diagnostics.iter().filter(|d| d.is_error()).count();
        eprintln!("{errors} error(s)");
        return Ok(ExitCode::FAILURE);
    }
    match args.pass {
        Some(1) => std::io::stdout()
            .write_all(print_file(&tree).as_bytes())
            .context("writing the parsed script")?,
        Some(_) => {
            // The library is the translator's own plus the -I directories:
            // what the back end can compile (add `-I /usr/share/systemtap/tapset`
            // to check against SystemTap's library).
            let library_options = stap_translator::library::LibraryOptions {
                builtin: true,
                include_dirs: args.include.clone(),
                script_args: Some(script_args.clone()),
            };
            let (library, mut diagnostics) = stap_translator::library::Library::load(
                &library_options,
                &target,
                Some(&macros),
                &mut sources,
            );
            let analysis = stap_translator::sema::analyze(
                std::slice::from_ref(&tree),
                &library,
                &stap_translator::sema::Options { guru: args.guru },
            );
            diagnostics.extend(analysis.diagnostics);
            eprint!("{}", sources.render_all(&diagnostics));
            match analysis.program {
                Some(program) if !diagnostics.iter().any(Diagnostic::is_error) => {
                    print!("{}", stap_translator::ir::print_program(&program));
                }
                _ => {
                    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
                    eprintln!("{errors} error(s)");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        None => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// The script's display name, text and arguments.
fn read_script(args: &CheckArgs) -> anyhow::Result<(String, String, Vec<String>)> {
    if let Some(script) = &args.script {
        return Ok((
            "<command line>".to_string(),
            script.clone(),
            args.args.clone(),
        ));
    }
    let Some((file, script_args)) = args.args.split_first() else {
        bail!("no script given: pass a FILE or -e SCRIPT");
    };
    let text = if file == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the script from standard input")?;
        text
    } else {
        std::fs::read_to_string(Path::new(file)).with_context(|| format!("reading {file}"))?
    };
    let name = if file == "-" {
        "<stdin>".to_string()
    } else {
        file.clone()
    };
    Ok((name, text, script_args.to_vec()))
}

/// The running kernel's target when its build tree is installed, otherwise
/// the kernel-less default target.
fn running_kernel_target() -> Target {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .and_then(|release| Target::for_installed_kernel(release.trim()).ok())
        .unwrap_or_default()
}
