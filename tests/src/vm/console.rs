//! Both ends of the serial-console protocol: the guest's `/init`, which runs
//! the steps and prints their results, and the host's reader of what it printed.
//!
//! Every result line starts with [`MARKER`] and a step's output travels
//! base64-encoded with its byte count, so console noise (printk lines, the
//! tty's `\r\n`) can neither be mistaken for a result nor silently corrupt one.

pub const MARKER: &str = "@@stap-pack-vm";

/// Guest directory holding one script per step, named by zero-padded index so
/// the shell's glob runs them in order.
pub const STEPS_DIR: &str = "/steps";

pub fn step_file(index: usize) -> String {
    assert!(index < 10_000, "at most 10000 steps per boot");
    format!("{STEPS_DIR}/{index:04}")
}

/// The guest's `/init`, run by busybox sh as PID 1.
pub fn init_script() -> String {
    format!(
        r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
# Only emergencies reach the console from here on, so printk seldom splits a
# result line (and the byte count catches it when it does).
dmesg -n 1
echo "{MARKER} ready"
for step in {STEPS_DIR}/*; do
    [ -f "$step" ] || continue
    index=${{step##*/}}
    echo "{MARKER} begin $index"
    (cd / && sh "$step") </dev/null >/run/step-output 2>&1
    status=$?
    base64 /run/step-output | sed "s/^/{MARKER} out $index /"
    echo "{MARKER} end $index $status $(stat -c %s /run/step-output)"
done
echo "{MARKER} done"
poweroff -f
"#
    )
}

/// What the guest reported so far.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// `/init` started: the kernel booted.
    pub ready: bool,
    /// Results of the finished steps, in step order.
    pub finished: Vec<StepOutcome>,
    /// Index of the step that began and has not ended.
    pub running: Option<usize>,
    /// All steps ran and the guest is powering off.
    pub done: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub struct StepOutcome {
    pub status: i32,
    pub output: Vec<u8>,
}

/// A malformed or out-of-order result, and the step it belongs to if known.
#[derive(Debug)]
pub struct ReadError {
    pub step: Option<usize>,
    pub reason: String,
}

/// Reads the result lines out of the serial console's text.
pub fn read(serial: &str) -> Result<Progress, ReadError> {
    read_results(serial).map_err(|(step, reason)| ReadError { step, reason })
}

fn read_results(serial: &str) -> Result<Progress, (Option<usize>, String)> {
    let mut progress = Progress::default();
    let mut encoded = String::new();
    for line in serial.lines() {
        let Some(at) = line.find(MARKER) else {
            continue;
        };
        let fields: Vec<&str> = line[at + MARKER.len()..].split_whitespace().collect();
        let malformed = || (None, format!("malformed result line {line:?}"));
        let index = |field: Option<&&str>| field.and_then(|f| f.parse().ok()).ok_or_else(malformed);
        match fields.first().copied() {
            Some("ready") => progress.ready = true,
            Some("done") => progress.done = true,
            Some("begin") => {
                let step = index(fields.get(1))?;
                if step != progress.finished.len() {
                    return Err((
                        Some(step),
                        format!("began after {} finished steps", progress.finished.len()),
                    ));
                }
                progress.running = Some(step);
                encoded.clear();
            }
            Some("out") => {
                let step = index(fields.get(1))?;
                if progress.running != Some(step) {
                    return Err((Some(step), "output arrived while it was not running".into()));
                }
                // An empty base64 line (empty output) has no third field.
                encoded.push_str(fields.get(2).copied().unwrap_or(""));
            }
            Some("end") => {
                let step = index(fields.get(1))?;
                let number = |i: usize| fields.get(i).and_then(|f| f.parse::<i64>().ok());
                let (Some(status), Some(size)) = (number(2), number(3)) else {
                    return Err(malformed());
                };
                if progress.running != Some(step) {
                    return Err((Some(step), "ended while it was not running".into()));
                }
                let output = decode_base64(&encoded)
                    .ok_or_else(|| (Some(step), "output is not valid base64".to_string()))?;
                if i64::try_from(output.len()) != Ok(size) {
                    return Err((
                        Some(step),
                        format!(
                            "{} output bytes arrived of {size} (console noise inside a result line?)",
                            output.len()
                        ),
                    ));
                }
                let status = i32::try_from(status)
                    .map_err(|_| (Some(step), format!("exit status {status} out of range")))?;
                progress.finished.push(StepOutcome { status, output });
                progress.running = None;
            }
            _ => return Err(malformed()),
        }
    }
    Ok(progress)
}

