//! Bundle-name patterns: `*` matches any run of characters (also none), `?`
//! exactly one. Nothing else is special, so a pattern is easy to audit.

use std::fmt;

/// A validated bundle-name pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(String);

impl Glob {
    /// Accepts a pattern made of the characters bundle names may contain
    /// (`[A-Za-z0-9._-]`) plus `*` and `?`. Anything else could never match
    /// a bundle name, so it is rejected as a mistake.
    pub fn parse(pattern: &str) -> Result<Glob, String> {
        if pattern.is_empty() {
            return Err("an empty pattern matches no bundle name".into());
        }
        if let Some(bad) = pattern
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '*' | '?')))
        {
            return Err(format!(
                "character `{bad}` can never match a bundle name (names use [A-Za-z0-9._-]; \
                 patterns add `*` and `?`)"
            ));
        }
        Ok(Glob(pattern.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, name: &str) -> bool {
        let (pattern, name) = (self.0.as_bytes(), name.as_bytes());
        let (mut p, mut n) = (0, 0);
        // Where the last `*` was and how much of the name it has swallowed:
        // on a mismatch the star takes one more byte and matching resumes.
        let mut last_star: Option<(usize, usize)> = None;
        while n < name.len() {
            match pattern.get(p) {
                Some(b'*') => {
                    last_star = Some((p + 1, n));
                    p += 1;
                }
                Some(&c) if c == b'?' || c == name[n] => {
                    p += 1;
                    n += 1;
                }
                _ => match last_star {
                    Some((after_star, swallowed_to)) => {
                        p = after_star;
                        n = swallowed_to + 1;
                        last_star = Some((after_star, n));
                    }
                    None => return false,
                },
            }
        }
        pattern[p..].iter().all(|&c| c == b'*')
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn matches_table() {
        let rows = [
            ("net-*", "net-trace", true),
            ("net-*", "net-", true),
            ("net-*", "netx", false),
            ("net-*", "io-net-trace", false),
            ("*", "anything", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*-trace", "net-io-trace", true),
            ("*a*b", "xaxxb", true),
            ("*a*b", "xaxxbc", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("**", "", true),
            ("?", "", false),
        ];
        for (pattern, name, expected) in rows {
            let glob = Glob::parse(pattern).unwrap();
            assert_eq!(glob.matches(name), expected, "{pattern} vs {name}");
        }
    }

    #[test]
    fn rejects_patterns_that_cannot_match() {
        for bad in ["", "net/*", "net [a]", "ñet", "net,io"] {
            assert!(Glob::parse(bad).is_err(), "{bad}");
        }
    }
}
