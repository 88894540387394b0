//! Boots a real kernel image in qemu (TCG: no KVM needed) with an initramfs
//! built here, runs named shell steps in it in order, and returns each step's
//! exit status and output, read back over the serial console.
//!
//! ```no_run
//! use stap_pack_tests::vm::{boot, Guest, VmSpec};
//! let Some(spec) = VmSpec::for_release("6.1.0-56-cloud-amd64") else { return };
//! let mut guest = Guest::new();
//! guest.step("release", "uname -r");
//! let run = boot(&spec, &guest).unwrap();
//! assert_eq!(run.step("release").expect_status(0).output, "6.1.0-56-cloud-amd64\n");
//! ```
//!
//! The guest is busybox-static as `/bin/busybox` with every applet linked in
//! `/bin`, proc, sysfs and devtmpfs mounted, and an empty tmpfs on `/tmp`;
//! `PATH` also has `/usr/bin`, `/sbin` and `/usr/sbin` for added binaries.
//! `/init`, `/steps` and `/bin/busybox` are the harness's own.
//! Each step is its own `sh` script run from `/` with stdin from /dev/null;
//! steps share the file system (and the kernel), not shell variables. A step
//! that fails does not stop the ones after it.
//!
//! `STAP_PACK_VM_CONSOLE=1` copies the serial console to stderr as it comes,
//! to watch a long run.

mod console;
mod cpio;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cpio::Entry;

const BUSYBOX: &str = "/bin/busybox";
const QEMU: &str = "qemu-system-x86_64";
/// Serial lines an error shows from the end of the console.
const TAIL_LINES: usize = 40;
/// How far back an error's console tail may reach to start at the header of
/// a kernel report: a panic's call trace alone can outgrow `TAIL_LINES`.
const REPORT_LINES: usize = 200;
/// Lines that open a kernel report (panic, oops, BUG, warning, lockup).
const REPORT_HEADERS: [&str; 6] = [
    "Kernel panic - not syncing",
    "BUG:",
    "Oops:",
    "general protection fault",
    "WARNING: CPU:",
    "watchdog: ",
];

/// The machine to boot.
#[derive(Clone, Debug)]
pub struct VmSpec {
    /// Boots `/boot/vmlinuz-<release>`.
    pub release: String,
    pub smp: u32,
    pub memory_mib: u32,
    /// `Some(shift)`: the guest's clock counts instructions, 2^shift ns
    /// each (qemu `-icount`), so guest times measure work done, not the
    /// host's load. Slower, and the CPUs take turns on one host thread.
    pub icount_shift: Option<u8>,
    /// Added to the kernel command line (`nokaslr`, say).
    pub kernel_args: Vec<String>,
    /// Wall-clock limit for the whole run, boot to power-off.
    pub timeout: Duration,
}

impl VmSpec {
    /// One CPU, 512 MiB and a 3-minute limit (TCG boots in seconds, but
    /// parallel tests share two cores). When
    /// the image, qemu or busybox is missing this fails the test under CI and
    /// elsewhere prints why and returns `None`, to skip.
    pub fn for_release(release: &str) -> Option<VmSpec> {
        let kernel_image = kernel_image(release);
        let missing = if std::fs::File::open(&kernel_image).is_err() {
            Some(format!(
                "kernel image {} is missing or unreadable (apt-get install linux-image-{release}, \
                 or run packaging/install-deps.sh)",
                kernel_image.display()
            ))
        } else if find_in_path(QEMU).is_none() {
            Some(format!(
                "{QEMU} is not installed (apt-get install qemu-system-x86)"
            ))
        } else if !Path::new(BUSYBOX).exists() {
            Some(format!(
                "{BUSYBOX} is missing (apt-get install busybox-static)"
            ))
        } else {
            None
        };
        if let Some(message) = missing {
            assert!(std::env::var_os("CI").is_none(), "{message}");
            eprintln!("skipping: {message}");
            return None;
        }
        Some(VmSpec {
            release: release.to_string(),
            smp: 1,
            memory_mib: 512,
            icount_shift: None,
            kernel_args: Vec::new(),
            timeout: Duration::from_secs(180),
        })
    }
}

