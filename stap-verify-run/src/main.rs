//! `stap-verify-run`: the host side of stap-pack. Reads a bundle, verifies its
//! signatures against the fixed trust store, decides by policy and kernel
//! match, then loads the module for the running kernel and relays its
//! output until the session ends (or, with `--dry-run`, reports the
//! decision without loading anything).
//!
//! It is meant to be installed setuid root for members of `stapusr`, so it
//! keeps its dependencies few and takes configuration only from fixed paths
//! unless the real user is root.
#![forbid(unsafe_code)]

mod audit;
mod cli;
mod command;
mod exit;
mod host;
mod params;
mod preflight;
mod privilege;
mod records;
mod run;
mod session;
mod wire;

fn main() -> std::process::ExitCode {
    // First: the self-check, the new environment and the drop to the
    // caller's ids (when setuid), before anything reads either.
    let privilege = match privilege::Privilege::establish() {
        Ok(privilege) => privilege,
        Err(message) => {
            eprintln!("stap-verify-run: {message}");
            return exit::Status::Config.into();
        }
    };
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let code = match cli::parse(&args) {
        Ok(cli::Parsed::Help) => {
            print!("{}", cli::USAGE);
            exit::Status::Allowed
        }
        Ok(cli::Parsed::Version) => {
            println!("stap-verify-run {}", env!("CARGO_PKG_VERSION"));
            exit::Status::Allowed
        }
        Ok(cli::Parsed::Run(options)) => run::run(&options, &privilege),
        Ok(cli::Parsed::Reap) => run::reap(&privilege),
        Err(message) => {
            eprintln!("stap-verify-run: {message}\n\n{}", cli::USAGE);
            exit::Status::Usage
        }
    };
    code.into()
}
