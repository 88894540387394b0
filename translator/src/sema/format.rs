//! printf format strings: splitting into text and conversions.

use crate::ir::{Conversion, Format, FormatCount, FormatPiece};

/// Parses `text` (escapes kept as written), or explains what is wrong.
pub fn parse_format(text: &str) -> Result<Format, String> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            literal.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            literal.push('%');
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = chars.peek() {
            if !"-+ #0".contains(f) {
                break;
            }
            flags.push(f);
            chars.next();
        }
        let width = count(&mut chars)?;
        let precision = if chars.peek() == Some(&'.') {
            chars.next();
            Some(count(&mut chars)?.unwrap_or(FormatCount::Fixed(0)))
        } else {
            None
        };
        // Length modifiers are accepted and ignored: every integer is 64-bit.
        while matches!(chars.peek(), Some('l' | 'h' | 'L' | 'q' | 'j' | 'z' | 't')) {
            chars.next();
        }
        let conversion = match chars.next() {
            Some(c @ ('d' | 'i' | 'o' | 'u' | 'x' | 'X' | 'p' | 'c' | 'b' | 's' | 'm' | 'M')) => c,
            Some(other) => return Err(format!("unknown conversion `%{other}`")),
            None => return Err("format ends inside a conversion".to_string()),
        };
        if !literal.is_empty() {
            pieces.push(FormatPiece::Text(std::mem::take(&mut literal)));
        }
        pieces.push(FormatPiece::Conversion(Conversion {
            flags,
            width,
            precision,
            conversion,
        }));
    }
    if !literal.is_empty() {
        pieces.push(FormatPiece::Text(literal));
    }
    Ok(Format {
        text: text.to_string(),
        pieces,
    })
}

fn count(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
) -> Result<Option<FormatCount>, String> {
    if chars.peek() == Some(&'*') {
        chars.next();
        return Ok(Some(FormatCount::Arg));
    }
    let mut digits = String::new();
    while let Some(&d) = chars.peek() {
        if !d.is_ascii_digit() {
            break;
        }
        digits.push(d);
        chars.next();
    }
    if digits.is_empty() {
        return Ok(None);
    }
    digits
        .parse()
        .map(|n| Some(FormatCount::Fixed(n)))
        .map_err(|_| format!("field width `{digits}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Type;

    #[test]
    fn splits_text_and_conversions() {
        let format = parse_format("a %-5d%% %*.3s\\n").unwrap();
        assert_eq!(format.pieces.len(), 5);
        let types: Vec<Type> = format.arguments().into_iter().map(|(t, _)| t).collect();
        assert_eq!(types, vec![Type::Long, Type::Long, Type::String]);
    }

    #[test]
    fn rejects_unknown_conversions() {
        assert_eq!(parse_format("%y").unwrap_err(), "unknown conversion `%y`");
        assert!(parse_format("50%").is_err());
    }
}