/// What goes into the guest: files and the steps `/init` runs.
pub struct Guest {
    entries: BTreeMap<String, Entry>,
    steps: Vec<(String, String)>,
}

impl Default for Guest {
    fn default() -> Guest {
        Guest::new()
    }
}

impl Guest {
    /// The base file system: the mount points, `/dev/console` for `/init`'s
    /// output before devtmpfs is mounted, and a root user for programs that
    /// look their invoker up.
    pub fn new() -> Guest {
        let mut guest = Guest {
            entries: BTreeMap::new(),
            steps: Vec::new(),
        };
        for dir in ["/bin", "/dev", "/proc", "/sys", "/tmp", "/run", "/root"] {
            guest.directory(dir);
        }
        guest.entries.insert(
            "/dev/console".to_string(),
            Entry::CharDevice { major: 5, minor: 1 },
        );
        guest.file(
            "/etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\n".to_vec(),
            0o644,
        );
        guest.file("/etc/group", b"root:x:0:\n".to_vec(), 0o644);
        guest
    }

    /// Puts a file at an absolute guest path, creating its directories.
    pub fn file(&mut self, guest_path: &str, bytes: Vec<u8>, mode: u32) -> &mut Guest {
        let path = checked_path(guest_path);
        match path.rsplit_once('/') {
            Some(("", _)) | None => {}
            Some((parent, _)) => self.directory(parent),
        }
        let replaced = self.entries.insert(path, Entry::File { bytes, mode });
        assert!(
            replaced != Some(Entry::Directory),
            "{guest_path} is a directory, not a file"
        );
        self
    }

    /// Copies a host executable to `guest_path`, with the shared libraries
    /// and dynamic loader it needs at the paths the host resolves them to.
    pub fn host_binary(&mut self, host_path: &Path, guest_path: &str) -> &mut Guest {
        let bytes = std::fs::read(host_path)
            .unwrap_or_else(|e| panic!("read {}: {e}", host_path.display()));
        self.file(guest_path, bytes, 0o755);
        for library in shared_libraries(host_path) {
            let bytes = std::fs::read(&library)
                .unwrap_or_else(|e| panic!("read {}: {e}", library.display()));
            let guest_library = library.to_str().expect("library paths are UTF-8");
            self.file(guest_library, bytes, 0o755);
        }
        self
    }

    /// Adds a step: `shell` runs as a script after the steps added before it.
    pub fn step(&mut self, name: &str, shell: &str) -> &mut Guest {
        assert!(
            self.steps.iter().all(|(existing, _)| existing != name),
            "step {name:?} added twice"
        );
        self.steps.push((name.to_string(), shell.to_string()));
        self
    }

    /// Adds a command whose exit status, stdout and stderr are kept apart
    /// (steps `NAME`, `NAME stdout`, `NAME stderr`), for [`VmRun::command`].
    pub fn command(&mut self, name: &str, command: &str) -> &mut Guest {
        let file: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let (out, err) = (format!("/tmp/{file}.out"), format!("/tmp/{file}.err"));
        // A subshell, so that `command` may be a list of its own.
        self.step(name, &format!("( {command}\n) >{out} 2>{err}; echo $?"))
            .step(&format!("{name} stdout"), &format!("cat {out}"))
            .step(&format!("{name} stderr"), &format!("cat {err}"))
    }

    fn directory(&mut self, guest_path: &str) {
        let path = checked_path(guest_path);
        let mut prefix = String::new();
        for component in path.split('/').skip(1) {
            prefix.push('/');
            prefix.push_str(component);
            let existing = self
                .entries
                .entry(prefix.clone())
                .or_insert(Entry::Directory);
            assert!(
                *existing == Entry::Directory,
                "{prefix} is a file, not a directory"
            );
        }
    }

