//! Which of a bundle's kernels fits the running host, and when none does,
//! how near the candidates came: a module for 6.1.0-56-amd64 will not load
//! on 6.1.0-56-cloud-amd64, and the operator should learn that at a glance.

use std::fmt;

use stap_bundle::manifest::KernelEntry;

/// How many near misses a [`KernelMismatch`] lists.
const NEAREST_SHOWN: usize = 5;

/// The running kernel, as `uname -r`, `uname -v` and `uname -m` print it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    pub release: String,
    /// `None` when not known: a dry run that assumes only a release. Then
    /// entries match by release and architecture alone.
    pub version: Option<String>,
    pub machine: String,
}

/// No kernel entry matched. Lists the nearest candidates, nearest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelMismatch {
    pub host: HostFacts,
    pub nearest: Vec<NearMiss>,
    /// Candidates left out of `nearest` to keep the message short.
    pub omitted: usize,
}

/// One bundle kernel that did not match, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NearMiss {
    /// Index into the manifest's kernels.
    pub index: usize,
    pub release: String,
    pub arch: String,
    /// Bundle value first, host value second, e.g. `same version and ABI,
    /// flavour differs: amd64 vs cloud-amd64`.
    pub explanation: String,
}

/// An entry matches when release and architecture are equal and, if the
/// entry records the build (`uname -v`), that is equal too.
pub fn match_kernel(kernels: &[KernelEntry], host: &HostFacts) -> Result<usize, KernelMismatch> {
    if let Some(index) = kernels.iter().position(|k| {
        k.release == host.release
            && k.arch == host.machine
            && versions_agree(k.version.as_deref(), host.version.as_deref())
    }) {
        return Ok(index);
    }
    let mut ranked: Vec<(Nearness, NearMiss)> = kernels
        .iter()
        .enumerate()
        .map(|(index, kernel)| {
            let (nearness, explanation) = compare(kernel, host);
            let miss = NearMiss {
                index,
                release: kernel.release.clone(),
                arch: kernel.arch.clone(),
                explanation,
            };
            (nearness, miss)
        })
        .collect();
    ranked.sort_by_key(|(nearness, miss)| (*nearness, miss.index));
    let omitted = ranked.len().saturating_sub(NEAREST_SHOWN);
    let nearest = ranked
        .into_iter()
        .take(NEAREST_SHOWN)
        .map(|(_, miss)| miss)
        .collect();
    Err(KernelMismatch {
        host: host.clone(),
        nearest,
        omitted,
    })
}

/// Sort key, smaller is nearer: a different architecture can never load,
/// then fewer differing parts, then closer ABI numbers.
type Nearness = (bool, usize, u64);

/// A Debian-style release: `6.1.0-56-cloud-amd64` is upstream `6.1.0`, ABI
/// `56`, flavour `cloud-amd64`; `6.12.117+deb12-cloud-amd64` is upstream
/// `6.12.117`, ABI `deb12`, flavour `cloud-amd64`.
#[derive(Debug, PartialEq, Eq)]
struct DebianRelease<'a> {
    upstream: &'a str,
    abi: &'a str,
    flavour: &'a str,
}

fn parse_debian_release(release: &str) -> Option<DebianRelease<'_>> {
    let (head, rest) = release.split_once('-')?;
    let (upstream, abi, flavour) = match head.split_once('+') {
        Some((upstream, abi)) => (upstream, abi, rest),
        None => {
            let (abi, flavour) = rest.split_once('-')?;
            if !abi.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (head, abi, flavour)
        }
    };
    let dotted_numbers = upstream.contains('.')
        && upstream
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    let plain = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    (dotted_numbers && plain(abi) && plain(flavour)).then_some(DebianRelease {
        upstream,
        abi,
        flavour,
    })
}

/// A recorded build must equal the host's, when both are known.
fn versions_agree(entry: Option<&str>, host: Option<&str>) -> bool {
    match (entry, host) {
        (Some(built_for), Some(running)) => built_for == running,
        _ => true,
    }
}

