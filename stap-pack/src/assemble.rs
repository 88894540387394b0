use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use stap_bundle::assemble::{assemble, BundleSpec, ModuleInput, ScriptInput};
use stap_bundle::manifest::{ParamType, Parameter, Privilege};

#[derive(clap::Args)]
pub struct AssembleArgs {
    /// Bundle name ([A-Za-z0-9._-]).
    #[arg(long)]
    name: String,
    /// Bundle version (semver, e.g. 1.2.0).
    #[arg(long)]
    version: semver::Version,
    /// Script the modules were built from, kept in the bundle for review (repeatable).
    #[arg(long = "script", value_name = "FILE.stp", required = true)]
    scripts: Vec<PathBuf>,
    /// Prebuilt module for a kernel release (repeatable).
    #[arg(long = "module", value_name = "KRELEASE=PATH.ko", required = true, value_parser = parse_module)]
    modules: Vec<(String, PathBuf)>,
    /// `uname -v` of a kernel in the matrix, recorded so hosts match the exact build (repeatable).
    #[arg(long = "kernel-version", value_name = "KRELEASE=UNAME_V", value_parser = parse_pair)]
    kernel_versions: Vec<(String, String)>,
    /// Module parameter a runner may set (repeatable).
    #[arg(long = "param", value_name = "NAME:long|string", value_parser = parse_param)]
    params: Vec<Parameter>,
    /// Privilege the modules' probes need.
    #[arg(long, default_value = "stapdev")]
    privilege: Privilege,
    /// Expiry: hosts refuse the bundle after this time (YYYY-MM-DDTHH:MM:SSZ).
    #[arg(long, value_name = "TIMESTAMP")]
    not_after: Option<String>,
    /// Output bundle (.stpb).
    #[arg(short = 'o', long = "output", value_name = "OUT.stpb")]
    output: PathBuf,
}

pub fn run(args: AssembleArgs) -> Result<ExitCode> {
    let mut scripts = Vec::new();
    for path in &args.scripts {
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("{} has no usable file name", path.display()))?
            .to_string();
        if scripts
            .iter()
            .any(|s: &ScriptInput| s.file_name == file_name)
        {
            bail!("two scripts are named {file_name}; scripts are stored by file name");
        }
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read script {}", path.display()))?;
        scripts.push(ScriptInput { file_name, bytes });
    }
    let mut modules = Vec::new();
    for (index, (release, path)) in args.modules.iter().enumerate() {
        eprintln!(
            "[{}/{}] {release}: {}",
            index + 1,
            args.modules.len(),
            path.display()
        );
        modules.push(ModuleInput {
            release: release.clone(),
            version: args
                .kernel_versions
                .iter()
                .find(|(r, _)| r == release)
                .map(|(_, v)| v.clone()),
            origin: path.display().to_string(),
            bytes: std::fs::read(path)
                .with_context(|| format!("cannot read module {}", path.display()))?,
            // Modules built elsewhere: their kernel's symbol table is unknown.
            kernel_crcs: Default::default(),
        });
    }
    if let Some((r, _)) = args
        .kernel_versions
        .iter()
        .find(|(r, _)| !args.modules.iter().any(|(m, _)| m == r))
    {
        bail!("--kernel-version names {r}, which has no --module");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let created = match std::env::var_os("SOURCE_DATE_EPOCH") {
        Some(_) => stap_bundle::time::source_date_epoch().map_err(anyhow::Error::msg)?,
        None => now,
    };
    let contents = assemble(BundleSpec {
        name: args.name.clone(),
        version: args.version.clone(),
        privilege: args.privilege,
        not_after: args.not_after,
        parameters: args.params,
        scripts,
        modules,
        created,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        build_type: "assemble",
    })?;
    crate::bundle_file::write(&args.output, &contents)?;
    report_written(&args.output, &contents.manifest_bytes);
    Ok(ExitCode::SUCCESS)
}

pub fn report_written(path: &Path, manifest_bytes: &[u8]) {
    println!(
        "wrote {} (unsigned; manifest sha256 {})",
        path.display(),
        stap_bundle::manifest::Manifest::digest_of_bytes(manifest_bytes)
    );
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not KRELEASE=VALUE"))?;
    if k.is_empty() || v.is_empty() {
        return Err(format!("`{s}` has an empty side"));
    }
    Ok((k.to_string(), v.to_string()))
}

fn parse_module(s: &str) -> Result<(String, PathBuf), String> {
    parse_pair(s).map(|(k, v)| (k, PathBuf::from(v)))
}

fn parse_param(s: &str) -> Result<Parameter, String> {
    let (name, ty) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not NAME:long or NAME:string"))?;
    let ty = match ty {
        "long" => ParamType::Long,
        "string" => ParamType::String,
        other => return Err(format!("parameter type `{other}` is not long or string")),
    };
    Ok(Parameter {
        name: name.to_string(),
        ty,
    })
}