    /// The initramfs: these files plus busybox, `/init` and the step scripts.
    fn initramfs(&self) -> Vec<u8> {
        let mut image = Guest {
            entries: self.entries.clone(),
            steps: Vec::new(),
        };
        image.host_binary(Path::new(BUSYBOX), BUSYBOX);
        image.file("/init", console::init_script().into_bytes(), 0o755);
        image.directory(console::STEPS_DIR);
        for (index, (_, shell)) in self.steps.iter().enumerate() {
            image.file(
                &console::step_file(index),
                shell.clone().into_bytes(),
                0o644,
            );
        }
        cpio::archive(&image.entries)
    }
}

fn checked_path(guest_path: &str) -> String {
    assert!(
        guest_path.starts_with('/')
            && !guest_path.ends_with('/')
            && guest_path
                .split('/')
                .skip(1)
                .all(|c| !c.is_empty() && c != "." && c != ".."),
        "guest path {guest_path:?} must be absolute and normalised"
    );
    guest_path.to_string()
}

/// The libraries `ldd` resolves for an executable: none for a static one.
fn shared_libraries(executable: &Path) -> Vec<PathBuf> {
    let output = Command::new("ldd")
        .arg(executable)
        .output()
        .expect("run ldd (Debian's libc-bin)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        // ldd exits 1 for static executables, saying so on either stream.
        assert!(
            format!("{stdout}{stderr}").contains("not a dynamic executable"),
            "ldd {} failed: {stderr}",
            executable.display()
        );
        return Vec::new();
    }
    let mut libraries = Vec::new();
    for line in stdout.lines() {
        assert!(
            !line.contains("not found"),
            "{} needs a library the host lacks: {line}",
            executable.display()
        );
        // "libc.so.6 => /lib/.../libc.so.6 (0x...)" or, for the loader,
        // "/lib64/ld-linux-x86-64.so.2 (0x...)"; the vDSO has no path.
        let resolved = line.split_once("=>").map_or(line, |(_, path)| path);
        if let Some(path) = resolved.split_whitespace().next() {
            if path.starts_with('/') {
                libraries.push(PathBuf::from(path));
            }
        }
    }
    libraries
}

fn kernel_image(release: &str) -> PathBuf {
    PathBuf::from(format!("/boot/vmlinuz-{release}"))
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// What a boot produced.
#[derive(Debug)]
pub struct VmRun {
    /// Everything the serial console printed, `\r\n` turned into `\n`.
    pub serial: String,
    pub steps: Vec<StepResult>,
    /// From starting qemu to `/init` running.
    pub boot_time: Duration,
    /// From starting qemu to its exit.
    pub total_time: Duration,
}

impl VmRun {
    /// The result of the step of that name.
    #[track_caller]
    pub fn step(&self, name: &str) -> &StepResult {
        self.steps
            .iter()
            .find(|step| step.name == name)
            .unwrap_or_else(|| panic!("no step named {name:?}"))
    }

    /// The outcome of a command added with [`Guest::command`].
    #[track_caller]
    pub fn command(&self, name: &str) -> CommandOutcome<'_> {
        let status = self.step(name).expect_status(0).output.trim();
        CommandOutcome {
            status: status
                .parse()
                .unwrap_or_else(|_| panic!("{name}: the status line is {status:?}")),
            stdout: &self.step(&format!("{name} stdout")).output,
            stderr: &self.step(&format!("{name} stderr")).output,
        }
    }
}

/// A command's exit status, stdout and stderr in the guest.
#[derive(Debug)]
pub struct CommandOutcome<'a> {
    pub status: i32,
    pub stdout: &'a str,
    pub stderr: &'a str,
}

#[derive(Debug)]
pub struct StepResult {
    pub name: String,
    pub status: i32,
    /// stdout and stderr, interleaved as written.
    pub output: String,
}

impl StepResult {
    /// Asserts the exit status, showing the step's output when it differs.
    #[track_caller]
    pub fn expect_status(&self, status: i32) -> &StepResult {
        assert_eq!(
            self.status, status,
            "step {:?} exited {} (expected {status}); output:\n{}",
            self.name, self.status, self.output
        );
        self
    }
}

