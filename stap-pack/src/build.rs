//! `stap-pack build`: script → one module per kernel of a matrix → one bundle.
//!
//! Each kernel gets its own translation (the script preprocesses against that
//! kernel's configuration), then its own Kbuild run; builds run in parallel.
//! A compiler failure on generated code is a translator bug: it is reported
//! as such, with the kernel and the kept build directory.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use stap_bundle::assemble::{assemble, BundleSpec, ModuleInput, ScriptInput};
use stap_bundle::keys::SigningKey;
use stap_bundle::manifest::{ParamType, Parameter, Privilege};
use stap_bundle::signature::SignatureDocument;
use stap_translator::{translate, Diagnostic, ParamKind, Target, TranslateInput, Translation};

#[derive(clap::Args)]
pub struct BuildArgs {
    /// Target kernel release, or RELEASE=BUILD_DIR for a header tree elsewhere (repeatable).
    #[arg(short = 'r', value_name = "KRELEASE[=DIR]", required = true, value_parser = parse_kernel)]
    kernels: Vec<KernelSpec>,
    /// Add a tapset directory to the library search path.
    #[arg(short = 'I', value_name = "DIR")]
    include: Vec<PathBuf>,
    /// Define a C macro for the module build (NAME or NAME=VALUE), e.g. -D MAXACTION=10000.
    #[arg(short = 'D', value_name = "NAME=VALUE", value_parser = parse_define)]
    defines: Vec<(String, Option<String>)>,
    /// Module name ([a-z0-9_]); default: from the bundle name.
    #[arg(short = 'm', value_name = "NAME")]
    module_name: Option<String>,
    /// Guru mode: allow embedded C in the script.
    #[arg(short = 'g')]
    guru: bool,
    /// Bundle name.
    #[arg(long)]
    name: String,
    /// Bundle version (semver).
    #[arg(long)]
    version: semver::Version,
    /// Sign the bundle with this key.
    #[arg(long, value_name = "PREFIX.key")]
    key: Option<PathBuf>,
    /// Expiry: hosts refuse the bundle after this time (YYYY-MM-DDTHH:MM:SSZ).
    #[arg(long, value_name = "TIMESTAMP")]
    not_after: Option<String>,
    /// Parallel module builds (default: the number of CPUs).
    #[arg(short = 'j', long = "jobs")]
    jobs: Option<usize>,
    /// Keep module build directories here (default: a temporary directory,
    /// removed after a successful build and kept after a failed one).
    #[arg(long, value_name = "DIR")]
    build_dir: Option<PathBuf>,
    /// Output bundle.
    #[arg(short = 'o', long = "output", value_name = "OUT.stpb")]
    output: PathBuf,
    /// Script text given on the command line instead of a file.
    #[arg(short = 'e', value_name = "SCRIPT")]
    script: Option<String>,
    /// The script FILE (unless -e is given), then the script's arguments
    /// ($1, @1, ...); options may come before or after, arguments that start
    /// with `-` go after `--`.
    #[arg(value_name = "FILE | ARGS")]
    args: Vec<String>,
}

#[derive(Clone)]
struct KernelSpec {
    release: String,
    build_dir: Option<PathBuf>,
}

/// One kernel's translated module, ready for Kbuild.
struct KernelJob {
    release: String,
    build_tree: PathBuf,
    version: Option<String>,
    translation: Translation,
}

