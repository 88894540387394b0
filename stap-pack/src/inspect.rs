use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;
use stap_bundle::manifest::Manifest;

#[derive(clap::Args)]
pub struct InspectArgs {
    /// Bundle to inspect.
    bundle: PathBuf,
    /// Print a JSON document instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: InspectArgs) -> Result<ExitCode> {
    let bundle = crate::bundle_file::read(&args.bundle)?;
    let digest = Manifest::digest_of_bytes(bundle.manifest_bytes());
    let signers: Vec<String> = bundle
        .signatures()
        .keys()
        .map(ToString::to_string)
        .collect();
    let (manifest, integrity) = match bundle.check_integrity() {
        Ok(m) => (m, Ok(())),
        Err(e) => match Manifest::parse(bundle.manifest_bytes()) {
            Ok(m) => (m, Err(e.to_string())),
            Err(_) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("cannot inspect {}", args.bundle.display())))
            }
        },
    };
    let expired = manifest
        .not_after
        .as_deref()
        .and_then(stap_bundle::time::parse_rfc3339)
        .map(|t| t < now());
    if args.json {
        let doc = json!({
            "manifest": manifest,
            "manifest_sha256": digest,
            "signatures": signers,
            "signatures_verified": false,
            "expired": expired,
            "payload_matches_manifest": integrity.is_ok(),
            "payload_error": integrity.as_ref().err(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print_text(&manifest, &digest, &signers, expired, &integrity);
    }
    Ok(if integrity.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_text(
    m: &Manifest,
    digest: &str,
    signers: &[String],
    expired: Option<bool>,
    integrity: &Result<(), String>,
) {
    println!("bundle     {} {}", m.name, m.version);
    println!(
        "manifest   sha256 {digest} (format {} v{})",
        m.format, m.format_version
    );
    println!(
        "created    {} by {} {}",
        m.created, m.tool.name, m.tool.version
    );
    println!("privilege  {}", m.privilege);
    match (&m.not_after, expired) {
        (Some(t), Some(true)) => println!("expires    {t} (EXPIRED)"),
        (Some(t), _) => println!("expires    {t}"),
        (None, _) => println!("expires    never"),
    }
    println!("kernels    {}", m.kernels.len());
    for k in &m.kernels {
        let size = m
            .files
            .iter()
            .find(|f| f.path == k.module_path)
            .map_or(0, |f| f.size);
        println!(
            "  {} ({}) module {} [{} bytes] {}",
            k.release, k.arch, k.module_name, size, k.module_path
        );
        println!("      vermagic {}", k.vermagic);
        if let Some(v) = &k.version {
            println!("      uname -v {v}");
        }
    }
    println!("scripts");
    for s in &m.scripts {
        println!("  {} sha256 {}", s.path, s.sha256);
    }
    if m.parameters.is_empty() {
        println!("parameters none");
    } else {
        println!("parameters");
        for p in &m.parameters {
            println!("  {} ({})", p.name, p.ty);
        }
    }
    if signers.is_empty() {
        println!("signers    none (unsigned)");
    } else {
        println!(
            "signers    {} (not verified here; use `stap-pack verify --trust`)",
            signers.join(", ")
        );
    }
    match integrity {
        Ok(()) => println!("payload    {} file(s) match the manifest", m.files.len()),
        Err(e) => println!("payload    DOES NOT MATCH the manifest: {e}"),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