/// Standard-alphabet base64 with padding, as busybox `base64` writes it.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_every_padding_length() {
        assert_eq!(decode_base64("").unwrap(), b"");
        assert_eq!(decode_base64("YQ==").unwrap(), b"a");
        assert_eq!(decode_base64("YWI=").unwrap(), b"ab");
        assert_eq!(decode_base64("YWJj").unwrap(), b"abc");
        assert_eq!(decode_base64("AP8K/w==").unwrap(), [0, 255, 10, 255]);
        assert_eq!(decode_base64("YQ=").as_deref(), None);
        assert_eq!(decode_base64("Y!==").as_deref(), None);
        assert_eq!(decode_base64("YQ==YWJj").as_deref(), None);
    }

    #[test]
    fn results_survive_carriage_returns_and_kernel_lines_between_them() {
        let serial = "[    0.000000] Linux version 6.1\r\n\
            @@stap-pack-vm ready\r\n\
            @@stap-pack-vm begin 0000\r\n\
            [    2.5] stap_pack_minimal: loaded\r\n\
            @@stap-pack-vm out 0000 b25lCnR3bwo=\r\n\
            @@stap-pack-vm end 0000 0 8\r\n\
            @@stap-pack-vm begin 0001\r\n\
            @@stap-pack-vm end 0001 1 0\r\n\
            @@stap-pack-vm begin 0002\r\n";
        let progress = read(serial).unwrap();
        assert!(progress.ready && !progress.done);
        assert_eq!(
            progress.finished,
            [
                StepOutcome {
                    status: 0,
                    output: b"one\ntwo\n".to_vec()
                },
                StepOutcome {
                    status: 1,
                    output: vec![]
                },
            ]
        );
        assert_eq!(progress.running, Some(2));
    }

    #[test]
    fn output_split_across_lines_is_joined() {
        let serial = "@@stap-pack-vm begin 0\n\
            @@stap-pack-vm out 0 YWJj\n\
            @@stap-pack-vm out 0 ZGVm\n\
            @@stap-pack-vm end 0 3 6\n@@stap-pack-vm done\n";
        let progress = read(serial).unwrap();
        assert_eq!(progress.finished[0].output, b"abcdef");
        assert_eq!(progress.finished[0].status, 3);
        assert!(progress.done);
    }

    #[test]
    fn a_result_line_cut_by_console_noise_is_an_error_naming_the_step() {
        let serial = "@@stap-pack-vm begin 0\n\
            @@stap-pack-vm out 0 YWJj[ 3.1] oops\n\
            @@stap-pack-vm end 0 0 3\n";
        let error = read(serial).unwrap_err();
        assert_eq!(error.step, Some(0));

        let short = "@@stap-pack-vm begin 0\n@@stap-pack-vm out 0 YWJj\n@@stap-pack-vm end 0 0 4\n";
        let error = read(short).unwrap_err();
        assert_eq!(error.step, Some(0));
        assert!(
            error.reason.contains("3 output bytes arrived of 4"),
            "{}",
            error.reason
        );
    }

    #[test]
    fn results_out_of_order_are_errors() {
        assert!(read("@@stap-pack-vm begin 1\n").is_err());
        assert!(read("@@stap-pack-vm out 0 YWJj\n").is_err());
        assert!(read("@@stap-pack-vm begin 0\n@@stap-pack-vm end 1 0 0\n").is_err());
    }
}