pub fn run(args: BuildArgs) -> Result<ExitCode> {
    let (script_name, script_file_name, script_text, script_args) = read_script(&args)?;
    let module_name = match &args.module_name {
        Some(m) => m.clone(),
        None => module_name_from(&args.name),
    };
    if !stap_bundle::manifest::is_module_name(&module_name) {
        bail!(
            "module name `{module_name}` must be 1-55 characters of [a-z0-9_]; choose one with -m"
        );
    }
    let key = args.key.as_deref().map(SigningKey::load).transpose()?;

    // Translate for every kernel first: script errors show up in seconds,
    // before any compiler runs.
    let started = Instant::now();
    let mut jobs = Vec::new();
    let mut failed = false;
    for kernel in &args.kernels {
        let build_tree = match &kernel.build_dir {
            Some(dir) => dir.clone(),
            None => stap_kbuild::find_build_dir(&kernel.release).with_context(|| {
                format!(
                    "no kernel build tree for {} (install linux-headers-{} or give -r {}=DIR)",
                    kernel.release, kernel.release, kernel.release
                )
            })?,
        };
        let target = Target::for_kernel_build_tree(&kernel.release, &build_tree)
            .with_context(|| format!("reading the kernel configuration of {}", kernel.release))?;
        let input = TranslateInput {
            script_name: &script_name,
            script_text: &script_text,
            script_args: &script_args,
            target: &target,
            include_dirs: &args.include,
            guru: args.guru,
            module_name: &module_name,
            defines: &args.defines,
        };
        match translate(&input) {
            Ok(translation) => {
                eprint!("{}", translation.sources.render_all(&translation.warnings));
                failed |= !check_kernel_functions(&translation, &kernel.release, &build_tree);
                jobs.push(KernelJob {
                    version: uts_version(&build_tree),
                    release: kernel.release.clone(),
                    build_tree,
                    translation,
                });
            }
            Err(failure) => {
                eprintln!(
                    "stap-pack: translating for kernel {} failed:",
                    kernel.release
                );
                eprint!("{}", failure.render());
                failed = true;
            }
        }
    }
    if failed {
        bail!("the script has errors (see above); nothing was built");
    }
    eprintln!(
        "translated for {} kernel(s) in {:.1}s",
        jobs.len(),
        started.elapsed().as_secs_f64()
    );
    let parameters = manifest_parameters(&jobs)?;
    let privilege = jobs
        .iter()
        .map(|j| privilege_of(&j.translation))
        .max()
        .unwrap_or(Privilege::Stapusr);

    let (build_root, scratch) = match &args.build_dir {
        Some(dir) => (dir.clone(), None),
        None => {
            let tmp = tempfile::Builder::new()
                .prefix("stap-pack-build-")
                .tempdir()?;
            (tmp.path().to_path_buf(), Some(tmp))
        }
    };
    let modules = match build_all(&jobs, &module_name, &build_root, args.jobs) {
        Ok(modules) => modules,
        Err(error) => {
            // Keep the failed build's files for the bug report.
            if let Some(tmp) = scratch {
                let _ = tmp.keep();
            }
            return Err(error);
        }
    };

    let created = match std::env::var_os("SOURCE_DATE_EPOCH") {
        Some(_) => stap_bundle::time::source_date_epoch().map_err(anyhow::Error::msg)?,
        None => now(),
    };
    let mut contents = assemble(BundleSpec {
        name: args.name.clone(),
        version: args.version.clone(),
        privilege,
        not_after: args.not_after.clone(),
        parameters,
        scripts: vec![ScriptInput {
            file_name: script_file_name,
            bytes: script_text.into_bytes(),
        }],
        modules,
        created,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        build_type: "build",
    })?;
    if let Some(key) = &key {
        let document = SignatureDocument::create(&contents.manifest_bytes, key);
        contents
            .signatures
            .insert(key.public_key().key_id(), document);
    }
    crate::bundle_file::write(&args.output, &contents)?;
    match &key {
        Some(key) => println!(
            "wrote {} ({} kernel(s), signed by {}; manifest sha256 {})",
            args.output.display(),
            jobs.len(),
            key.public_key().key_id(),
            stap_bundle::manifest::Manifest::digest_of_bytes(&contents.manifest_bytes)
        ),
        None => crate::assemble::report_written(&args.output, &contents.manifest_bytes),
    }
    Ok(ExitCode::SUCCESS)
}

/// The text symbols of a kernel's System.map: the build tree's, else the
/// installed image's. None if neither holds any (Debian ships a one-line
/// placeholder; the real map is in the -dbg package), with where it looked.
fn kernel_text_symbols(
    release: &str,
    build_tree: &Path,
) -> Result<(PathBuf, HashSet<String>), String> {
    let candidates = [
        build_tree.join("System.map"),
        PathBuf::from(format!("/boot/System.map-{release}")),
    ];
    for map in &candidates {
        let Ok(text) = std::fs::read_to_string(map) else {
            continue;
        };
        let symbols: HashSet<String> = text
            .lines()
            .filter_map(
                |line| match line.split_whitespace().collect::<Vec<_>>()[..] {
                    [_, "T" | "t" | "W" | "w", name] => Some(name.to_string()),
                    _ => None,
                },
            )
            .collect();
        if !symbols.is_empty() {
            return Ok((map.clone(), symbols));
        }
    }
    Err(candidates
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" and "))
}

