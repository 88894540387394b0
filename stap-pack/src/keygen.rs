use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use stap_bundle::keys::SigningKey;

#[derive(clap::Args)]
pub struct KeygenArgs {
    /// Path prefix: writes PREFIX.key (secret, mode 0600) and PREFIX.pub.
    #[arg(long, value_name = "PREFIX")]
    out: PathBuf,
}

pub fn run(args: KeygenArgs) -> Result<ExitCode> {
    let secret_path = with_suffix(&args.out, ".key");
    let public_path = with_suffix(&args.out, ".pub");
    for path in [&secret_path, &public_path] {
        if path.symlink_metadata().is_ok() {
            bail!(
                "{} already exists; refusing to overwrite a key (choose another --out prefix)",
                path.display()
            );
        }
    }
    let key = SigningKey::generate()?;
    // create_new + 0600 from the start: the secret is never readable by others,
    // not even for a moment, and an existing file is never replaced.
    let mut secret = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&secret_path)
        .with_context(|| format!("cannot create {}", secret_path.display()))?;
    secret.write_all(key.to_pem().as_bytes())?;
    secret.sync_all()?;
    let public = key.public_key();
    let mut public_file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&public_path)
        .with_context(|| format!("cannot create {}", public_path.display()))?;
    public_file.write_all(public.to_pem().as_bytes())?;
    println!("key id {}", public.key_id());
    println!("secret key: {}", secret_path.display());
    println!("public key: {}", public_path.display());
    Ok(ExitCode::SUCCESS)
}

fn with_suffix(prefix: &std::path::Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}
