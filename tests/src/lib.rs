//! Shared helpers for the end-to-end tests: the built binaries, real kernel
//! modules built with each kernel's Kbuild, and command runs.
#![forbid(unsafe_code)]

pub mod vm;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The kernel the tests build their module for, unless
/// `STAP_PACK_TEST_KERNEL` names another installed header set.
pub const DEFAULT_TEST_KERNEL: &str = "6.1.0-56-cloud-amd64";

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// Path of a workspace binary built with the same profile as the caller:
/// tests run from target/<profile>/deps/, benchmark binaries from target/<profile>/.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("executable path");
    let dir = exe.parent().expect("executable has a directory");
    let profile_dir = if dir.ends_with("deps") {
        dir.parent().expect("target/<profile>")
    } else {
        dir
    };
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (cargo build --workspace --bins, with --release for benchmarks)",
        path.display()
    );
    path
}

pub fn test_kernel() -> String {
    std::env::var("STAP_PACK_TEST_KERNEL").unwrap_or_else(|_| DEFAULT_TEST_KERNEL.to_string())
}

/// Builds `tests/modules/minimal` against a kernel's headers (once per test
/// process run; the result is cached under target/) and returns the `.ko`.
/// Missing headers fail the test under CI and skip it elsewhere (`None`).
pub fn minimal_module(release: &str) -> Option<PathBuf> {
    hand_written_module("minimal", "stap_pack_minimal", release)
}

/// Builds the hand-written module in `tests/modules/<dir>` (its `Kbuild`
/// makes `<module>.ko`) against a kernel's headers, cached under target/,
/// and returns the `.ko`; `None` (skip) without headers, as above.
pub fn hand_written_module(dir: &str, module: &str, release: &str) -> Option<PathBuf> {
    let Some(build_dir) = stap_kbuild::find_build_dir(release) else {
        let message = format!(
            "kernel headers for {release} are not installed (apt-get install linux-headers-{release}, \
             or run tests/run-all.sh, which installs them)"
        );
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("skipping: {message}");
        return None;
    };
    let out = workspace_root()
        .join("target/test-modules")
        .join(release)
        .join(dir);
    let ko = out.join(format!("{module}.ko"));
    // Parallel tests may race to build; a lock file serialises them.
    std::fs::create_dir_all(&out).expect("create module build dir");
    let lock = out.join(".lock");
    let _guard = FileLock::acquire(&lock);
    if !ko.exists() {
        let source = workspace_root().join("tests/modules").join(dir);
        for entry in std::fs::read_dir(&source).expect("read the module's source dir") {
            let path = entry.expect("list the module's source dir").path();
            std::fs::copy(&path, out.join(path.file_name().expect("file name")))
                .expect("copy module source");
        }
        let result = Command::new("make")
            .arg("-s")
            .arg("-C")
            .arg(&build_dir)
            .arg(format!("M={}", out.display()))
            .arg("modules")
            .output()
            .expect("run make");
        assert!(
            result.status.success() && ko.exists(),
            "Kbuild of tests/modules/{dir} for {release} failed:\n{}",
            String::from_utf8_lossy(&result.stderr)
        );
    }
    Some(ko)
}

struct FileLock(PathBuf);

impl FileLock {
    fn acquire(path: &Path) -> FileLock {
        for _ in 0..600 {
            if std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .is_ok()
            {
                return FileLock(path.to_path_buf());
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!(
            "{} held for over a minute; remove it if no test is running",
            path.display()
        );
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Result of a command: status code and its output as text.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn of(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "unexpected exit status\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

pub fn run(program: &Path, args: &[&str], dir: &Path) -> Run {
    Run::of(
        Command::new(program)
            .args(args)
            .current_dir(dir)
            .output()
            .expect("spawn command"),
    )
}

/// Guest shell that runs a probe session around a workload: starts
/// `stap-verify-run` on `bundle` in the background, waits (up to a
/// minute) for the `ready` line the script prints from a begin probe,
/// runs `workload`, stops the session with SIGINT (end probes run) and
/// prints `runner status N`. The runner's stdout goes to `out`, its stderr
/// to `out.err`; `out` is removed first, so that a `ready` left there by an
/// earlier session is not taken for this one's. The runner is a background job of the same shell, so the
/// workload must wait for its own jobs by pid, never with a bare `wait`.
pub fn session_around_workload(bundle: &str, trust: &str, out: &str, workload: &str) -> String {
    format!(
        "rm -f {out}; stap-verify-run --trust {trust} {bundle} >{out} 2>{out}.err & r=$!; \
         n=0; until grep -qsx ready {out} || [ $n -ge 600 ]; do n=$((n+1)); sleep 0.1; done; \
         {workload}; kill -INT $r; wait $r; echo \"runner status $?\""
    )
}

/// `stap-pack keygen` into `dir`: `dir/k.key` and `dir/k.pub`.
pub fn keygen(dir: &Path) {
    run(&bin("stap-pack"), &["keygen", "--out", "k"], dir).expect_code(0);
}

/// `stap-pack build -e script` with `options` (kernels, -g, -D...) into
/// `dir/<name>.stpb`, version 1.0.0, signed with `dir/k.key`.
pub fn build_bundle(dir: &Path, name: &str, script: &str, options: &[&str]) {
    let bundle = format!("{name}.stpb");
    let mut args = vec!["build", "-e", script];
    args.extend_from_slice(options);
    args.extend_from_slice(&["--name", name, "--version", "1.0.0", "--key", "k.key"]);
    args.extend_from_slice(&["-o", &bundle]);
    run(&bin("stap-pack"), &args, dir).expect_code(0);
}

/// A guest with the runner as /usr/bin/stap-verify-run, `dir/k.pub` as
/// /etc/k.pub and each named `dir/<name>.stpb` as /<name>.stpb.
pub fn runner_guest(dir: &Path, bundles: &[&str]) -> vm::Guest {
    let read = |file: &str| {
        let path = dir.join(file);
        std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    };
    let mut guest = vm::Guest::new();
    guest
        .host_binary(&bin("stap-verify-run"), "/usr/bin/stap-verify-run")
        .file("/etc/k.pub", read("k.pub"), 0o644);
    for name in bundles {
        guest.file(
            &format!("/{name}.stpb"),
            read(&format!("{name}.stpb")),
            0o644,
        );
    }
    guest
}