/// Checks that every kernel function a kprobe names is in the kernel's
/// System.map, reporting each one that is not. Without a System.map the
/// runtime checks at load, and this says so. Returns whether all passed.
fn check_kernel_functions(translation: &Translation, release: &str, build_tree: &Path) -> bool {
    let functions = &translation.kernel_functions;
    if functions.is_empty() {
        return true;
    }
    let (map, symbols) = match kernel_text_symbols(release, build_tree) {
        Ok(found) => found,
        Err(looked) => {
            eprintln!(
                "stap-pack: note: no symbol table for kernel {release} (no System.map with symbols in {looked}): \
                 the module checks its kprobe functions when it starts"
            );
            return true;
        }
    };
    let mut passed = true;
    for function in functions.iter().filter(|f| !symbols.contains(&f.name)) {
        let diagnostic = Diagnostic::error(
            function.span,
            format!(
                "`{}`: kernel {release} has no function `{}`",
                function.point, function.name
            ),
        )
        .with_note(format!("looked in {}", map.display()));
        eprint!("{}", translation.sources.render(&diagnostic));
        passed = false;
    }
    passed
}

/// Runs Kbuild for every job, `jobs` at a time, printing progress as each
/// starts and ends. Feature tests are cached per kernel build tree.
fn build_all(
    jobs: &[KernelJob],
    module_name: &str,
    build_root: &Path,
    parallel: Option<usize>,
) -> Result<Vec<ModuleInput>> {
    let workers = parallel
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
        .clamp(1, jobs.len().max(1));
    let cache_dir = feature_cache_dir();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<ModuleInput, String>>>> =
        Mutex::new(jobs.iter().map(|_| None).collect());
    let total = jobs.len();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                let Some(job) = jobs.get(index) else { break };
                eprintln!("[build] {}: Kbuild started", job.release);
                let started = Instant::now();
                let work_dir = build_root.join(&job.release);
                let result = build_one(job, module_name, &work_dir, &cache_dir);
                let finished = done.fetch_add(1, Ordering::SeqCst) + 1;
                match &result {
                    Ok(_) => eprintln!(
                        "[{finished}/{total}] {}: built in {:.1}s",
                        job.release,
                        started.elapsed().as_secs_f64()
                    ),
                    Err(_) => eprintln!("[{finished}/{total}] {}: FAILED", job.release),
                }
                results.lock().expect("no poisoned lock")[index] = Some(result);
            });
        }
    });
    let mut modules = Vec::new();
    let mut failures = Vec::new();
    for result in results
        .into_inner()
        .expect("no poisoned lock")
        .into_iter()
        .flatten()
    {
        match result {
            Ok(module) => modules.push(module),
            Err(message) => failures.push(message),
        }
    }
    if !failures.is_empty() {
        for message in &failures {
            eprintln!("{message}");
        }
        bail!("{} of {total} module build(s) failed", failures.len());
    }
    Ok(modules)
}

fn build_one(
    job: &KernelJob,
    module_name: &str,
    work_dir: &Path,
    cache_dir: &Path,
) -> Result<ModuleInput, String> {
    let files: Vec<(&str, &[u8])> = job
        .translation
        .files
        .iter()
        .map(|(name, bytes)| (name.as_str(), bytes.as_slice()))
        .collect();
    let sources = stap_kbuild::ModuleSources {
        module_name,
        files: &files,
    };
    match stap_kbuild::build_module(&job.build_tree, &sources, work_dir, cache_dir) {
        Ok(ko) => {
            let bytes =
                std::fs::read(&ko).map_err(|e| format!("cannot read {}: {e}", ko.display()))?;
            Ok(ModuleInput {
                release: job.release.clone(),
                version: job.version.clone(),
                origin: ko.display().to_string(),
                bytes,
            })
        }
        Err(error) => Err(describe_build_failure(&job.release, work_dir, &error)),
    }
}

/// Generated code that does not compile is our bug, not the user's: say so,
/// show the first compiler complaint, and point at the kept directory.
fn describe_build_failure(
    release: &str,
    work_dir: &Path,
    error: &stap_kbuild::KbuildError,
) -> String {
    use stap_kbuild::KbuildError;
    match error {
        KbuildError::BuildFailed { output, .. } | KbuildError::BuildWarned { output, .. } => {
            let first = output
                .lines()
                .find(|l| l.contains("error:") || l.contains("warning:"))
                .unwrap_or("(no compiler message)");
            format!(
                "stap-pack: internal error: the generated module does not build for kernel {release}. \
                 This is a translator bug; please report it with the build directory.\n  \
                 first complaint: {}\n  build directory (kept): {}\n  full log: run `make -C <kernel build dir> M={} modules`",
                first.trim(),
                work_dir.display(),
                work_dir.display()
            )
        }
        other => format!("stap-pack: building for kernel {release} failed: {other}"),
    }
}

