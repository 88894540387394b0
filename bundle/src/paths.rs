//! Entry names allowed inside a bundle archive.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("entry name is empty")]
    Empty,
    #[error("entry `{0}` is longer than {MAX_PATH_LEN} bytes")]
    TooLong(String),
    #[error("entry `{0}` is an absolute path")]
    Absolute(String),
    #[error("entry `{0}` has an empty, `.` or `..` component")]
    BadComponent(String),
    #[error("entry `{0}` has a character outside [A-Za-z0-9._+-/]")]
    BadCharacter(String),
}

/// Fits a plain ustar name field, so no long-name extensions are ever needed.
pub const MAX_PATH_LEN: usize = 100;

/// A relative path of normal components over a conservative character set:
/// no traversal, no absolute paths, nothing a shell or terminal would treat
/// specially when a reviewer lists the bundle.
pub fn check_entry_path(path: &str) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong(path.to_string()));
    }
    if path.starts_with('/') {
        return Err(PathError::Absolute(path.to_string()));
    }
    if !path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-' | b'/'))
    {
        return Err(PathError::BadCharacter(path.to_string()));
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(PathError::BadComponent(path.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_relative_paths() {
        for ok in [
            "manifest.json",
            "modules/6.1.0-56-cloud-amd64/hello.ko",
            "scripts/a_b+c.stp",
        ] {
            assert_eq!(check_entry_path(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_traversal_absolute_and_odd_names() {
        assert!(matches!(check_entry_path(""), Err(PathError::Empty)));
        assert!(matches!(
            check_entry_path("/etc/passwd"),
            Err(PathError::Absolute(_))
        ));
        for bad in ["../x", "a/../../x", "a//b", "./a", "a/", "a/."] {
            assert!(
                matches!(check_entry_path(bad), Err(PathError::BadComponent(_))),
                "{bad}"
            );
        }
        for bad in ["a b", "a\\b", "a\nb", "é"] {
            assert!(
                matches!(check_entry_path(bad), Err(PathError::BadCharacter(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            check_entry_path(&"a".repeat(101)),
            Err(PathError::TooLong(_))
        ));
    }
}
