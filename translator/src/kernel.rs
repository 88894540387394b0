//! What a kernel's build tree tells about its syscalls and tracepoints,
//! for the syscall tapset (generated per kernel) and the build-time check
//! of `kernel.trace` points. Debian splits a build tree into an
//! architecture part (generated headers, `.config`) and a common part
//! (`include/`, `arch/*/include/asm/`) that the former's Makefile includes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One native syscall of the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syscall {
    /// As in `__NR_<name>` (`stat`, not the entry point's `newstat`).
    pub name: String,
    pub nr: u32,
    /// Arguments of the entry point's prototype, if a header declares it.
    pub args: Option<usize>,
}

/// The directories of a build tree that may hold a header: the tree and,
/// for a Debian architecture tree, the common tree its Makefile includes.
fn tree_dirs(build_tree: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![build_tree.to_path_buf()];
    if let Ok(makefile) = std::fs::read_to_string(build_tree.join("Makefile")) {
        dirs.extend(makefile.lines().filter_map(|line| {
            let included = line.strip_prefix("include ")?.trim();
            Some(Path::new(included.strip_suffix("/Makefile")?).to_path_buf())
        }));
    }
    dirs
}

fn read_in(dirs: &[PathBuf], relative: &str) -> Option<String> {
    dirs.iter()
        .find_map(|dir| std::fs::read_to_string(dir.join(relative)).ok())
}

/// The x86-64 syscalls of the kernel whose build tree is `build_tree`:
/// names and numbers from `unistd_64.h`, entry points from the generated
/// syscall table (numbers without one, `sys_ni_syscall`, are left out),
/// argument counts from the entry points' prototypes.
pub fn syscalls(build_tree: &Path) -> Result<Vec<Syscall>, String> {
    let dirs = tree_dirs(build_tree);
    let need = |relative: &str| {
        read_in(&dirs, relative).ok_or_else(|| {
            format!(
                "{relative} is missing from the kernel build tree {}",
                build_tree.display()
            )
        })
    };
    let unistd = need("arch/x86/include/generated/uapi/asm/unistd_64.h")?;
    let table = need("arch/x86/include/generated/asm/syscalls_64.h")?;
    let mut entries = BTreeMap::new();
    for line in table.lines() {
        // 6.12 marks exit and exit_group `__SYSCALL_NORETURN`.
        let Some(inner) = ["__SYSCALL(", "__SYSCALL_NORETURN("]
            .iter()
            .find_map(|prefix| line.trim().strip_prefix(prefix))
            .and_then(|rest| rest.strip_suffix(')'))
        else {
            continue;
        };
        if let Some((nr, entry)) = inner.split_once(',') {
            if let Ok(nr) = nr.trim().parse::<u32>() {
                entries.insert(nr, entry.trim().to_string());
            }
        }
    }
    let mut prototypes = String::new();
    for header in [
        "include/linux/syscalls.h",
        "arch/x86/include/asm/syscalls.h",
    ] {
        prototypes.push_str(&read_in(&dirs, header).unwrap_or_default());
    }
    let arg_counts = prototype_arg_counts(&prototypes);
    let mut syscalls = Vec::new();
    for line in unistd.lines() {
        let mut words = line.split_whitespace();
        let (Some("#define"), Some(macro_name), Some(nr)) =
            (words.next(), words.next(), words.next())
        else {
            continue;
        };
        let (Some(name), Ok(nr)) = (macro_name.strip_prefix("__NR_"), nr.parse::<u32>()) else {
            continue;
        };
        match entries.get(&nr) {
            Some(entry) if entry != "sys_ni_syscall" => syscalls.push(Syscall {
                name: name.to_string(),
                nr,
                args: arg_counts.get(entry.as_str()).copied(),
            }),
            _ => {}
        }
    }
    if syscalls.is_empty() {
        return Err(format!(
            "no syscalls found in the kernel build tree {}",
            build_tree.display()
        ));
    }
    Ok(syscalls)
}

