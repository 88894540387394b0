//! `stap-pack`: build side of stap-pack. Thin over the library crates; every
//! command lives in its own module.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod assemble;
mod build;
mod bundle_file;
mod check;
mod inspect;
mod keygen;
mod sign;
mod verify;

#[derive(Parser)]
#[command(
    name = "stap-pack",
    version,
    about = "Signed, ahead-of-time SystemTap probe bundles"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an Ed25519 signing key pair (PREFIX.key, PREFIX.pub).
    Keygen(keygen::KeygenArgs),
    /// Translate a script and build one module per kernel into a bundle.
    Build(build::BuildArgs),
    /// Pack prebuilt kernel modules and their scripts into a bundle.
    Assemble(assemble::AssembleArgs),
    /// Add a signature to a bundle.
    Sign(sign::SignArgs),
    /// Verify a bundle's signatures and contents against trusted keys.
    Verify(verify::VerifyArgs),
    /// Show what a bundle holds: the overview a reviewer needs.
    Inspect(inspect::InspectArgs),
    /// Parse (-p1) or parse and elaborate (-p2) a script, reporting every error.
    Check(check::CheckArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen(args) => keygen::run(args),
        Command::Build(args) => build::run(args),
        Command::Assemble(args) => assemble::run(args),
        Command::Sign(args) => sign::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Check(args) => check::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("stap-pack: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