pub enum VmError {
    /// The initramfs could not be written or qemu not started.
    Setup(String),
    /// The run outlived `VmSpec::timeout` and qemu was killed.
    Timeout {
        after: Duration,
        running_step: Option<String>,
        console_tail: String,
    },
    /// qemu exited (a kernel panic, say) before `/init` finished: before
    /// `missing_step` reported its result, if any step was left.
    Stopped {
        missing_step: Option<String>,
        console_tail: String,
        qemu_stderr: String,
    },
    /// A result on the console was malformed.
    Corrupt {
        reason: String,
        console_tail: String,
    },
}

impl std::fmt::Display for VmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VmError::Setup(reason) => write!(f, "VM setup failed: {reason}"),
            VmError::Timeout {
                after,
                running_step,
                console_tail,
            } => {
                write!(f, "VM timed out after {after:.1?}")?;
                match running_step {
                    Some(step) => write!(f, " while running step {step:?}")?,
                    None => write!(f, " with no step running")?,
                }
                write!(f, "; last serial lines:\n{console_tail}")
            }
            VmError::Stopped {
                missing_step,
                console_tail,
                qemu_stderr,
            } => {
                match missing_step {
                    Some(step) => write!(f, "VM stopped before step {step:?} reported its result")?,
                    None => write!(f, "VM stopped before /init finished")?,
                }
                write!(
                    f,
                    "; last serial lines:\n{console_tail}\nqemu stderr:\n{qemu_stderr}"
                )
            }
            VmError::Corrupt {
                reason,
                console_tail,
            } => write!(
                f,
                "unreadable result on the VM console: {reason}; last serial lines:\n{console_tail}"
            ),
        }
    }
}

// `Result::unwrap` and `expect` print Debug: make that the readable message.
impl std::fmt::Debug for VmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for VmError {}

