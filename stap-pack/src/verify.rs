use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use stap_bundle::verify::{verify, TrustStore};

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Bundle to verify.
    bundle: PathBuf,
    /// Trusted public key file, or a directory of *.pub files (repeatable).
    #[arg(long = "trust", value_name = "PUB_OR_DIR", required = true)]
    trust: Vec<PathBuf>,
}

pub fn run(args: VerifyArgs) -> Result<ExitCode> {
    let mut trust = TrustStore::new();
    for path in &args.trust {
        trust.add_path(path)?;
    }
    if trust.is_empty() {
        anyhow::bail!("no trusted keys found in {}", display_list(&args.trust));
    }
    let bundle = crate::bundle_file::read(&args.bundle)?;
    let verified = verify(bundle, &trust)
        .with_context(|| format!("{} failed verification", args.bundle.display()))?;
    let m = &verified.manifest;
    println!(
        "OK: {} {} (manifest sha256 {})",
        m.name, m.version, verified.digest
    );
    for signer in &verified.signers {
        let source = trust
            .source_of(signer)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        println!("  signed by {signer} (trusted: {source})");
    }
    for other in &verified.untrusted_signers {
        println!("  also signed by {other} (not in the trust store; not checked)");
    }
    println!("  {} payload file(s) match the manifest", m.files.len());
    Ok(ExitCode::SUCCESS)
}

fn display_list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
