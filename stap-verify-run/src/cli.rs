//! Command-line parsing, by hand: the runner takes few options and keeps its
//! dependency tree small.

use std::ffi::OsString;
use std::path::PathBuf;

pub const USAGE: &str = "\
usage: stap-verify-run --dry-run [OPTIONS] BUNDLE.stpb [NAME=VALUE ...]

Verifies BUNDLE against the trust store and policy and the running kernel,
and prints the decision with its reasons.

  --dry-run                 do every check, load nothing
  --trust PATH              trusted key file or directory (root only; repeatable)
  --policy FILE             policy file (root only)
  --kernel-release R        decide as if the host ran kernel release R (root, --dry-run only)
  --kernel-version V        ... with this `uname -v` (root, --dry-run only)
  --machine M               ... on this architecture (root, --dry-run only)
  -h, --help                this text
  -V, --version             print the version

Defaults: trust /etc/stap-pack/trusted.d/*.pub, policy /etc/stap-pack/policy.toml.

Exit status: 0 allowed, 1 configuration error, 2 usage error, 3 unreadable or
malformed bundle, 4 bad or untrusted signature, 5 denied by policy,
6 no matching kernel.
";

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub dry_run: bool,
    pub trust: Vec<PathBuf>,
    pub policy: Option<PathBuf>,
    pub kernel_release: Option<String>,
    pub kernel_version: Option<String>,
    pub machine: Option<String>,
    pub bundle: PathBuf,
    pub params: Vec<(String, String)>,
}

impl Options {
    /// Options that change what is trusted or what host is assumed: only the
    /// real root may use them.
    pub fn root_only_used(&self) -> Option<&'static str> {
        if !self.trust.is_empty() {
            Some("--trust")
        } else if self.policy.is_some() {
            Some("--policy")
        } else if self.kernel_release.is_some() {
            Some("--kernel-release")
        } else if self.kernel_version.is_some() {
            Some("--kernel-version")
        } else if self.machine.is_some() {
            Some("--machine")
        } else {
            None
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Options),
    Help,
    Version,
}

pub fn parse(args: &[OsString]) -> Result<Parsed, String> {
    let mut options = Options::default();
    let mut bundle = None;
    let mut iter = args.iter();
    let mut positional_only = false;
    while let Some(arg) = iter.next() {
        let text = arg
            .to_str()
            .ok_or_else(|| format!("argument {arg:?} is not valid UTF-8"))?;
        let mut value = |name: &str| -> Result<String, String> {
            iter.next()
                .and_then(|v| v.to_str())
                .map(str::to_string)
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match text {
            "--" if !positional_only => positional_only = true,
            "-h" | "--help" if !positional_only => return Ok(Parsed::Help),
            "-V" | "--version" if !positional_only => return Ok(Parsed::Version),
            "--dry-run" if !positional_only => options.dry_run = true,
            "--trust" if !positional_only => options.trust.push(PathBuf::from(value("--trust")?)),
            "--policy" if !positional_only => set_once(
                &mut options.policy,
                PathBuf::from(value("--policy")?),
                "--policy",
            )?,
            "--kernel-release" if !positional_only => set_once(
                &mut options.kernel_release,
                value("--kernel-release")?,
                "--kernel-release",
            )?,
            "--kernel-version" if !positional_only => set_once(
                &mut options.kernel_version,
                value("--kernel-version")?,
                "--kernel-version",
            )?,
            "--machine" if !positional_only => {
                set_once(&mut options.machine, value("--machine")?, "--machine")?
            }
            flag if flag.starts_with('-') && !positional_only => {
                return Err(format!("unknown option {flag}"))
            }
            positional if bundle.is_none() => bundle = Some(PathBuf::from(positional)),
            assignment => {
                let (name, val) = assignment
                    .split_once('=')
                    .ok_or_else(|| format!("`{assignment}` is not NAME=VALUE"))?;
                if name.is_empty() {
                    return Err(format!("`{assignment}` has no parameter name"));
                }
                if options.params.iter().any(|(n, _)| n == name) {
                    return Err(format!("parameter {name} is given twice"));
                }
                options.params.push((name.to_string(), val.to_string()));
            }
        }
    }
    options.bundle = bundle.ok_or("no bundle given")?;
    if !options.dry_run {
        return Err(
            "loading modules is not part of this version; use --dry-run to check a bundle".into(),
        );
    }
    Ok(Parsed::Run(options))
}

fn set_once<T>(slot: &mut Option<T>, value: T, name: &str) -> Result<(), String> {
    if slot.replace(value).is_some() {
        return Err(format!("{name} is given twice"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Parsed, String> {
        parse(&args.iter().map(OsString::from).collect::<Vec<_>>())
    }

    #[test]
    fn parses_bundle_options_and_parameters() {
        let Parsed::Run(o) =
            parse_strs(&["--dry-run", "--trust", "k.pub", "b.stpb", "a=1", "s=x=y"]).unwrap()
        else {
            panic!("expected a run");
        };
        assert!(o.dry_run);
        assert_eq!(o.trust, vec![PathBuf::from("k.pub")]);
        assert_eq!(o.bundle, PathBuf::from("b.stpb"));
        assert_eq!(
            o.params,
            vec![("a".into(), "1".into()), ("s".into(), "x=y".into())]
        );
        assert_eq!(o.root_only_used(), Some("--trust"));
    }

    #[test]
    fn refuses_malformed_command_lines() {
        for (args, needle) in [
            (&["--dry-run"][..], "no bundle"),
            (&["--dry-run", "--bogus", "b"][..], "unknown option"),
            (&["--dry-run", "b", "noequals"][..], "NAME=VALUE"),
            (&["--dry-run", "b", "a=1", "a=2"][..], "twice"),
            (
                &["--dry-run", "--policy", "p", "--policy", "q", "b"][..],
                "twice",
            ),
            (&["--dry-run", "--trust"][..], "needs a value"),
            (&["b"][..], "--dry-run"),
        ] {
            let err = parse_strs(args).unwrap_err();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn double_dash_ends_options() {
        let Parsed::Run(o) = parse_strs(&["--dry-run", "--", "--odd-name.stpb"]).unwrap() else {
            panic!("expected a run");
        };
        assert_eq!(o.bundle, PathBuf::from("--odd-name.stpb"));
    }
}