/// Argument counts of `asmlinkage long sys_NAME(...);` prototypes. Where
/// configurations declare a name differently, the largest count wins (an
/// extra argument in `argstr` is harmless, a missing one is not).
fn prototype_arg_counts(text: &str) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    let mut rest = text;
    while let Some(at) = rest.find("asmlinkage long ") {
        rest = &rest[at + "asmlinkage long ".len()..];
        let Some(open) = rest.find('(') else { break };
        let name = rest[..open].trim();
        let Some(close) = rest[open..].find(')') else {
            break;
        };
        let params = rest[open + 1..open + close].trim();
        rest = &rest[open + close..];
        if !name.starts_with("sys_") || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            continue;
        }
        let count = if params.is_empty() || params == "void" {
            0
        } else {
            params.split(',').count()
        };
        let entry = counts.entry(name).or_insert(count);
        *entry = (*entry).max(count);
    }
    counts
}

/// The syscall tapset of a kernel: `syscall.NAME` and `syscall.NAME.return`
/// for each syscall, on the runtime's syscall probes.
pub fn syscall_tapset(syscalls: &[Syscall]) -> String {
    let mut out = String::from(
        "// Generated by stap-pack from the kernel's syscall table: entry and\n\
         // return of each native syscall (see docs/probes.md).\n",
    );
    for syscall in syscalls {
        // Unknown prototypes: every argument register.
        let args = syscall.args.unwrap_or(6);
        let _ = write!(
            out,
            "\nprobe syscall.{name} = kernel.syscall_nr({nr})\n{{\n\tname = \"{name}\"\n\targstr = __syscall_argstr({args})\n}}\n\
             probe syscall.{name}.return = kernel.syscall_nr({nr}).return\n{{\n\tname = \"{name}\"\n\tretval = __syscall_retval()\n}}\n",
            name = syscall.name,
            nr = syscall.nr,
        );
    }
    out
}

/// Checks a tracepoint against the kernel's headers: when a header under
/// `include/trace/events/` or `arch/x86/include/asm/trace/` declares the
/// subsystem (`#define TRACE_SYSTEM <subsystem>`), the event must be named
/// in one of them. Subsystems no shipped header declares are not checked
/// here (the runtime refuses an event the kernel lacks at start).
pub fn check_tracepoint(build_tree: &Path, subsystem: &str, event: &str) -> Result<(), String> {
    let mut declared = false;
    for dir in tree_dirs(build_tree) {
        for headers in ["include/trace/events", "arch/x86/include/asm/trace"] {
            let Ok(entries) = std::fs::read_dir(dir.join(headers)) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(text) = std::fs::read_to_string(entry.path()) else {
                    continue;
                };
                let defines_subsystem = text.lines().any(|line| {
                    let mut words = line.split_whitespace();
                    words.next() == Some("#define")
                        && words.next() == Some("TRACE_SYSTEM")
                        && words.next() == Some(subsystem)
                });
                if !defines_subsystem {
                    continue;
                }
                declared = true;
                if names_identifier(&text, event) {
                    return Ok(());
                }
            }
        }
    }
    if declared {
        Err(format!(
            "the kernel's headers declare no event `{event}` in tracepoint subsystem `{subsystem}`"
        ))
    } else {
        Ok(())
    }
}

/// Whether `identifier` occurs in `text` as a whole C identifier.
fn names_identifier(text: &str, identifier: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(identifier).any(|(at, _)| {
        !text[..at].chars().next_back().is_some_and(is_ident)
            && !text[at + identifier.len()..]
                .chars()
                .next()
                .is_some_and(is_ident)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prototypes_count_arguments() {
        let counts = prototype_arg_counts(
            "asmlinkage long sys_read(unsigned int fd, char __user *buf,\n\t\tsize_t count);\n\
             asmlinkage long sys_getpid(void);\n\
             #ifdef A\nasmlinkage long sys_clone(unsigned long, int);\n#else\n\
             asmlinkage long sys_clone(unsigned long, int, int);\n#endif\n",
        );
        assert_eq!(counts.get("sys_read"), Some(&3));
        assert_eq!(counts.get("sys_getpid"), Some(&0));
        assert_eq!(counts.get("sys_clone"), Some(&3));
    }

    #[test]
    fn identifiers_are_whole_words() {
        assert!(names_identifier(
            "TRACE_EVENT(sched_switch,",
            "sched_switch"
        ));
        assert!(!names_identifier(
            "TRACE_EVENT(sched_switch_x,",
            "sched_switch"
        ));
        assert!(!names_identifier("xsched_switch", "sched_switch"));
    }
}