/// Boots `spec` with `guest`'s files and runs its steps, once each, in order.
pub fn boot(spec: &VmSpec, guest: &Guest) -> Result<VmRun, VmError> {
    let work = tempfile::tempdir().map_err(|e| VmError::Setup(format!("temp dir: {e}")))?;
    let initramfs = work.path().join("initramfs.cpio");
    std::fs::write(&initramfs, guest.initramfs())
        .map_err(|e| VmError::Setup(format!("write {}: {e}", initramfs.display())))?;
    let stderr_path = work.path().join("qemu.stderr");
    let stderr_file = std::fs::File::create(&stderr_path)
        .map_err(|e| VmError::Setup(format!("create {}: {e}", stderr_path.display())))?;

    let started = Instant::now();
    let mut qemu = Command::new(QEMU)
        .args(["-nodefaults", "-no-user-config", "-no-reboot"])
        // TCG, not KVM: KVM is absent on CI hosts and hangs on nested ones,
        // and TCG boots these kernels in seconds.
        .args(["-accel", "tcg", "-cpu", "max"])
        .args(spec.icount_shift.iter().flat_map(|shift| {
            // sleep=off: an idle guest's clock jumps to the next timer
            // instead of waiting in real time.
            ["-icount".to_string(), format!("shift={shift},sleep=off")]
        }))
        .args(["-m", &spec.memory_mib.to_string()])
        .args(["-smp", &spec.smp.to_string()])
        .arg("-kernel")
        .arg(kernel_image(&spec.release))
        .arg("-initrd")
        .arg(&initramfs)
        // panic=-1 reboots at once on a panic, and -no-reboot turns that into
        // qemu's exit.
        .arg("-append")
        .arg(
            ["console=ttyS0", "panic=-1", "quiet"]
                .into_iter()
                .chain(spec.kernel_args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" "),
        )
        .args(["-display", "none", "-monitor", "none", "-serial", "stdio"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr_file)
        .spawn()
        .map_err(|e| VmError::Setup(format!("start {QEMU}: {e}")))?;

    // A reader thread forwards the console so the wait below can time out.
    let mut stdout = qemu.stdout.take().expect("piped stdout");
    let (sender, chunks) = mpsc::channel::<Vec<u8>>();
    // STAP_PACK_VM_CONSOLE=1 also copies it to stderr (see the module docs).
    let echo = std::env::var_os("STAP_PACK_VM_CONSOLE").is_some_and(|value| value == "1");
    let reader = std::thread::spawn(move || {
        let mut buffer = [0u8; 8192];
        while let Ok(n @ 1..) = stdout.read(&mut buffer) {
            if echo {
                let _ = std::io::stderr().write_all(&buffer[..n]);
            }
            if sender.send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });

    let ready_line = format!("{} ready", console::MARKER);
    let deadline = started + spec.timeout;
    let mut raw = Vec::new();
    let mut boot_time = None;
    let timed_out = loop {
        match chunks.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(chunk) => {
                // Only the new bytes (and a line's worth before) can complete it.
                let from = raw.len().saturating_sub(ready_line.len());
                raw.extend_from_slice(&chunk);
                if boot_time.is_none() && contains(&raw[from..], ready_line.as_bytes()) {
                    boot_time = Some(started.elapsed());
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break false,
            Err(mpsc::RecvTimeoutError::Timeout) => break true,
        }
    };
    if timed_out {
        let _ = qemu.kill();
    }
    let _ = qemu.wait();
    let total_time = started.elapsed();
    let _ = reader.join();
    // Whatever arrived between the timeout and the kill.
    raw.extend(chunks.try_iter().flatten());

    let serial = String::from_utf8_lossy(&raw).replace("\r\n", "\n");
    let console_tail = tail(&serial);
    let step_name = |index: usize| guest.steps.get(index).map(|(name, _)| name.clone());
    let progress = console::read(&serial).map_err(|error| VmError::Corrupt {
        reason: match error.step.and_then(step_name) {
            Some(step) => format!("step {step:?}: {}", error.reason),
            None => error.reason,
        },
        console_tail: console_tail.clone(),
    })?;
    if timed_out {
        return Err(VmError::Timeout {
            after: total_time,
            running_step: progress.running.and_then(step_name),
            console_tail,
        });
    }
    if !progress.done {
        return Err(VmError::Stopped {
            missing_step: step_name(progress.finished.len()),
            console_tail,
            qemu_stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
        });
    }
    let steps = guest
        .steps
        .iter()
        .zip(progress.finished)
        .map(|((name, _), outcome)| StepResult {
            name: name.clone(),
            status: outcome.status,
            output: String::from_utf8_lossy(&outcome.output).into_owned(),
        })
        .collect();
    Ok(VmRun {
        serial,
        steps,
        boot_time: boot_time.unwrap_or(total_time),
        total_time,
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// The last `TAIL_LINES` of the console, reaching further back (up to
/// `REPORT_LINES`) to begin at the first header of a kernel report.
fn tail(serial: &str) -> String {
    let lines: Vec<&str> = serial.lines().collect();
    let last = lines.len().saturating_sub(TAIL_LINES);
    let earliest = lines.len().saturating_sub(REPORT_LINES);
    let report = (earliest..last).find(|&index| {
        REPORT_HEADERS
            .iter()
            .any(|header| lines[index].contains(header))
    });
    lines[report.unwrap_or(last)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(from: usize, to: usize) -> String {
        (from..to).map(|n| format!("line {n}\n")).collect()
    }

    #[test]
    fn tail_is_the_last_lines_without_a_report() {
        let tail = tail(&numbered(0, 100));
        assert_eq!(tail.lines().count(), TAIL_LINES);
        assert!(tail.starts_with("line 60\n"), "{tail}");
    }

    #[test]
    fn tail_reaches_back_to_a_long_panic_report() {
        let serial = format!(
            "{}Kernel panic - not syncing: sysrq triggered crash\n{}",
            numbered(0, 100),
            numbered(100, 170)
        );
        let tail = tail(&serial);
        assert!(tail.starts_with("Kernel panic - not syncing"), "{tail}");
        assert!(tail.ends_with("line 169"), "{tail}");
    }

    #[test]
    fn tail_does_not_reach_back_further_than_report_lines() {
        let serial = format!(
            "Kernel panic - not syncing: early\n{}",
            numbered(0, REPORT_LINES + 10)
        );
        let tail = tail(&serial);
        assert_eq!(tail.lines().count(), TAIL_LINES);
    }
}
