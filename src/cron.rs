//! Cron expressions as Cloudflare's Cron Triggers read them, far enough to answer one question:
//! how long can the Worker go between two scheduled runs?
//!
//! `STALE_AFTER` defaults to three times that gap. A Worker cannot read its own triggers at run
//! time, so `build.rs` reads `[triggers] crons` from `wrangler.toml` when the Worker is built
//! (which `wrangler deploy` does) and embeds the gap computed here.
//!
//! Syntax (developers.cloudflare.com/workers/configuration/cron-triggers, "Supported cron
//! expressions"): five fields, minute (0–59), hour (0–23), day of month (1–31), month (1–12 or
//! `JAN`–`DEC`), day of week (1–7 or `SUN`–`SAT`, 1 = Sunday); each a `*` or a comma-separated
//! list of values and ranges (`a`, `a-b`), optionally stepped (`*/5`, `a-b/2`, `a/10`); names are
//! case-insensitive. Times are UTC.
//!
//! Not read (the gap is then unknown and the caller falls back): Quartz's `L`, `W` and `#`, and a
//! day of month and a day of week both restricted (cron implementations disagree on whether that
//! means "and" or "or").

use crate::timestamp::civil_from_days;

/// One parsed expression: the set of values each field matches, as bit masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    /// Bits 1–31.
    days_of_month: u32,
    /// Bits 1–12.
    months: u16,
    /// Bits 0–6, 0 = Sunday.
    days_of_week: u8,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Cron {
    /// Parses a five-field expression; `None` when it is malformed or uses syntax this module does
    /// not read (see the module documentation).
    pub fn parse(expr: &str) -> Option<Cron> {
        let fields: Vec<&str> = expr.split_whitespace().collect();
        let [minute, hour, dom, month, dow] = fields[..] else {
            return None;
        };
        let dom_any = dom == "*";
        let dow_any = dow == "*";
        if !dom_any && !dow_any {
            return None;
        }
        Some(Cron {
            minutes: field(minute, 0, 59, &[])?,
            hours: u32::try_from(field(hour, 0, 23, &[])?).ok()?,
            days_of_month: u32::try_from(field(dom, 1, 31, &[])?).ok()?,
            months: u16::try_from(field(month, 1, 12, &MONTHS)?).ok()?,
            // Cloudflare numbers weekdays 1–7 from Sunday; bit n - 1 is weekday n.
            days_of_week: u8::try_from(field(dow, 1, 7, &WEEKDAYS)? >> 1).ok()?,
        })
    }

    /// True when the expression fires on this day: `month` 1–12, `day` 1–31, `weekday` 0–6 from
    /// Sunday.
    fn fires_on(&self, month: u64, day: u64, weekday: u64) -> bool {
        self.months & (1 << month) != 0
            && self.days_of_month & (1 << day) != 0
            && self.days_of_week & (1 << weekday) != 0
    }

    /// True when the expression fires at this hour (0–23) and minute (0–59) of a day it fires on.
    fn fires_at(&self, hour: u64, minute: u64) -> bool {
        self.hours & (1 << hour) != 0 && self.minutes & (1 << minute) != 0
    }
}

/// The values one field matches, as a bit mask (bit n = value n). `names` are the names of the
/// values `min`, `min + 1`, … (months, weekdays).
fn field(text: &str, min: u64, max: u64, names: &[&str]) -> Option<u64> {
    let value = |s: &str| -> Option<u64> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Some(min + i as u64);
        }
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse::<u64>().ok().filter(|v| (min..=max).contains(v))
    };
    let mut mask = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(value_step(s)?)),
            None => (item, None),
        };
        let (lo, hi) = match (range, range.split_once('-')) {
            ("*", _) => (min, max),
            (_, Some((a, b))) => (value(a)?, value(b)?),
            // `a/step` runs from a to the end of the field.
            (a, None) if step.is_some() => (value(a)?, max),
            (a, None) => (value(a)?, value(a)?),
        };
        let step = step.unwrap_or(1);
        if lo > hi {
            return None;
        }
        let mut v = lo;
        while v <= hi {
            mask |= 1 << v;
            v += step;
        }
    }
    Some(mask)
}