fn compare(kernel: &KernelEntry, host: &HostFacts) -> (Nearness, String) {
    let arch_differs = kernel.arch != host.machine;
    let (differing_parts, abi_distance, mut explanation) = if kernel.release == host.release {
        match &kernel.version {
            Some(build) if !versions_agree(Some(build), host.version.as_deref()) => (
                0,
                0,
                format!(
                    "same release, but built for a different kernel build (uname -v `{build}` vs `{}`)",
                    host.version.as_deref().unwrap_or_default()
                ),
            ),
            _ => (0, 0, "same release".to_string()),
        }
    } else {
        match (
            parse_debian_release(&kernel.release),
            parse_debian_release(&host.release),
        ) {
            (Some(bundle), Some(running)) => explain_release_parts(&bundle, &running),
            _ => (
                3,
                u64::MAX,
                format!("different release: {} vs {}", kernel.release, host.release),
            ),
        }
    };
    if arch_differs {
        explanation.push_str(&format!(
            "; different architecture: {} vs {}",
            kernel.arch, host.machine
        ));
    }
    ((arch_differs, differing_parts, abi_distance), explanation)
}

fn explain_release_parts(bundle: &DebianRelease, host: &DebianRelease) -> (usize, u64, String) {
    let parts = [
        ("version", bundle.upstream, host.upstream),
        ("ABI", bundle.abi, host.abi),
        ("flavour", bundle.flavour, host.flavour),
    ];
    let same: Vec<&str> = parts
        .iter()
        .filter(|(_, b, h)| b == h)
        .map(|(name, _, _)| *name)
        .collect();
    let differing: Vec<String> = parts
        .iter()
        .filter(|(_, b, h)| b != h)
        .map(|(name, b, h)| format!("{name} differs: {b} vs {h}"))
        .collect();
    let abi_distance = match (bundle.abi.parse::<u64>(), host.abi.parse::<u64>()) {
        (Ok(b), Ok(h)) => b.abs_diff(h),
        _ if bundle.abi == host.abi => 0,
        _ => u64::MAX,
    };
    let explanation = match same.as_slice() {
        [] => differing.join(", "),
        [one] => format!("same {one}, {}", differing.join(", ")),
        [first, second] => format!("same {first} and {second}, {}", differing.join(", ")),
        // All three equal means the release strings are equal, handled before.
        _ => "same release".to_string(),
    };
    (differing.len(), abi_distance, explanation)
}

impl fmt::Display for KernelMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = &self.host;
        write!(
            f,
            "no kernel in the bundle matches this host. Host kernel: {} ({})",
            host.release, host.machine
        )?;
        match &host.version {
            Some(version) => write!(f, ", uname -v `{version}`.")?,
            None => write!(f, ".")?,
        }
        if self.nearest.is_empty() {
            return write!(
                f,
                " The bundle lists no kernels; rebuild it for this kernel."
            );
        }
        write!(f, " Nearest bundle kernels (bundle vs host):")?;
        for miss in &self.nearest {
            write!(
                f,
                "\n  - {} ({}): {}",
                miss.release, miss.arch, miss.explanation
            )?;
        }
        if self.omitted > 0 {
            write!(f, "\n  - and {} more", self.omitted)?;
        }
        write!(f, "\nBuild the bundle for this host's kernel, or run it on a host with one of the bundle's kernels.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_debian_releases() {
        let parsed = |r| parse_debian_release(r).map(|d| (d.upstream, d.abi, d.flavour));
        assert_eq!(
            parsed("6.1.0-56-cloud-amd64"),
            Some(("6.1.0", "56", "cloud-amd64"))
        );
        assert_eq!(
            parsed("6.12.117+deb12-cloud-amd64"),
            Some(("6.12.117", "deb12", "cloud-amd64"))
        );
        assert_eq!(
            parsed("5.15.0-91-generic"),
            Some(("5.15.0", "91", "generic"))
        );
        for unparseable in [
            "5.14.0-362.8.1.el9_3.x86_64",
            "6.8.0",
            "6.1.0-56",
            "linux-6.1",
            "",
            "-",
            "6..1-1-x",
        ] {
            assert_eq!(parsed(unparseable), None, "{unparseable}");
        }
    }
}
