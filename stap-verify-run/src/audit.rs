//! Every decision, allowed or denied, goes to syslog (`/dev/log`, facility
//! authpriv) and to stderr, so an administrator sees who ran what.

use std::os::unix::net::UnixDatagram;

const SYSLOG_SOCKET: &str = "/dev/log";
/// authpriv (10) * 8 + severity: notice (5) for allowed, warning (4) for denied.
const PRIORITY_ALLOWED: u8 = 85;
const PRIORITY_DENIED: u8 = 84;

/// Logs an allowed run (stderr unless `quiet`: the dry-run report and
/// scripted callers have it elsewhere).
pub fn allowed(subject: &str, why: &str, quiet: bool) {
    let line = format!("ALLOWED: {subject}; {why}");
    if !quiet {
        eprintln!("stap-verify-run: {line}");
    }
    syslog(PRIORITY_ALLOWED, &line);
}

/// Logs a refusal: the subject, then each reason on its own line (a reason
/// may span lines; they are indented under its bullet).
pub fn denied(subject: &str, reasons: &[String]) {
    eprintln!("DENIED: {subject}");
    for reason in reasons {
        let mut lines = reason.lines();
        eprintln!("  - {}", lines.next().unwrap_or_default());
        for line in lines {
            eprintln!("    {line}");
        }
    }
    let flat: Vec<String> = reasons
        .iter()
        .map(|r| r.lines().map(str::trim).collect::<Vec<_>>().join(" "))
        .collect();
    syslog(
        PRIORITY_DENIED,
        &format!("DENIED: {subject}; {}", flat.join("; ")),
    );
}

/// Best effort: a host without a syslog daemon has no `/dev/log`, and the
/// decision is on stderr anyway.
fn syslog(priority: u8, text: &str) {
    let message = format!(
        "<{priority}>stap-verify-run[{}]: {}",
        std::process::id(),
        text.replace(['\n', '\r'], " ")
    );
    if let Ok(socket) = UnixDatagram::unbound() {
        let _ = socket.send_to(message.as_bytes(), SYSLOG_SOCKET);
    }
}
