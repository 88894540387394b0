//! Command-line parsing, by hand: the runner takes few options and keeps its
//! dependency tree small.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

pub const USAGE: &str = "\
usage: stap-verify-run [OPTIONS] BUNDLE.stpb [NAME=VALUE ...]
       stap-verify-run --reap

Verifies BUNDLE against the trust store and policy and the running kernel,
then loads its module for this kernel, runs the script and relays its
output until the script exits, the time limit passes or an interrupt
(SIGINT, SIGTERM, SIGHUP) stops it; a second interrupt forces the unload.
NAME=VALUE sets a parameter the bundle declares.

  --dry-run                 do every check, load nothing, print the decision
  -o, --output FILE         write the script's output to FILE (opened as the real user)
  -c, --command CMD         run `sh -c CMD` as the real user once the script has
                            started; target() is its pid; its exit ends the script
  -x, --target PID          target() is PID (a process of the real user; any for root)
  -q, --quiet               do not repeat the decision on stderr (syslog still has it)
  --reap                    unload modules left loaded by killed runs of the real
                            user (root: of anyone), then exit
  --timeout D               stop after D (500ms, 30s, 10m, 2h; default: the policy's limit)
  --trust PATH              trusted key file or directory (root only; repeatable)
  --policy FILE             policy file (root only)
  --kernel-release R        decide as if the host ran kernel release R (root, --dry-run only)
  --kernel-version V        ... with this `uname -v` (root, --dry-run only)
  --machine M               ... on this architecture (root, --dry-run only)
  -h, --help                this text
  -V, --version             print the version

Defaults: trust /etc/stap-pack/trusted.d/*.pub, policy /etc/stap-pack/policy.toml.

Exit status: 0 allowed (ran and ended normally), 1 configuration error,
2 usage error, 3 unreadable or malformed bundle, 4 bad or untrusted
signature, 5 denied by policy, 6 no matching kernel, 7 the module could not
be loaded or the run failed, 8 the script ended with an error, 9 the run was
forced to end by a second interrupt.
";

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub dry_run: bool,
    pub trust: Vec<PathBuf>,
    pub policy: Option<PathBuf>,
    pub kernel_release: Option<String>,
    pub kernel_version: Option<String>,
    pub machine: Option<String>,
    pub output: Option<PathBuf>,
    pub timeout: Option<Duration>,
    pub command: Option<String>,
    pub target_pid: Option<u32>,
    pub quiet: bool,
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
        } else {
            self.host_override_used()
        }
    }

    /// Options that make the runner assume another host.
    fn host_override_used(&self) -> Option<&'static str> {
        if self.kernel_release.is_some() {
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
    Run(Box<Options>),
    Reap,
    Help,
    Version,
}

pub fn parse(args: &[OsString]) -> Result<Parsed, String> {
    let mut options = Options::default();
    let mut bundle = None;
    let mut reap = false;
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
            "--reap" if !positional_only => reap = true,
            "-q" | "--quiet" if !positional_only => options.quiet = true,
            "-c" | "--command" if !positional_only => {
                set_once(&mut options.command, value(text)?, "--command")?
            }
            "-x" | "--target" if !positional_only => {
                let text = value(text)?;
                let pid = text
                    .parse()
                    .ok()
                    .filter(|&pid| pid > 0)
                    .ok_or_else(|| format!("-x `{text}` is not a process id"))?;
                set_once(&mut options.target_pid, pid, "--target")?
            }
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
            "-o" | "--output" if !positional_only => {
                set_once(&mut options.output, PathBuf::from(value(text)?), "--output")?
            }
            "--timeout" if !positional_only => {
                let timeout = parse_duration(&value("--timeout")?)?;
                set_once(&mut options.timeout, timeout, "--timeout")?
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
    if reap {
        return match bundle {
            None if args.len() == 1 => Ok(Parsed::Reap),
            _ => Err("--reap takes no other argument".to_string()),
        };
    }
    options.bundle = bundle.ok_or("no bundle given")?;
    if options.command.is_some() && options.target_pid.is_some() {
        return Err("-c and -x both set target(): give one".to_string());
    }
    if options.dry_run && options.command.is_some() {
        return Err("-c is not for --dry-run, which runs nothing".to_string());
    }
    if !options.dry_run {
        // A real run loads into the running kernel: no pretending.
        if let Some(option) = options.host_override_used() {
            return Err(format!("{option} is only for --dry-run"));
        }
    }
    Ok(Parsed::Run(Box::new(options)))
}

/// `500ms`, `30s`, `10m`, `2h`, or whole seconds; more than zero.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let bad = || format!("--timeout `{text}` is not a duration like 500ms, 30s, 10m or 2h");
    let count: u64 = digits.parse().map_err(|_| bad())?;
    let millis = match unit {
        "ms" => Some(count),
        "" | "s" => count.checked_mul(1000),
        "m" => count.checked_mul(60_000),
        "h" => count.checked_mul(3_600_000),
        _ => return Err(bad()),
    }
    .ok_or_else(bad)?;
    if millis == 0 {
        return Err(format!("--timeout `{text}` is zero"));
    }
    Ok(Duration::from_millis(millis))
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
            (
                &["--kernel-release", "6.1.0-56-amd64", "b"][..],
                "--dry-run",
            ),
            (&["--machine", "aarch64", "b"][..], "--dry-run"),
            (&["--timeout", "soon", "b"][..], "duration"),
            (&["--timeout", "0s", "b"][..], "zero"),
            (&["-o", "x", "--output", "y", "b"][..], "twice"),
            (&["-c", "true", "-x", "7", "b"][..], "give one"),
            (&["--dry-run", "-c", "true", "b"][..], "not for --dry-run"),
            (&["-x", "0", "b"][..], "not a process id"),
            (&["-x", "me", "b"][..], "not a process id"),
            (&["--reap", "b"][..], "no other argument"),
        ] {
            let err = parse_strs(args).unwrap_err();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn parses_run_options() {
        let Parsed::Run(o) =
            parse_strs(&["-o", "out.txt", "--timeout", "1500ms", "b.stpb", "count=5"]).unwrap()
        else {
            panic!("expected a run");
        };
        assert!(!o.dry_run);
        assert_eq!(o.output, Some(PathBuf::from("out.txt")));
        assert_eq!(o.timeout, Some(Duration::from_millis(1500)));
        for (text, seconds) in [("30", 30), ("30s", 30), ("10m", 600), ("2h", 7200)] {
            assert_eq!(parse_duration(text), Ok(Duration::from_secs(seconds)));
        }
    }

    #[test]
    fn parses_target_command_quiet_and_reap() {
        let Parsed::Run(o) = parse_strs(&["-q", "-c", "make test", "b.stpb"]).unwrap() else {
            panic!("expected a run");
        };
        assert!(o.quiet);
        assert_eq!(o.command.as_deref(), Some("make test"));
        let Parsed::Run(o) = parse_strs(&["-x", "42", "b.stpb"]).unwrap() else {
            panic!("expected a run");
        };
        assert_eq!(o.target_pid, Some(42));
        assert_eq!(parse_strs(&["--reap"]), Ok(Parsed::Reap));
    }

    #[test]
    fn double_dash_ends_options() {
        let Parsed::Run(o) = parse_strs(&["--dry-run", "--", "--odd-name.stpb"]).unwrap() else {
            panic!("expected a run");
        };
        assert_eq!(o.bundle, PathBuf::from("--odd-name.stpb"));
    }
}
