//! The messages a module's control file returns: the Rust mirror of
//! `runtime-c/stp_wire.h` (docs/transport.md). A read returns whole
//! messages, each a 24-byte header and its payload, in the host's byte
//! order.

pub const MAGIC: u32 = 0x4d50_5453;
pub const VERSION: u32 = 1;
pub const HEADER_BYTES: usize = 24;
pub const MAX_PAYLOAD: usize = 65536;
/// A read must have room for the largest message; a few fit in this.
pub const READ_BUFFER_BYTES: usize = 4 * (HEADER_BYTES + MAX_PAYLOAD);

const OUTPUT: u16 = 1;
const WARNING: u16 = 2;
const ERROR: u16 = 3;
const EXIT_REQUEST: u16 = 4;
const STARTED: u16 = 5;
const STOPPED: u16 = 6;

/// Why a session ended (`enum stp_end_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The runner sent `stop`.
    Stop,
    /// The script called exit().
    Exit,
    /// Errors beyond MAXERRORS.
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    pub messages_lost: u64,
    pub probes_skipped: u64,
    pub errors: u64,
    pub reason: EndReason,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Message<'a> {
    Output(&'a [u8]),
    Warning(&'a [u8]),
    Error(&'a [u8]),
    ExitRequest(EndReason),
    Started { version: u32, probe_count: u32 },
    Stopped(Stopped),
}

/// Splits what one read returned into messages.
pub fn parse(mut bytes: &[u8]) -> Result<Vec<Message<'_>>, String> {
    let mut messages = Vec::new();
    while !bytes.is_empty() {
        let header = bytes
            .get(..HEADER_BYTES)
            .ok_or_else(|| format!("{} bytes left, less than a header", bytes.len()))?;
        let magic = u32_at(header, 0);
        if magic != MAGIC {
            return Err(format!("bad magic {magic:#010x}"));
        }
        let kind = u16::from_ne_bytes([header[4], header[5]]);
        let length = u32_at(header, 8) as usize;
        let payload = bytes
            .get(HEADER_BYTES..HEADER_BYTES + length)
            .ok_or_else(|| format!("message of type {kind} cut short"))?;
        messages.push(message(kind, payload)?);
        bytes = &bytes[HEADER_BYTES + length..];
    }
    Ok(messages)
}

fn message(kind: u16, payload: &[u8]) -> Result<Message<'_>, String> {
    let sized = |n: usize| {
        if payload.len() == n {
            Ok(payload)
        } else {
            Err(format!(
                "message of type {kind} has {} payload bytes, not {n}",
                payload.len()
            ))
        }
    };
    Ok(match kind {
        OUTPUT => Message::Output(payload),
        WARNING => Message::Warning(payload),
        ERROR => Message::Error(payload),
        EXIT_REQUEST => Message::ExitRequest(end_reason(u32_at(sized(4)?, 0))?),
        STARTED => {
            let p = sized(8)?;
            Message::Started {
                version: u32_at(p, 0),
                probe_count: u32_at(p, 4),
            }
        }
        STOPPED => {
            let p = sized(32)?;
            Message::Stopped(Stopped {
                messages_lost: u64_at(p, 0),
                probes_skipped: u64_at(p, 8),
                errors: u64_at(p, 16),
                reason: end_reason(u32_at(p, 24))?,
            })
        }
        other => return Err(format!("unknown message type {other}")),
    })
}

fn end_reason(value: u32) -> Result<EndReason, String> {
    match value {
        0 => Ok(EndReason::Stop),
        1 => Ok(EndReason::Exit),
        2 => Ok(EndReason::Error),
        other => Err(format!("unknown end reason {other}")),
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(kind: u16, sequence: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC.to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(&0u16.to_ne_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_ne_bytes());
        out.extend_from_slice(&3u32.to_ne_bytes());
        out.extend_from_slice(&sequence.to_ne_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn parses_back_to_back_messages() {
        let mut stopped = Vec::new();
        for v in [7u64, 2, 1] {
            stopped.extend_from_slice(&v.to_ne_bytes());
        }
        stopped.extend_from_slice(&2u32.to_ne_bytes());
        stopped.extend_from_slice(&0u32.to_ne_bytes());
        let mut started = 1u32.to_ne_bytes().to_vec();
        started.extend_from_slice(&4u32.to_ne_bytes());
        let bytes = [
            encode(STARTED, 1, &started),
            encode(OUTPUT, 2, b"tick 1\n"),
            encode(ERROR, 3, b"ERROR: division by 0 near demo.stp:16:22"),
            encode(EXIT_REQUEST, 4, &2u32.to_ne_bytes()),
            encode(OUTPUT, 5, b""),
            encode(STOPPED, 6, &stopped),
        ]
        .concat();
        assert_eq!(
            parse(&bytes).unwrap(),
            vec![
                Message::Started {
                    version: 1,
                    probe_count: 4
                },
                Message::Output(b"tick 1\n"),
                Message::Error(b"ERROR: division by 0 near demo.stp:16:22"),
                Message::ExitRequest(EndReason::Error),
                Message::Output(b""),
                Message::Stopped(Stopped {
                    messages_lost: 7,
                    probes_skipped: 2,
                    errors: 1,
                    reason: EndReason::Error
                }),
            ]
        );
    }

    #[test]
    fn refuses_malformed_input() {
        let good = encode(OUTPUT, 1, b"hello");
        let mut bad_magic = good.clone();
        bad_magic[0] ^= 1;
        for (bytes, needle) in [
            (&good[..10], "less than a header"),
            (&good[..good.len() - 1], "cut short"),
            (&bad_magic[..], "bad magic"),
            (&encode(99, 1, b"")[..], "unknown message type"),
            (&encode(STARTED, 1, b"1234")[..], "not 8"),
            (
                &encode(EXIT_REQUEST, 1, &9u32.to_ne_bytes())[..],
                "end reason",
            ),
        ] {
            let err = parse(bytes).unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
    }
}
