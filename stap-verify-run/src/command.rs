//! `-c CMD`: the command runs as the caller, is held until the script has
//! started (so begin probes see it, and it misses nothing), and its exit
//! ends the script.
//!
//! Holding it needs no code between fork and exec: the child is a shell
//! that stops itself (`kill -STOP $$`) and, once continued, execs the
//! command. The runner waits for the stop, loads and starts the module
//! with target() set to the child's pid, then sends SIGCONT.

use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::privilege::Privilege;

const SHELL: &str = "/bin/sh";
/// `$1` is the user's command, run by a second shell as SystemTap's `-c` does.
const HOLD_THEN_EXEC: &str = "kill -STOP $$ && exec /bin/sh -c \"$1\"";

pub struct HeldCommand {
    child: Child,
    released: bool,
}

impl HeldCommand {
    /// Starts the command as the caller and waits until it is held.
    pub fn spawn(command: &str, privilege: &Privilege) -> Result<HeldCommand, String> {
        // Spawned while root so that the child's setgid/setuid set all of
        // its real, effective and saved ids to the caller's.
        let child = privilege
            .as_root(|| {
                Command::new(SHELL)
                    .args(["-c", HOLD_THEN_EXEC, "stap-verify-run", command])
                    .env_clear()
                    .envs(privilege.command_env.iter().cloned())
                    .gid(privilege.gid.as_raw())
                    .uid(privilege.uid.as_raw())
                    .spawn()
            })
            .map_err(|e| format!("cannot start the -c command with {SHELL}: {e}"))?;
        let mut held = HeldCommand {
            child,
            released: false,
        };
        let pid = held.pid();
        loop {
            match waitpid(pid, Some(WaitPidFlag::WUNTRACED)) {
                Ok(WaitStatus::Stopped(..)) => return Ok(held),
                Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) => {
                    held.released = true;
                    return Err("the -c command's shell ended before the script started".into());
                }
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => {
                    held.kill();
                    return Err(format!("cannot wait for the -c command: {e}"));
                }
            }
        }
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Lets the command run (after the module started).
    pub fn release(&mut self) -> Result<(), String> {
        self.released = true;
        kill(self.pid(), Signal::SIGCONT)
            .map_err(|e| format!("cannot continue the -c command: {e}"))
    }

    /// Whether the command has ended (reaps it).
    pub fn ended(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Ends a command that must not run (the load failed) or outlives the
    /// run (forced stop).
    pub fn kill(&mut self) {
        if !self.ended() {
            let _ = self.child.kill();
            if !self.released {
                let _ = kill(self.pid(), Signal::SIGCONT);
            }
            let _ = self.child.wait();
        }
    }
}
