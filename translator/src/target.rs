//! The description of what a script is being translated for: the values the
//! preprocessor's `%( cond %? ... %)` conditions are evaluated against.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Which runtime the probes are built for (`runtime == "kernel"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Runtime {
    Kernel,
    Dyninst,
    Bpf,
}

impl Runtime {
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Kernel => "kernel",
            Runtime::Dyninst => "dyninst",
            Runtime::Bpf => "bpf",
        }
    }
}

/// `systemtap_privilege == "stapusr"` etc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Privilege {
    Stapusr,
    Stapsys,
    Stapdev,
}

impl Privilege {
    pub fn name(self) -> &'static str {
        match self {
            Privilege::Stapusr => "stapusr",
            Privilege::Stapsys => "stapsys",
            Privilege::Stapdev => "stapdev",
        }
    }
}

/// One translation target: a kernel (release, architecture, configuration)
/// plus translator settings. Build one per kernel of a build matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Full release, `kernel_vr` (`6.1.0-56-cloud-amd64`).
    pub kernel_release: String,
    /// Kernel architecture as SystemTap names it (`x86_64`, `arm64`, ...).
    pub arch: String,
    /// `CONFIG_*` values as written in `.config` (`y`, `m`, `"str"`, `64`).
    pub config: BTreeMap<String, String>,
    pub runtime: Runtime,
    /// The SystemTap language version scripts are checked against (`systemtap_v`).
    pub systemtap_version: String,
    pub privilege: Privilege,
    pub guru_mode: bool,
    /// The kernel's build tree (headers), where the kernel's syscall table
    /// and tracepoint headers are read from; `None` without a kernel.
    pub build_tree: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("cannot read kernel configuration {path}: {source}")]
    Config {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no kernel build tree for release {release} (looked in {looked})")]
    NoBuildTree { release: String, looked: String },
    #[error("cannot find the kernel release of build tree {path}: {reason}")]
    Release { path: PathBuf, reason: String },
}

/// The language version this front end implements (Debian 12 ships 4.8).
pub const SYSTEMTAP_VERSION: &str = "4.8";

impl Default for Target {
    /// A target without a kernel: empty release and configuration, host-independent
    /// `x86_64`, kernel runtime, full privilege.
    fn default() -> Target {
        Target {
            kernel_release: String::new(),
            arch: "x86_64".to_string(),
            config: BTreeMap::new(),
            runtime: Runtime::Kernel,
            systemtap_version: SYSTEMTAP_VERSION.to_string(),
            privilege: Privilege::Stapdev,
            guru_mode: false,
            build_tree: None,
        }
    }
}

impl Target {
    /// Target for `release` whose build tree (containing `.config`) is `build_tree`.
    /// The architecture comes from the configuration (`CONFIG_X86_64=y` etc.).
    pub fn for_kernel_build_tree(release: &str, build_tree: &Path) -> Result<Target, TargetError> {
        let path = build_tree.join(".config");
        let text = std::fs::read_to_string(&path).map_err(|source| TargetError::Config {
            path: path.clone(),
            source,
        })?;
        let config = parse_kernel_config(&text);
        let arch = arch_from_config(&config).unwrap_or("x86_64").to_string();
        Ok(Target {
            kernel_release: release.to_string(),
            arch,
            config,
            // `/lib/modules/R/build` is a link to the tree in /usr/src: one name for both.
            build_tree: Some(
                build_tree
                    .canonicalize()
                    .unwrap_or_else(|_| build_tree.to_path_buf()),
            ),
            ..Target::default()
        })
    }

    /// Target for a build tree whose release is read from the tree itself
    /// (`UTS_RELEASE` in `include/generated/utsrelease.h`).
    pub fn for_build_tree(build_tree: &Path) -> Result<Target, TargetError> {
        let path = build_tree.join("include/generated/utsrelease.h");
        let release_error = |reason: String| TargetError::Release {
            path: build_tree.to_path_buf(),
            reason,
        };
        let header = std::fs::read_to_string(&path)
            .map_err(|e| release_error(format!("{}: {e}", path.display())))?;
        let release = header
            .lines()
            .find_map(|line| line.trim().strip_prefix("#define UTS_RELEASE"))
            .and_then(|rest| rest.trim().strip_prefix('"')?.strip_suffix('"'))
            .ok_or_else(|| release_error(format!("no UTS_RELEASE in {}", path.display())))?;
        Target::for_kernel_build_tree(release, build_tree)
    }

