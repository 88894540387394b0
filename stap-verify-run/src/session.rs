//! A real run: load the verified module bytes, start the session, relay the
//! module's messages, stop it, unload it. The protocol is described in
//! docs/transport.md; the message format is in `wire`.
//!
//! One thread: `poll` waits on the control file and a signalfd, so an
//! interrupt is just another event. The module is unloaded on every path
//! once it was loaded.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{BufWriter, ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::kmod::{delete_module, init_module, DeleteModuleFlags};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::cli::Options;
use crate::exit::Status;
use crate::run::Approved;
use crate::wire::{self, EndReason, Message, Stopped};

/// Signals that stop the session; the second one forces the unload.
const STOP_SIGNALS: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];
/// How long to keep retrying an unload the kernel reports as busy.
const UNLOAD_PATIENCE: Duration = Duration::from_secs(5);

pub fn run(approved: &Approved, options: &Options) -> Status {
    match run_session(approved, options) {
        Ok(status) => status,
        Err(message) => {
            eprintln!("stap-verify-run: {message}");
            Status::RunFailed
        }
    }
}

fn run_session(approved: &Approved, options: &Options) -> Result<Status, String> {
    let manifest = &approved.verified.manifest;
    let kernel = &manifest.kernels[approved.allowed.kernel];
    let name = kernel.module_name.as_str();
    if Path::new("/sys/module").join(name).exists() {
        return Err(format!(
            "module {name} is already loaded: another run of this bundle is active, or an \
             earlier run left it behind (if no run is active, unload it with `rmmod {name}`)"
        ));
    }
    let limit = time_limit(options.timeout, approved.allowed.max_duration);
    let mut output: Box<dyn Write> = match &options.output {
        Some(path) => {
            Box::new(BufWriter::new(open_as_real_user(path).map_err(|e| {
                format!("cannot open output file {}: {e}", path.display())
            })?))
        }
        None => Box::new(std::io::stdout().lock()),
    };
    // Blocked before loading: an interrupt from here on waits in the signalfd.
    let signals = stop_signals()?;

    let c_name = CString::new(name).map_err(|_| format!("module name {name:?} holds a NUL"))?;
    init_module(approved.verified.module(kernel), &approved.module_params)
        .map_err(|errno| explain_load_failure(name, errno))?;
    let relayed = relay(name, &signals, output.as_mut(), limit);
    let unloaded = unload(&c_name);
    let outcome = relayed?;
    unloaded?;

    if outcome.forced {
        eprintln!(
            "stap-verify-run: forced stop: end probes did not run and output may be incomplete"
        );
        return Ok(Status::Forced);
    }
    let stopped = outcome.stopped;
    if stopped.messages_lost > 0 || stopped.probes_skipped > 0 {
        eprintln!(
            "stap-verify-run: WARNING: {} messages lost (a CPU's output buffer was full), \
             {} probe hits skipped (a handler was already running on that CPU, \
             or the kernel missed a kprobe)",
            stopped.messages_lost, stopped.probes_skipped
        );
    }
    if let Some(error) = outcome.output_error {
        return Err(format!("cannot write the output: {error}"));
    }
    Ok(match stopped.reason {
        EndReason::Error => Status::ScriptError,
        EndReason::Stop | EndReason::Exit => Status::Allowed,
    })
}

/// The shorter of `--timeout` and the policy's limit, with where it came from.
fn time_limit(
    timeout: Option<Duration>,
    policy: Option<Duration>,
) -> Option<(Duration, &'static str)> {
    match (timeout, policy) {
        (Some(t), Some(p)) if p < t => Some((p, "the policy's max_duration")),
        (Some(t), _) => Some((t, "--timeout")),
        (None, Some(p)) => Some((p, "the policy's max_duration")),
        (None, None) => None,
    }
}

