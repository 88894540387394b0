//! `max_duration`: either whole seconds (TOML integer) or a string with one
//! unit, `30s`, `10m`, `2h`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// The value as written in the policy file, validated later with the rule's
/// name at hand so the error says where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DurationSetting {
    Seconds(i64),
    Text(String),
}

impl DurationSetting {
    pub(crate) fn to_duration(&self) -> Result<Duration, String> {
        let seconds = match self {
            DurationSetting::Seconds(s) => {
                u64::try_from(*s).map_err(|_| format!("{s} seconds is negative"))?
            }
            DurationSetting::Text(text) => parse_text(text)?,
        };
        if seconds == 0 {
            return Err(format!(
                "`{self}` is zero; give a positive duration or leave max_duration out"
            ));
        }
        Ok(Duration::from_secs(seconds))
    }
}

fn parse_text(text: &str) -> Result<u64, String> {
    let unit_at = text.len().saturating_sub(1);
    let (digits, unit) = (
        text.get(..unit_at).unwrap_or(""),
        text.get(unit_at..).unwrap_or(""),
    );
    let multiplier = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => {
            return Err(format!(
                "`{text}` needs a unit: s, m or h (e.g. `30s`, `10m`, `2h`), or write whole seconds as an integer"
            ))
        }
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{text}` is not a whole number followed by s, m or h"
        ));
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("`{text}` is too large"))
}

impl fmt::Display for DurationSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationSetting::Seconds(s) => write!(f, "{s}"),
            DurationSetting::Text(t) => f.write_str(t),
        }
    }
}

impl<'de> Deserialize<'de> for DurationSetting {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SettingVisitor;
        impl Visitor<'_> for SettingVisitor {
            type Value = DurationSetting;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("whole seconds or a string like \"30s\", \"10m\", \"2h\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DurationSetting, E> {
                Ok(DurationSetting::Seconds(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DurationSetting, E> {
                i64::try_from(v)
                    .map(DurationSetting::Seconds)
                    .map_err(|_| E::custom(format!("{v} seconds is too large")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationSetting, E> {
                Ok(DurationSetting::Text(v.to_string()))
            }
        }
        deserializer.deserialize_any(SettingVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_table() {
        let text = |s: &str| DurationSetting::Text(s.into()).to_duration();
        assert_eq!(text("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(text("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(text("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(
            DurationSetting::Seconds(90).to_duration(),
            Ok(Duration::from_secs(90))
        );
        for bad in [
            "",
            "s",
            "10",
            "10x",
            "1.5h",
            "-5s",
            "0s",
            "99999999999999999999h",
            "ñ",
            "5 m",
        ] {
            assert!(text(bad).is_err(), "{bad}");
        }
        assert!(DurationSetting::Seconds(0).to_duration().is_err());
        assert!(DurationSetting::Seconds(-1).to_duration().is_err());
    }
}