    /// Finds the build tree of an installed kernel release: `/lib/modules/R/build`
    /// or Debian's `/usr/src/linux-headers-R`.
    pub fn for_installed_kernel(release: &str) -> Result<Target, TargetError> {
        let candidates = [
            PathBuf::from(format!("/lib/modules/{release}/build")),
            PathBuf::from(format!("/usr/src/linux-headers-{release}")),
        ];
        for tree in &candidates {
            if tree.join(".config").is_file() {
                return Target::for_kernel_build_tree(release, tree);
            }
        }
        Err(TargetError::NoBuildTree {
            release: release.to_string(),
            looked: candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// `kernel_v`: the release up to the first `-` (`6.1.0`).
    pub fn kernel_version(&self) -> &str {
        self.kernel_release
            .split('-')
            .next()
            .unwrap_or(&self.kernel_release)
    }

    /// A `CONFIG_*` value; unset options are the empty string.
    pub fn config_value(&self, name: &str) -> &str {
        self.config.get(name).map_or("", String::as_str)
    }
}

/// Parses `.config`: `CONFIG_X=value` lines; comments and `# ... is not set` are skipped.
pub fn parse_kernel_config(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|line| line.starts_with("CONFIG_"))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

fn arch_from_config(config: &BTreeMap<String, String>) -> Option<&'static str> {
    const ARCHES: [(&str, &str); 8] = [
        ("CONFIG_X86_64", "x86_64"),
        ("CONFIG_ARM64", "arm64"),
        ("CONFIG_PPC64", "powerpc"),
        ("CONFIG_S390", "s390"),
        ("CONFIG_RISCV", "riscv"),
        ("CONFIG_MIPS", "mips"),
        ("CONFIG_X86_32", "i386"),
        ("CONFIG_ARM", "arm"),
    ];
    ARCHES
        .iter()
        .find(|(option, _)| config.get(*option).is_some_and(|v| v == "y"))
        .map(|(_, arch)| *arch)
}

/// Compares version strings the way glibc's `strverscmp` does for the
/// common cases: runs of digits compare numerically, everything else bytewise.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let start_a = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let start_b = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let da = trim_zeros(&a[start_a..i]);
            let db = trim_zeros(&b[start_b..j]);
            let order = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
            if order != Ordering::Equal {
                return order;
            }
        } else {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let first = digits
        .iter()
        .position(|&d| d != b'0')
        .unwrap_or(digits.len());
    &digits[first..]
}

/// Shell-style glob match (`*`, `?`, `[...]`, `[!...]`), as `fnmatch` without flags.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    glob_at(&pattern, &text)
}

fn glob_at(pattern: &[char], text: &[char]) -> bool {
    // Iterative with one backtrack point for the last `*`: linear enough and no recursion.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                '*' => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                '?' => {
                    p += 1;
                    t += 1;
                    continue;
                }
                '[' => {
                    if let Some((matched, next)) = match_class(pattern, p, text[t]) {
                        if matched {
                            p = next;
                            t += 1;
                            continue;
                        }
                    } else if text[t] == '[' {
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
                c if c == text[t] => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                p = sp + 1;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// Matches `c` against the bracket class starting at `pattern[start] == '['`;
/// returns (matched, index after `]`), or `None` if the class is unterminated.
fn match_class(pattern: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negated = matches!(pattern.get(i), Some('!') | Some('^'));
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let &lo = pattern.get(i)?;
        if lo == ']' && !first {
            return Some((matched != negated, i + 1));
        }
        first = false;
        if pattern.get(i + 1) == Some(&'-') && pattern.get(i + 2).is_some_and(|&h| h != ']') {
            let hi = pattern[i + 2];
            matched |= lo <= c && c <= hi;
            i += 3;
        } else {
            matched |= lo == c;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::*;

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(compare_versions("6.1.0", "2.6.30"), Greater);
        assert_eq!(compare_versions("6.12.117", "6.12.9"), Greater);
        assert_eq!(compare_versions("4.8", "4.8"), Equal);
        assert_eq!(compare_versions("4.8", "4.10"), Less);
        assert_eq!(compare_versions("3.0", "3.0.1"), Less);
    }

    #[test]
    fn globs() {
        assert!(glob_matches("6.1*", "6.1.0-56-cloud-amd64"));
        assert!(!glob_matches("6.12*", "6.1.0"));
        assert!(glob_matches("i?86", "i686"));
        assert!(glob_matches("[xy]86_64", "x86_64"));
        assert!(!glob_matches("[!x]86_64", "x86_64"));
        assert!(glob_matches("*", ""));
        assert!(glob_matches("a*b*c", "aXbYbc"));
    }

    #[test]
    fn config_parsing_keeps_raw_values() {
        let config =
            parse_kernel_config("# c\nCONFIG_A=y\nCONFIG_B=\"x y\"\n# CONFIG_C is not set\n");
        assert_eq!(config.get("CONFIG_A").map(String::as_str), Some("y"));
        assert_eq!(config.get("CONFIG_B").map(String::as_str), Some("\"x y\""));
        assert!(!config.contains_key("CONFIG_C"));
    }

    #[test]
    fn kernel_version_is_release_before_dash() {
        let target = Target {
            kernel_release: "6.12.117+deb12-cloud-amd64".into(),
            ..Target::default()
        };
        assert_eq!(target.kernel_version(), "6.12.117+deb12");
    }
}
