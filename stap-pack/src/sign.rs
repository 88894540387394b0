use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use stap_bundle::keys::SigningKey;
use stap_bundle::manifest::Manifest;
use stap_bundle::signature::SignatureDocument;

#[derive(clap::Args)]
pub struct SignArgs {
    /// Bundle to sign (rewritten in place unless -o is given).
    bundle: PathBuf,
    /// Secret key (PREFIX.key from `stap-pack keygen`).
    #[arg(long, value_name = "PREFIX.key")]
    key: PathBuf,
    /// Write the signed bundle here instead.
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
}

pub fn run(args: SignArgs) -> Result<ExitCode> {
    let key = SigningKey::load(&args.key)?;
    let key_id = key.public_key().key_id();
    let bundle = crate::bundle_file::read(&args.bundle)?;
    // A signer vouches for the payload too: refuse to sign a manifest whose
    // files do not match it.
    let manifest = bundle
        .check_integrity()
        .with_context(|| format!("refusing to sign {}", args.bundle.display()))?;
    let digest = Manifest::digest_of_bytes(bundle.manifest_bytes());
    let output = args.output.as_ref().unwrap_or(&args.bundle);
    if let Some(existing) = bundle.signatures().get(&key_id) {
        let still_valid = SignatureDocument::parse(existing)
            .and_then(|doc| doc.verify(bundle.manifest_bytes(), &key.public_key()))
            .is_ok();
        if still_valid {
            if output != &args.bundle {
                crate::bundle_file::write(output, &bundle.into_contents())?;
            }
            println!(
                "{} {} is already signed by key {key_id}; nothing to add",
                manifest.name, manifest.version
            );
            return Ok(ExitCode::SUCCESS);
        }
    }
    let mut contents = bundle.into_contents();
    let document = SignatureDocument::create(&contents.manifest_bytes, &key);
    contents.signatures.insert(key_id.clone(), document);
    crate::bundle_file::write(output, &contents)?;
    println!(
        "signed {} {} (manifest sha256 {digest}) with key {key_id}; {} signature(s) now",
        manifest.name,
        manifest.version,
        contents.signatures.len()
    );
    Ok(ExitCode::SUCCESS)
}
