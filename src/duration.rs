//! Durations in settings (`STALE_AFTER`, `RETAIN_REMOVED_KEYS_FOR`): `90s`, `15m`, `2h`, `1d`,
//! or groups of them such as `1h30m`.
//!
//! A unit is required: a bare number could be seconds or milliseconds, and guessing wrong would
//! make a grace period a thousand times too short or a freshness check never fail.

/// Longest duration accepted, in milliseconds: 365 days. Longer values are almost certainly a
/// typo, and the bound keeps every sum far from overflow.
pub const MAX_DURATION_MS: u64 = 365 * 86_400_000;

/// Parses a duration into milliseconds.
///
/// The text is one or more groups of digits followed by a unit: `s` (seconds), `m` (minutes),
/// `h` (hours) or `d` (days, 24 hours), lowercase, without spaces between groups; surrounding
/// whitespace is ignored. Returns `None` for anything else, for zero, and over
/// [`MAX_DURATION_MS`].
pub fn parse_ms(text: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut digits: Option<u64> = None;
    for c in text.trim().chars() {
        match c {
            '0'..='9' => {
                let d = u64::from(c) - u64::from('0');
                let n = digits.unwrap_or(0).checked_mul(10)?.checked_add(d)?;
                // Any group over the maximum already makes the whole value too long.
                if n > MAX_DURATION_MS {
                    return None;
                }
                digits = Some(n);
            }
            's' | 'm' | 'h' | 'd' => {
                let unit_ms = match c {
                    's' => 1_000,
                    'm' => 60_000,
                    'h' => 3_600_000,
                    _ => 86_400_000,
                };
                total = total.checked_add(digits.take()?.checked_mul(unit_ms)?)?;
            }
            _ => return None,
        }
    }
    (digits.is_none() && total > 0 && total <= MAX_DURATION_MS).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        let rows: &[(&str, u64)] = &[
            ("90s", 90_000),
            ("15m", 900_000),
            ("2h", 7_200_000),
            ("1d", 86_400_000),
            ("1h30m", 5_400_000),
            ("1d12h", 129_600_000),
            (" 5m\n", 300_000),
            ("0h5m", 300_000),
            ("365d", MAX_DURATION_MS),
        ];
        for (text, ms) in rows {
            assert_eq!(parse_ms(text), Some(*ms), "{text:?}");
        }
    }

    #[test]
    fn refused_forms() {
        for text in [
            "",
            "15",
            "m",
            "15 m",
            "15M",
            "1.5h",
            "-5m",
            "0s",
            "0m0s",
            "366d",
            "1w",
            "15mm",
            "5m1",
            "99999999999999999999s",
            "8760h1s",
        ] {
            assert_eq!(parse_ms(text), None, "{text:?}");
        }
    }
}
