//! Syntax of parameter values, as the runner hands them to the module.

/// Longest string parameter accepted, in bytes (SystemTap's `MAXSTRINGLEN`
/// of 512 including the terminating NUL).
pub const MAX_STRING_PARAM_BYTES: usize = 511;

/// Parses a `long` parameter: optional `-`, then decimal digits or `0x` and
/// hex digits, within the i64 range. A decimal number may not start with `0`
/// (other than `0` itself) because the kernel's parser would read it as
/// octal, and the policy must check the value the module actually gets.
pub fn parse_long(text: &str) -> Result<i64, String> {
    let (negative, magnitude) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (digits, radix) = match magnitude
        .strip_prefix("0x")
        .or_else(|| magnitude.strip_prefix("0X"))
    {
        Some(hex) => (hex, 16),
        None => (magnitude, 10),
    };
    let valid_digits = !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix));
    if !valid_digits {
        return Err(format!(
            "`{}` is not a whole number (decimal, or hex with 0x, optionally with a leading -)",
            shorten(text)
        ));
    }
    if radix == 10 && digits.len() > 1 && digits.starts_with('0') {
        return Err(format!(
            "`{}` has a leading zero, which the kernel would read as octal; write it without the zero",
            shorten(text)
        ));
    }
    let out_of_range = || format!("`{}` is outside the 64-bit signed range", shorten(text));
    let magnitude = u64::from_str_radix(digits, radix).map_err(|_| out_of_range())?;
    let value = if negative {
        -i128::from(magnitude)
    } else {
        i128::from(magnitude)
    };
    i64::try_from(value).map_err(|_| out_of_range())
}

/// Checks a `string` parameter: no NUL (it would cut the string short in the
/// module) and at most [`MAX_STRING_PARAM_BYTES`] bytes.
pub fn check_string(text: &str) -> Result<(), String> {
    if text.contains('\0') {
        return Err("it contains a NUL character".into());
    }
    if text.len() > MAX_STRING_PARAM_BYTES {
        return Err(format!(
            "it is {} bytes long, more than the {MAX_STRING_PARAM_BYTES} allowed",
            text.len()
        ));
    }
    Ok(())
}

/// A value short enough to quote in a message.
pub(crate) fn shorten(text: &str) -> String {
    const SHOWN: usize = 40;
    if text.chars().count() <= SHOWN {
        text.escape_debug().to_string()
    } else {
        let head: String = text.chars().take(SHOWN).collect();
        format!("{}…", head.escape_debug())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longs_table() {
        let good = [
            ("0", 0),
            ("42", 42),
            ("-42", -42),
            ("0x1f", 31),
            ("0XFF", 255),
            ("-0x10", -16),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
            ("-0x8000000000000000", i64::MIN),
        ];
        for (text, value) in good {
            assert_eq!(parse_long(text), Ok(value), "{text}");
        }
        for bad in [
            "",
            "-",
            "+1",
            " 1",
            "1 ",
            "0x",
            "1e3",
            "12a",
            "010",
            "9223372036854775808",
            "0x8000000000000000",
            "--1",
            "١",
        ] {
            assert!(parse_long(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn strings_table() {
        assert!(check_string("").is_ok());
        assert!(check_string(&"x".repeat(MAX_STRING_PARAM_BYTES)).is_ok());
        assert!(check_string(&"x".repeat(MAX_STRING_PARAM_BYTES + 1)).is_err());
        assert!(check_string("a\0b").is_err());
    }
}
