//! Settings for running the sync over time: freshness (`STALE_AFTER`), the grace period for keys
//! the IdP retired (`RETAIN_REMOVED_KEYS_FOR`), the heartbeat (`HEARTBEAT_URL`,
//! `HEARTBEAT_FAIL_URL`) and alerts (`ALERT_WEBHOOK_URL`).
//!
//! Read by [`crate::config::Config::from_lookup`] with every other setting, so their problems are
//! listed with the others. The three URLs are secrets: the URL itself is the credential of a
//! heartbeat check or an incoming webhook (operations.md §1.5, §2.6), so no message ever shows it.

use serde::Serialize;
use url::Url;

use crate::config::{is_allowed_url, shown, Secret};
use crate::duration;

mod schedule {
    include!(concat!(env!("OUT_DIR"), "/schedule.rs"));
}

/// How many of the cron's longest gaps make a target stale by default: three, so two missed or
/// failed ticks in a row are tolerated and the third is not (issue 11, point 4).
pub const STALE_AFTER_PERIODS: u64 = 3;

/// `STALE_AFTER` when it is not set and the cron gives no period (no `[triggers] crons` at build
/// time, or one using `L`, `W` or `#`): one day, in milliseconds. Set `STALE_AFTER` instead.
pub const FALLBACK_STALE_AFTER_MS: u64 = 86_400_000;

/// Where [`Ops::stale_after_ms`] came from; shown by `GET /status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StaleAfterFrom {
    /// The `STALE_AFTER` setting.
    Setting,
    /// [`STALE_AFTER_PERIODS`] times the longest gap of the cron embedded at build time.
    Cron,
    /// [`FALLBACK_STALE_AFTER_MS`].
    Fallback,
}

/// The operational settings, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ops {
    /// A target is stale when its last successful run is older than this, in milliseconds. Env
    /// `STALE_AFTER` (a duration); default [`default_stale_after`] of the built-in cron.
    pub stale_after_ms: u64,
    /// Where `stale_after_ms` came from.
    pub stale_after_from: StaleAfterFrom,
    /// How long a live key the IdP stopped publishing stays live, in milliseconds, counted from
    /// the first run that found it missing. Env `RETAIN_REMOVED_KEYS_FOR` (a duration); `None`
    /// (the default) removes it at once.
    pub retain_removed_keys_for_ms: Option<u64>,
    /// Pinged after a cron run in which every target succeeded. Secret `HEARTBEAT_URL`.
    pub heartbeat_url: Option<Secret>,
    /// Pinged after a cron run in which a target failed. Secret `HEARTBEAT_FAIL_URL`; only with
    /// `HEARTBEAT_URL`.
    pub heartbeat_fail_url: Option<Secret>,
    /// Receives a JSON alert on each change of a target's state. Secret `ALERT_WEBHOOK_URL`.
    pub alert_webhook_url: Option<Secret>,
}

impl Ops {
    /// Reads the settings through `get` (trimmed, blank = unset) and appends each problem to
    /// `problems`. The values returned for settings with problems are the defaults.
    pub fn read(get: &impl Fn(&str) -> Option<String>, problems: &mut Vec<String>) -> Ops {
        let (default_ms, default_from) = default_stale_after(schedule::LONGEST_GAP_S);
        let (stale_after_ms, stale_after_from) = match get("STALE_AFTER") {
            Some(text) => match duration::parse_ms(&text) {
                Some(ms) => (ms, StaleAfterFrom::Setting),
                None => {
                    problems.push(duration_problem("STALE_AFTER", &text));
                    (default_ms, default_from)
                }
            },
            None => (default_ms, default_from),
        };
        let retain_removed_keys_for_ms = get("RETAIN_REMOVED_KEYS_FOR").and_then(|text| {
            let ms = duration::parse_ms(&text);
            if ms.is_none() {
                problems.push(duration_problem("RETAIN_REMOVED_KEYS_FOR", &text));
            }
            ms
        });
        let heartbeat_url = secret_url(get, "HEARTBEAT_URL", problems);
        let heartbeat_fail_url = secret_url(get, "HEARTBEAT_FAIL_URL", problems);
        if get("HEARTBEAT_FAIL_URL").is_some() && get("HEARTBEAT_URL").is_none() {
            // Named after the missing setting, so `make deploy`'s check (which cannot judge a
            // secret's value) still reports it.
            problems.push(
                "HEARTBEAT_URL is not set, but HEARTBEAT_FAIL_URL is; set both, or HEARTBEAT_URL alone"
                    .to_owned(),
            );
        }
        Ops {
            stale_after_ms,
            stale_after_from,
            retain_removed_keys_for_ms,
            heartbeat_url,
            heartbeat_fail_url,
            alert_webhook_url: secret_url(get, "ALERT_WEBHOOK_URL", problems),
        }
    }
}

impl Default for Ops {
    /// No setting given: the built-in cron's default freshness, nothing else enabled.
    fn default() -> Self {
        Ops::read(&|_| None, &mut Vec::new())
    }
}

/// The `[triggers] crons` of `wrangler.toml` this Worker was built with.
pub fn crons() -> &'static [&'static str] {
    schedule::CRONS
}

/// `STALE_AFTER`'s default from the cron's longest gap (seconds): [`STALE_AFTER_PERIODS`] times
/// it, or [`FALLBACK_STALE_AFTER_MS`] without one. In milliseconds.
pub fn default_stale_after(longest_gap_s: Option<u64>) -> (u64, StaleAfterFrom) {
    match longest_gap_s {
        Some(gap_s) => (
            gap_s.saturating_mul(STALE_AFTER_PERIODS * 1000),
            StaleAfterFrom::Cron,
        ),
        None => (FALLBACK_STALE_AFTER_MS, StaleAfterFrom::Fallback),
    }
}

