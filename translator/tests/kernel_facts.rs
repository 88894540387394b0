//! Syscall tables and tracepoint checks read from installed kernel build
//! trees (the two kernels the VM suite runs). Missing headers fail under
//! CI and are skipped elsewhere.

use stap_translator::kernel::{check_tracepoint, syscalls};
use stap_translator::{translate, Target, TranslateInput};

const KERNELS: &[&str] = &["6.1.0-56-cloud-amd64", "6.12.117+deb12-cloud-amd64"];

fn installed_targets() -> Vec<Target> {
    KERNELS
        .iter()
        .filter_map(|release| match Target::for_installed_kernel(release) {
            Ok(target) => Some(target),
            Err(err) => {
                assert!(std::env::var_os("CI").is_none(), "{err}");
                eprintln!("skipping {release}: {err}");
                None
            }
        })
        .collect()
}

fn translate_for(target: &Target, script: &str) -> Result<String, String> {
    let input = TranslateInput {
        script_name: "t.stp",
        script_text: script,
        script_args: &[],
        target,
        include_dirs: &[],
        guru: false,
        module_name: "t",
        defines: &[],
    };
    match translate(&input) {
        Ok(translation) => Ok(String::from_utf8(translation.files[0].1.clone()).unwrap()),
        Err(error) => Err(error.render()),
    }
}

#[test]
fn syscall_tables_come_from_the_build_tree() {
    for target in installed_targets() {
        let tree = target.build_tree.as_deref().unwrap();
        let table = syscalls(tree).unwrap();
        let find = |name: &str| {
            table
                .iter()
                .find(|s| s.name == name)
                .unwrap_or_else(|| panic!("{}: no syscall {name}", target.kernel_release))
        };
        assert_eq!((find("read").nr, find("read").args), (0, Some(3)));
        // The entry point is sys_newstat: the name is the __NR_ one.
        assert_eq!((find("stat").nr, find("stat").args), (4, Some(2)));
        assert_eq!((find("uname").nr, find("uname").args), (63, Some(1)));
        // 6.12 marks it __SYSCALL_NORETURN.
        assert_eq!(
            (find("exit_group").nr, find("exit_group").args),
            (231, Some(1))
        );
        assert_eq!(find("getpid").args, Some(0));
        // Numbers without an entry point (sys_ni_syscall) are left out.
        assert!(
            table.iter().all(|s| s.nr != 134),
            "uselib is not implemented"
        );
        let mut names: Vec<&str> = table.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), table.len(), "names are unique");
    }
}

#[test]
fn tracepoints_are_checked_against_the_headers() {
    for target in installed_targets() {
        let tree = target.build_tree.as_deref().unwrap();
        check_tracepoint(tree, "sched", "sched_process_exec").unwrap();
        check_tracepoint(tree, "raw_syscalls", "sys_enter").unwrap();
        let error = check_tracepoint(tree, "sched", "sys_enter").unwrap_err();
        assert!(error.contains("no event `sys_enter`"), "{error}");
        // No shipped header declares it: left to the runtime.
        check_tracepoint(tree, "no_such_subsystem", "x").unwrap();

        let error =
            translate_for(&target, "probe kernel.trace(\"sched:no_such\") { }").unwrap_err();
        assert!(
            error.contains("no such tracepoint in kernel")
                && error.contains(&target.kernel_release),
            "{error}"
        );
    }
}

#[test]
fn syscall_aliases_dispatch_by_the_kernels_numbers() {
    for target in installed_targets() {
        let code = translate_for(
            &target,
            "probe syscall.uname { print(argstr) } probe syscall.exit_group.return { print(retval) }",
        )
        .unwrap();
        assert!(
            code.contains(".kind = STP_PROBE_SYSCALL, .syscall = 63,"),
            "{code}"
        );
        assert!(
            code.contains(".kind = STP_PROBE_SYSCALL_RETURN, .syscall = 231,"),
            "{code}"
        );
        let wildcard = translate_for(&target, "probe syscall.*.return { print(name) }").unwrap();
        let returns = wildcard.matches("STP_PROBE_SYSCALL_RETURN").count();
        let expected = syscalls(target.build_tree.as_deref().unwrap())
            .unwrap()
            .len();
        assert_eq!(returns, expected, "one return probe per syscall");
        assert!(!wildcard.contains(".kind = STP_PROBE_SYSCALL,"));
    }
}