/// Opens (creates, truncates) the output file with the real user's ids, as
/// the user could without the runner: the runner may be setuid root.
fn open_as_real_user(path: &Path) -> std::io::Result<File> {
    use nix::unistd::{getegid, geteuid, getgid, getuid, setegid, seteuid};
    let open = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o666)
            .custom_flags(nix::fcntl::OFlag::O_NOCTTY.bits())
            .open(path)
    };
    let (euid, egid) = (geteuid(), getegid());
    if euid == getuid() && egid == getgid() {
        return open();
    }
    setegid(getgid())?;
    let file = seteuid(getuid())
        .map_err(std::io::Error::from)
        .and_then(|()| open());
    // Back to the original ids whatever happened: without them the run
    // cannot go on, and the error says why.
    seteuid(euid)?;
    setegid(egid)?;
    file
}

fn stop_signals() -> Result<SignalFd, String> {
    let mut mask = SigSet::empty();
    for signal in STOP_SIGNALS {
        mask.add(signal);
    }
    mask.thread_block()
        .and_then(|()| SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC))
        .map_err(|e| format!("cannot set up signal handling: {e}"))
}

fn explain_load_failure(name: &str, errno: Errno) -> String {
    let why = match errno {
        Errno::EEXIST => "a module of that name is already loaded",
        Errno::ENOEXEC => "the kernel rejected the module's format (see `dmesg`)",
        Errno::EKEYREJECTED => {
            "the kernel accepts only modules signed by a key it trusts (module.sig_enforce)"
        }
        Errno::EPERM => {
            "not permitted: module loading may be disabled (kernel.modules_disabled) or locked \
             down, or the runner lacks CAP_SYS_MODULE"
        }
        Errno::ENOENT => "the module needs a symbol this kernel does not export (see `dmesg`)",
        Errno::EINVAL => "the kernel rejected the module or its parameters (see `dmesg`)",
        _ => "see `dmesg`",
    };
    format!("cannot load module {name}: {errno}: {why}")
}

fn unload(name: &CStr) -> Result<(), String> {
    let give_up = Instant::now() + UNLOAD_PATIENCE;
    loop {
        match delete_module(name, DeleteModuleFlags::O_NONBLOCK) {
            Ok(()) => return Ok(()),
            Err(Errno::EAGAIN | Errno::EBUSY) if Instant::now() < give_up => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => {
                let name = name.to_string_lossy();
                return Err(format!(
                    "cannot unload module {name}: {e}; unload it with `rmmod {name}`"
                ));
            }
        }
    }
}

struct Outcome {
    /// The module's final counts (a zeroed `Stop` when forced).
    stopped: Stopped,
    forced: bool,
    /// Writing the output failed; the session was stopped.
    output_error: Option<std::io::Error>,
}

/// The open control file and what has happened on it so far.
struct Relay<'a> {
    ctl: File,
    output: &'a mut dyn Write,
    output_error: Option<std::io::Error>,
    stop_sent: bool,
    stopped: Option<Stopped>,
}