fn duration_problem(name: &str, text: &str) -> String {
    format!(
        "{name} must be a duration above zero, such as 90s, 15m, 2h or 1d (units s, m, h, d; at most 365d), got {}",
        shown(text)
    )
}

/// A secret URL setting: `https` (plain `http` for a loopback host only). Problems never show it.
fn secret_url(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    problems: &mut Vec<String>,
) -> Option<Secret> {
    let value = get(name)?;
    match Url::parse(&value) {
        Ok(url) if is_allowed_url(&url) => Some(Secret::new(value)),
        _ => {
            problems.push(format!(
                "{name} must be an https URL (http only for a loopback host); the value is a secret and is not shown"
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> (Ops, Vec<String>) {
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut problems = Vec::new();
        let ops = Ops::read(&get, &mut problems);
        (ops, problems)
    }

    #[test]
    fn defaults_come_from_the_cron_the_worker_was_built_with() {
        let wrangler = include_str!("../wrangler.toml");
        for cron in crons() {
            assert!(wrangler.contains(&format!("{cron:?}")), "{cron}");
        }
        let (ops, problems) = read(&[]);
        assert!(problems.is_empty());
        let (ms, from) = default_stale_after(schedule::LONGEST_GAP_S);
        assert_eq!((ops.stale_after_ms, ops.stale_after_from), (ms, from));
        assert_eq!(ops.retain_removed_keys_for_ms, None);
        assert_eq!(
            (
                ops.heartbeat_url,
                ops.heartbeat_fail_url,
                ops.alert_webhook_url
            ),
            (None, None, None)
        );
        assert_eq!(Ops::default().stale_after_ms, ms);
    }

    #[test]
    fn stale_after_default_is_three_cron_gaps_or_a_day() {
        assert_eq!(
            default_stale_after(Some(300)),
            (900_000, StaleAfterFrom::Cron)
        );
        assert_eq!(
            default_stale_after(None),
            (86_400_000, StaleAfterFrom::Fallback)
        );
    }

    #[test]
    fn settings_are_read() {
        let (ops, problems) = read(&[
            ("STALE_AFTER", "20m"),
            ("RETAIN_REMOVED_KEYS_FOR", "1d"),
            ("HEARTBEAT_URL", "https://hc-ping.com/abc"),
            ("HEARTBEAT_FAIL_URL", "https://hc-ping.com/abc/fail"),
            ("ALERT_WEBHOOK_URL", "http://127.0.0.1:9/hook"),
        ]);
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(
            (ops.stale_after_ms, ops.stale_after_from),
            (1_200_000, StaleAfterFrom::Setting)
        );
        assert_eq!(ops.retain_removed_keys_for_ms, Some(86_400_000));
        assert_eq!(
            ops.heartbeat_url.map(|s| s.expose().to_owned()),
            Some("https://hc-ping.com/abc".to_owned())
        );
        assert_eq!(
            ops.heartbeat_fail_url.map(|s| s.expose().to_owned()),
            Some("https://hc-ping.com/abc/fail".to_owned())
        );
        assert_eq!(
            ops.alert_webhook_url.map(|s| s.expose().to_owned()),
            Some("http://127.0.0.1:9/hook".to_owned())
        );
    }

    /// The three secret URLs are never shown, not even the first characters a refused var's
    /// value shows.
    #[test]
    fn no_part_of_a_refused_secret_url_is_shown() {
        let (_, problems) = read(&[
            ("HEARTBEAT_URL", "http://hc.example/SECRETping"),
            ("HEARTBEAT_FAIL_URL", "SECRET-not-a-url"),
            ("ALERT_WEBHOOK_URL", "ftp://SECRET@hooks.example/"),
        ]);
        assert_eq!(
            problems,
            ["HEARTBEAT_URL", "HEARTBEAT_FAIL_URL", "ALERT_WEBHOOK_URL"]
                .map(|n| format!("{n} must be an https URL (http only for a loopback host); the value is a secret and is not shown"))
        );
        assert!(problems
            .iter()
            .all(|p| !p.contains("SECR") && !p.contains("http:") && !p.contains("ftp")));
    }

    #[test]
    fn problems_never_show_a_secret_url() {
        let secret = "http://hooks.example/T000/B000/XXXXsecret";
        let (ops, problems) = read(&[
            ("STALE_AFTER", "15"),
            ("RETAIN_REMOVED_KEYS_FOR", "soon"),
            ("HEARTBEAT_FAIL_URL", "https://hc-ping.com/abc/fail"),
            ("ALERT_WEBHOOK_URL", secret),
        ]);
        assert_eq!(
            problems,
            vec![
                "STALE_AFTER must be a duration above zero, such as 90s, 15m, 2h or 1d (units s, m, h, d; at most 365d), got \"15\"",
                "RETAIN_REMOVED_KEYS_FOR must be a duration above zero, such as 90s, 15m, 2h or 1d (units s, m, h, d; at most 365d), got \"soon\"",
                "HEARTBEAT_URL is not set, but HEARTBEAT_FAIL_URL is; set both, or HEARTBEAT_URL alone",
                "ALERT_WEBHOOK_URL must be an https URL (http only for a loopback host); the value is a secret and is not shown",
            ]
        );
        assert!(problems.iter().all(|p| !p.contains("XXXXsecret")));
        assert_eq!(ops.alert_webhook_url, None);
        assert_eq!(
            ops.stale_after_from,
            default_stale_after(schedule::LONGEST_GAP_S).1
        );
    }
}
