//! Instants as people read them: RFC 3339 UTC text (`2026-09-14T10:05:00Z`), without a date
//! library (`chrono` costs about 8 KB gzip in the bundle; style.md §3).

/// Formats milliseconds since the Unix epoch as RFC 3339 UTC with whole seconds, e.g.
/// `2026-09-14T10:05:00Z` (RFC 3339 §5.6). Milliseconds are truncated.
pub fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month 1–12, day 1–31) in the proleptic Gregorian calendar.
/// Howard Hinnant's `civil_from_days` ("chrono-Compatible Low-Level Date Algorithms"), for
/// non-negative day counts.
pub fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        // Values checked with `new Date(ms).toISOString()`.
        let rows: &[(u64, &str)] = &[
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400_000, "2000-02-29T00:00:00Z"),
            (1_767_225_599_999, "2025-12-31T23:59:59Z"),
            (1_767_225_600_000, "2026-01-01T00:00:00Z"),
            (1_789_380_300_123, "2026-09-14T10:05:00Z"),
            (4_107_542_400_000, "2100-03-01T00:00:00Z"),
        ];
        for (ms, text) in rows {
            assert_eq!(rfc3339(*ms), *text, "{ms}");
        }
    }
}
