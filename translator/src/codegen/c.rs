//! C text helpers: literals from script strings, printf formats for the
//! kernel's `vsnprintf`, identifiers.

use crate::ir::{Conversion, FormatCount};

/// The bytes of a script string literal, its C-style escapes (kept as
/// written by the lexer) decoded.
pub fn decode_escapes(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' || i + 1 == bytes.len() {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        i += 1;
        let escape = bytes[i];
        i += 1;
        match escape {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'v' => out.push(0x0b),
            b'0'..=b'7' => {
                let mut value = u32::from(escape - b'0');
                for _ in 0..2 {
                    match bytes.get(i) {
                        Some(d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(value as u8);
            }
            b'x' => {
                let mut value = 0u32;
                while let Some(d) = bytes.get(i).and_then(|b| (*b as char).to_digit(16)) {
                    value = (value * 16 + d) & 0xff;
                    i += 1;
                }
                out.push(value as u8);
            }
            other => out.push(other),
        }
    }
    out
}

/// A C string literal holding `bytes` exactly (octal escapes for anything
/// unprintable, so no escape can swallow a following digit).
pub fn c_string(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            // `?` could start a trigraph in other C modes; escaping costs nothing.
            b'?' => out.push_str("\\?"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out.push('"');
    out
}

/// A C string literal for text that is already plain (names, locations).
pub fn c_str(text: &str) -> String {
    c_string(text.as_bytes())
}

/// Text for a `vsnprintf` format: `%` doubled.
pub fn format_text(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for &b in bytes {
        out.push(b);
        if b == b'%' {
            out.push(b'%');
        }
    }
    out
}

/// The kernel `vsnprintf` conversion for one SystemTap conversion, or
/// `None` if the back end does not support it. Values are `int64_t`
/// (`long long`), `%c` takes an `int`, `*` counts are `int`.
pub fn conversion_spec(conversion: &Conversion) -> Option<String> {
    let mut spec = String::from("%");
    // SystemTap reads one flag per conversion: in `%+05d` the 0 starts the
    // width (so it does not pad with zeros).
    if let Some(flag) = conversion.flags.chars().next() {
        spec.push(flag);
    }
    // SystemTap's %p is %#x (no padding to 16 digits; the kernel's own %p
    // hashes pointers).
    if conversion.conversion == 'p' && !spec.contains('#') {
        spec.push('#');
    }
    match conversion.width {
        Some(FormatCount::Fixed(n)) => spec.push_str(&n.to_string()),
        Some(FormatCount::Arg) => spec.push('*'),
        None => {}
    }
    match conversion.precision {
        Some(FormatCount::Fixed(n)) => spec.push_str(&format!(".{n}")),
        Some(FormatCount::Arg) => spec.push_str(".*"),
        None => {}
    }
    spec.push_str(match conversion.conversion {
        'd' | 'i' => "lld",
        'u' => "llu",
        'x' | 'p' => "llx",
        'X' => "llX",
        'o' => "llo",
        'c' => "c",
        's' => "s",
        _ => return None,
    });
    Some(spec)
}

/// A script identifier as part of a C identifier (script identifiers are
/// already `[A-Za-z_][A-Za-z0-9_]*`; anything else becomes `_`).
pub fn ident(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// A long constant as C text (`int64_t`, no overflow for the minimum).
pub fn long_literal(value: i64) -> String {
    if value == i64::MIN {
        "(-9223372036854775807LL - 1)".to_string()
    } else if value < 0 {
        format!("({value}LL)")
    } else {
        format!("{value}LL")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_round_trip() {
        assert_eq!(decode_escapes(r#"a\n\t\"\\\101\x41\0"#), b"a\n\t\"\\AA\0");
        assert_eq!(c_string(b"a\"\n\x01?1"), r#""a\"\n\001\?1""#);
    }

    #[test]
    fn one_flag_per_conversion() {
        let plus_zero = Conversion {
            flags: "+0".to_string(),
            width: Some(FormatCount::Fixed(5)),
            precision: None,
            conversion: 'd',
        };
        assert_eq!(conversion_spec(&plus_zero).unwrap(), "%+5lld");
    }

    #[test]
    fn pointer_conversion_matches_systemtap() {
        let p = Conversion {
            flags: String::new(),
            width: None,
            precision: None,
            conversion: 'p',
        };
        assert_eq!(conversion_spec(&p).unwrap(), "%#llx");
    }
}