fn value_step(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().filter(|&n| n >= 1)
}

/// Days scanned: eight years from 2000-01-01, so every month length, leap days (2000 and 2004)
/// and every weekday of every date are seen.
const SCAN_START_DAY: u64 = 10_957;
const SCAN_DAYS: u64 = 8 * 366;

/// The longest time between two consecutive firings of any of `crons` together, in seconds.
///
/// `None` when an expression cannot be read, or when they fire fewer than twice in the eight
/// years scanned. Cost: one pass over every minute of those years (about 4 million steps); the
/// build script calls it, not the Worker.
pub fn longest_gap_s<S: AsRef<str>>(crons: &[S]) -> Option<u64> {
    let parsed: Vec<Cron> = crons
        .iter()
        .map(|c| Cron::parse(c.as_ref()))
        .collect::<Option<_>>()?;
    let mut last: Option<u64> = None;
    let mut longest: Option<u64> = None;
    for day in SCAN_START_DAY..SCAN_START_DAY + SCAN_DAYS {
        let (_, month, dom) = civil_from_days(day);
        // 1970-01-01 was a Thursday (weekday 4).
        let weekday = (day + 4) % 7;
        let today: Vec<&Cron> = parsed
            .iter()
            .filter(|c| c.fires_on(month, dom, weekday))
            .collect();
        if today.is_empty() {
            continue;
        }
        for minute_of_day in 0..1440 {
            if today
                .iter()
                .any(|c| c.fires_at(minute_of_day / 60, minute_of_day % 60))
            {
                let t = day * 1440 + minute_of_day;
                if let Some(prev) = last {
                    longest = Some(longest.unwrap_or(0).max(t - prev));
                }
                last = Some(t);
            }
        }
    }
    longest.map(|minutes| minutes * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60;
    const HOUR: u64 = 3600;
    const DAY: u64 = 86_400;

    #[test]
    fn gaps() {
        let rows: &[(&[&str], u64)] = &[
            (&["* * * * *"], MIN),
            (&["*/5 * * * *"], 5 * MIN),
            (&["*/7 * * * *"], 7 * MIN), // …49, 56, then 0 of the next hour
            (&["0 * * * *"], HOUR),
            (&["*/30 * * * *"], 30 * MIN),
            (&["0,15 * * * *"], 45 * MIN),
            (&["0 17 * * sun"], 7 * DAY),
            (&["0 17 * * 1"], 7 * DAY),
            (&["10 7 * * mon-fri"], 3 * DAY),
            (&["10 7 * * 2-6"], 3 * DAY),
            (&["*/10 9-17 * * MON-FRI"], 2 * DAY + 15 * HOUR + 10 * MIN),
            (&["0 15 1 * *"], 31 * DAY),
            (&["0 0 1 jan,JUL *"], 184 * DAY),
            (&["0 0 29 2 *"], 1461 * DAY),
            (&["30 2 */2 * *"], 2 * DAY),
            (&["5/20 * * * *"], 20 * MIN),
            (&["50/20 * * * *"], HOUR),
            (&["*/5 * * * *", "0 * * * *"], 5 * MIN),
            (&["0 0 * * *", "0 12 * * *"], 12 * HOUR),
        ];
        for (crons, gap) in rows {
            assert_eq!(longest_gap_s(crons), Some(*gap), "{crons:?}");
        }
    }

    #[test]
    fn unread_expressions_have_no_gap() {
        for cron in [
            "",
            "* * * *",
            "* * * * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "* * * * 0",
            "* * * * 8",
            "*/0 * * * *",
            "5-1 * * * *",
            "0 18 * * 6L",
            "59 23 LW * *",
            "0 10 * * MON#2",
            "0 0 ? * *",
            "0 0 13 * FRI",
            "a * * * *",
            "-1 * * * *",
            "0 0 30 2 *",
        ] {
            assert_eq!(longest_gap_s(&[cron]), None, "{cron:?}");
        }
        assert_eq!(longest_gap_s::<&str>(&[]), None);
        assert_eq!(longest_gap_s(&["*/5 * * * *", "0 0 L * *"]), None);
    }
}