fn relay(
    name: &str,
    signals: &SignalFd,
    output: &mut dyn Write,
    limit: Option<(Duration, &'static str)>,
) -> Result<Outcome, String> {
    let path = PathBuf::from(format!("/proc/stap_pack_{name}/ctl"));
    let ctl = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags((nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_NOFOLLOW).bits())
        .open(&path)
        .map_err(|e| {
            format!(
                "cannot open the module's control file {}: {e}",
                path.display()
            )
        })?;
    let mut relay = Relay {
        ctl,
        output,
        output_error: None,
        stop_sent: false,
        stopped: None,
    };
    // Begin probes run inside this write.
    relay
        .ctl
        .write_all(b"start\n")
        .map_err(|e| format!("the module refused to start: {e}"))?;
    let deadline = limit.map(|(d, _)| Instant::now() + d);
    let mut interrupts = 0;
    let mut buffer = vec![0u8; wire::READ_BUFFER_BYTES];
    loop {
        let timeout = match deadline {
            Some(at) if !relay.stop_sent => {
                PollTimeout::try_from(at.saturating_duration_since(Instant::now()))
                    .unwrap_or(PollTimeout::MAX)
            }
            _ => PollTimeout::NONE,
        };
        let (ctl_ready, signal_ready) = {
            let mut fds = [
                PollFd::new(relay.ctl.as_fd(), PollFlags::POLLIN),
                PollFd::new(signals.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(format!("poll failed: {e}")),
            }
            (fds[0].any().unwrap_or(false), fds[1].any().unwrap_or(false))
        };
        if let Some((limit, source)) = limit {
            if !relay.stop_sent && deadline.is_some_and(|at| Instant::now() >= at) {
                eprintln!(
                    "stap-verify-run: stopping: the time limit of {limit:?} ({source}) has passed"
                );
                relay.send_stop()?;
            }
        }
        if signal_ready {
            while let Some(info) = signals
                .read_signal()
                .map_err(|e| format!("cannot read signals: {e}"))?
            {
                interrupts += 1;
                let signal = Signal::try_from(info.ssi_signo as i32)
                    .map_or_else(|_| info.ssi_signo.to_string(), |s| s.to_string());
                if interrupts > 1 {
                    return Ok(Outcome {
                        stopped: relay.stopped.unwrap_or(Stopped {
                            messages_lost: 0,
                            probes_skipped: 0,
                            errors: 0,
                            reason: EndReason::Stop,
                        }),
                        forced: true,
                        output_error: relay.output_error,
                    });
                }
                eprintln!(
                    "stap-verify-run: stopping on {signal}; interrupt again to force the unload"
                );
                relay.send_stop()?;
            }
        }
        if ctl_ready && !relay.read_available(&mut buffer)? {
            break;
        }
    }
    let stopped = relay
        .stopped
        .ok_or("the module ended the session without its final STOPPED message")?;
    Ok(Outcome {
        stopped,
        forced: false,
        output_error: relay.output_error,
    })
}

impl Relay<'_> {
    fn send_stop(&mut self) -> Result<(), String> {
        if !self.stop_sent {
            self.stop_sent = true;
            // End probes run inside this write.
            self.ctl
                .write_all(b"stop\n")
                .map_err(|e| format!("cannot stop the module: {e}"))?;
        }
        Ok(())
    }

    /// Relays every message that can be read now; false at end of file.
    fn read_available(&mut self, buffer: &mut [u8]) -> Result<bool, String> {
        loop {
            match self.ctl.read(buffer) {
                Ok(0) => return Ok(false),
                Ok(n) => self.dispatch(&buffer[..n])?,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("cannot read the module's control file: {e}")),
            }
        }
    }

    fn dispatch(&mut self, bytes: &[u8]) -> Result<(), String> {
        let messages =
            wire::parse(bytes).map_err(|e| format!("malformed message from the module: {e}"))?;
        for message in messages {
            match message {
                Message::Output(text) => self.write_output(text)?,
                Message::Warning(text) | Message::Error(text) => {
                    eprintln!("{}", String::from_utf8_lossy(text));
                }
                Message::ExitRequest(_) => self.send_stop()?,
                Message::Started { version, .. } if version != wire::VERSION => {
                    return Err(format!(
                        "the module speaks transport version {version}, this runner {}",
                        wire::VERSION
                    ));
                }
                Message::Started { .. } => {}
                Message::Stopped(stopped) => self.stopped = Some(stopped),
            }
        }
        if self.output_error.is_none() {
            if let Err(e) = self.output.flush() {
                self.output_failed(e)?;
            }
        }
        Ok(())
    }

    fn write_output(&mut self, text: &[u8]) -> Result<(), String> {
        if self.output_error.is_none() {
            if let Err(e) = self.output.write_all(text) {
                self.output_failed(e)?;
            }
        }
        Ok(())
    }

    /// Output cannot be written (full disk, closed pipe): stop the session
    /// and drain it without writing.
    fn output_failed(&mut self, error: std::io::Error) -> Result<(), String> {
        self.output_error = Some(error);
        self.send_stop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shorter_limit_wins_and_is_named() {
        let s = Duration::from_secs;
        assert_eq!(time_limit(None, None), None);
        assert_eq!(time_limit(Some(s(5)), None), Some((s(5), "--timeout")));
        assert_eq!(
            time_limit(Some(s(5)), Some(s(3))),
            Some((s(3), "the policy's max_duration"))
        );
        assert_eq!(
            time_limit(Some(s(3)), Some(s(5))),
            Some((s(3), "--timeout"))
        );
        assert_eq!(
            time_limit(None, Some(s(5))),
            Some((s(5), "the policy's max_duration"))
        );
    }
}
