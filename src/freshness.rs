//! The freshness verdict monitors poll (`GET /healthz`): is every target's last success recent?
//!
//! A target is fresh when its last successful run finished within `STALE_AFTER`. A target that
//! never succeeded counts from when its Durable Object was first consulted (the first cron run,
//! sync, preview, status or health check that reached it after deploy): a Worker whose cron
//! never runs therefore reads as stale once `STALE_AFTER` has passed (issue 11, point 4).
//!
//! # Format
//! ```text
//! 200 {"status":"ok"}
//! 503 {"status":"stale","stale":[{"name":"prod","age_s":1234},{"name":"eu","age_s":null}]}
//! 503 {"status":"invalid_settings"}
//! ```
//! `age_s` is the time since the last success (or since first consulted), in seconds; `null`
//! when the target's state could not be read. The body says nothing else: the endpoint is
//! unauthenticated.

use serde::Serialize;
use serde_json::Value;

/// One target's freshness, as its Durable Object answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Freshness {
    /// Seconds since the last success, or since the state was first consulted when there was none.
    pub age_s: u64,
    /// True when `age_s` is over `STALE_AFTER`.
    pub stale: bool,
}

impl Freshness {
    /// Reads the JSON a Durable Object answered (`{"age_s":12,"stale":false}`); `None` when it is
    /// not that.
    pub fn from_json(text: &str) -> Option<Freshness> {
        let v: Value = serde_json::from_str(text).ok()?;
        Some(Freshness {
            age_s: v.get("age_s")?.as_u64()?,
            stale: v.get("stale")?.as_bool()?,
        })
    }
}

/// The freshness of a target at `now_ms`, from the finish of its last successful run and the
/// first time its state was consulted (milliseconds since the epoch), against `stale_after_ms`.
pub fn of(
    now_ms: u64,
    stale_after_ms: u64,
    last_success_ms: Option<u64>,
    first_seen_ms: u64,
) -> Freshness {
    let since = last_success_ms.unwrap_or(first_seen_ms);
    let age_ms = now_ms.saturating_sub(since);
    Freshness {
        age_s: age_ms / 1000,
        stale: age_ms > stale_after_ms,
    }
}

/// The answer to `GET /healthz`: status and body, from each target's name and freshness (`None`
/// when its state could not be read, which counts as stale).
pub fn verdict(targets: &[(&str, Option<Freshness>)]) -> (u16, String) {
    #[derive(Serialize)]
    struct Stale<'a> {
        name: &'a str,
        age_s: Option<u64>,
    }
    let stale: Vec<Stale> = targets
        .iter()
        .filter(|(_, f)| f.is_none_or(|f| f.stale))
        .map(|(name, f)| Stale {
            name,
            age_s: f.map(|f| f.age_s),
        })
        .collect();
    if stale.is_empty() {
        return (200, r#"{"status":"ok"}"#.to_owned());
    }
    #[derive(Serialize)]
    struct Body<'a> {
        status: &'static str,
        stale: Vec<Stale<'a>>,
    }
    let body = Body {
        status: "stale",
        stale,
    };
    (503, serde_json::to_string(&body).unwrap_or_default())
}

/// The answer to `GET /healthz` when the settings are invalid: 503, without saying which (the
/// endpoint is unauthenticated; the authenticated endpoints and the log list the problems).
pub fn invalid_settings() -> (u16, String) {
    (503, r#"{"status":"invalid_settings"}"#.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;
    const NOW: u64 = 1_789_380_000_000;

    #[test]
    fn fresh_within_stale_after_from_the_last_success() {
        assert_eq!(
            of(NOW, 15 * MIN, Some(NOW - 15 * MIN), 0),
            Freshness {
                age_s: 900,
                stale: false
            }
        );
        assert_eq!(
            of(NOW, 15 * MIN, Some(NOW - 15 * MIN - 1), 0),
            Freshness {
                age_s: 900,
                stale: true
            }
        );
    }

    #[test]
    fn never_succeeded_counts_from_first_seen() {
        assert_eq!(
            of(NOW, 15 * MIN, None, NOW - 10 * MIN),
            Freshness {
                age_s: 600,
                stale: false
            }
        );
        assert_eq!(
            of(NOW, 15 * MIN, None, NOW - 16 * MIN),
            Freshness {
                age_s: 960,
                stale: true
            }
        );
        // A clock behind the record reads as age 0, not as an overflow.
        assert_eq!(
            of(NOW, MIN, Some(NOW + 5), 0),
            Freshness {
                age_s: 0,
                stale: false
            }
        );
    }

    #[test]
    fn read_back_from_json() {
        let f = Freshness {
            age_s: 12,
            stale: true,
        };
        assert_eq!(
            Freshness::from_json(&serde_json::to_string(&f).unwrap()),
            Some(f)
        );
        for bad in ["", "{}", r#"{"age_s":-1,"stale":false}"#, r#"{"age_s":1}"#] {
            assert_eq!(Freshness::from_json(bad), None, "{bad}");
        }
    }

    #[test]
    fn verdicts() {
        let fresh = Freshness {
            age_s: 10,
            stale: false,
        };
        let stale = Freshness {
            age_s: 4000,
            stale: true,
        };
        assert_eq!(
            verdict(&[("a", Some(fresh)), ("b", Some(fresh))]),
            (200, r#"{"status":"ok"}"#.to_owned())
        );
        assert_eq!(
            verdict(&[("a", Some(fresh)), ("b", Some(stale)), ("c", None)]),
            (
                503,
                r#"{"status":"stale","stale":[{"name":"b","age_s":4000},{"name":"c","age_s":null}]}"#
                    .to_owned()
            )
        );
        assert_eq!(verdict(&[]), (200, r#"{"status":"ok"}"#.to_owned()));
        assert_eq!(
            invalid_settings(),
            (503, r#"{"status":"invalid_settings"}"#.to_owned())
        );
    }
}