/// Parameters are the script's scalar globals, listed by name; they must be
/// the same for every kernel because the manifest lists them once.
fn manifest_parameters(jobs: &[KernelJob]) -> Result<Vec<Parameter>> {
    let of = |t: &Translation| -> Vec<Parameter> {
        let mut parameters: Vec<Parameter> = t
            .parameters
            .iter()
            .map(|(name, kind)| Parameter {
                name: name.clone(),
                ty: match kind {
                    ParamKind::Long => ParamType::Long,
                    ParamKind::String => ParamType::String,
                },
            })
            .collect();
        parameters.sort_by(|a, b| a.name.cmp(&b.name));
        parameters
    };
    let first = jobs.first().map(|j| of(&j.translation)).unwrap_or_default();
    if let Some(other) = jobs.iter().find(|j| of(&j.translation) != first) {
        bail!(
            "the script's global variables differ for kernel {} (a %( %) conditional changes them); \
             module parameters must be the same for every kernel of a bundle",
            other.release
        );
    }
    Ok(first)
}

fn privilege_of(translation: &Translation) -> Privilege {
    translation
        .privilege
        .name()
        .parse()
        .unwrap_or(Privilege::Stapdev)
}

/// `uname -v` of the kernel the headers belong to, when the header tree says.
fn uts_version(build_tree: &Path) -> Option<String> {
    let text = std::fs::read_to_string(build_tree.join("include/generated/utsversion.h")).ok()?;
    let line = text.lines().find(|l| l.contains("UTS_VERSION"))?;
    let quoted = line.split_once('"')?.1.rsplit_once('"')?.0;
    Some(quoted.to_string())
}

fn feature_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("stap-pack/features")
}

/// A module name from a bundle name: lower case, `[a-z0-9_]`, at most 55.
fn module_name_from(bundle: &str) -> String {
    let mut name: String = bundle
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(55)
        .collect();
    if name.is_empty() {
        name.push_str("stap_pack");
    }
    name
}

/// (display name, file name in the bundle, text, script arguments).
fn read_script(args: &BuildArgs) -> Result<(String, String, String, Vec<String>)> {
    if let Some(text) = &args.script {
        return Ok((
            "<command line>".into(),
            "script.stp".into(),
            text.clone(),
            args.args.clone(),
        ));
    }
    let Some((file, script_args)) = args.args.split_first() else {
        bail!("no script given: pass a FILE or -e SCRIPT");
    };
    let path = Path::new(file);
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read script {file}"))?;
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{file} has no usable file name"))?
        .to_string();
    Ok((file.clone(), file_name, text, script_args.to_vec()))
}

fn parse_kernel(s: &str) -> Result<KernelSpec, String> {
    let (release, dir) = match s.split_once('=') {
        Some((r, d)) => (r, Some(PathBuf::from(d))),
        None => (s, None),
    };
    if release.is_empty() || release.contains('/') {
        return Err(format!("`{s}` is not KRELEASE or KRELEASE=DIR"));
    }
    Ok(KernelSpec {
        release: release.to_string(),
        build_dir: dir,
    })
}

fn parse_define(s: &str) -> Result<(String, Option<String>), String> {
    let (name, value) = match s.split_once('=') {
        Some((n, v)) => (n, Some(v.to_string())),
        None => (s, None),
    };
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "`{s}`: expected NAME or NAME=VALUE with a C identifier"
        ));
    }
    Ok((name.to_string(), value))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_symbols_come_from_the_build_tree_and_placeholders_count_as_none() {
        let tree = tempfile::tempdir().unwrap();
        let release = "0.0.0-stap-pack-test";
        let map = tree.path().join("System.map");
        // Debian's placeholder: no symbols, so no table (and no /boot map).
        std::fs::write(
            &map,
            "ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n",
        )
        .unwrap();
        let looked = kernel_text_symbols(release, tree.path()).unwrap_err();
        assert!(looked.contains(&map.display().to_string()), "{looked}");
        assert!(
            looked.contains("/boot/System.map-0.0.0-stap-pack-test"),
            "{looked}"
        );

        std::fs::write(
            &map,
            "ffffffff81000000 T _stext\nffffffff81001000 t local_fn\n\
             ffffffff81002000 W weak_fn\nffffffff82000000 D some_data\n",
        )
        .unwrap();
        let (found, symbols) = kernel_text_symbols(release, tree.path()).unwrap();
        assert_eq!(found, map);
        let mut names: Vec<&str> = symbols.iter().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["_stext", "local_fn", "weak_fn"]);
    }
}
