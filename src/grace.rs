//! The grace period for keys the IdP retired (`RETAIN_REMOVED_KEYS_FOR`): which live keys stay
//! live although the IdP no longer publishes them, until when, and what to record.
//!
//! Rules (issue 11, point 7):
//! - A live key whose (`kid`, `alg`) the IdP does not publish stays live for the period, counted
//!   from the first run that found it missing (recorded by the target's Durable Object), then goes.
//! - Never beyond `MAX_KEYS`: the IdP's own keys and the live symmetric keys the write keeps come
//!   first; of the retired ones, those that went missing last (the most grace left) fill what
//!   room is left, ties in live order.
//! - Never when the IdP now publishes the same (`kid`, `alg`) with other material: that key is not
//!   missing, it changed, and the IdP's material wins.
//! - A key the IdP publishes again is no longer missing; if it goes again, its period restarts.
//!
//! Pure: the clock (`now_ms`) and the record come in, the decision and the new record go out.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::jwks::PublicJwk;
use crate::timestamp::rfc3339;

/// When each live key the IdP stopped publishing was first found missing: (`kid`, `alg`) →
/// milliseconds since the epoch.
///
/// # Format (as recorded)
/// ```text
/// [{"kid":"k1","alg":"RS256","since_ms":1789380300000}]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirstMissing(BTreeMap<(String, String), u64>);

#[derive(Serialize)]
struct Entry {
    kid: String,
    alg: String,
    since_ms: u64,
}

impl FirstMissing {
    /// Reads the recorded form. Anything unreadable counts as an empty record: every missing key
    /// then starts its period now, which keeps keys longer, never shorter.
    pub fn from_json(text: &str) -> FirstMissing {
        let entries: Value = serde_json::from_str(text).unwrap_or_default();
        let entry = |e: &Value| {
            let s = |name: &str| e.get(name)?.as_str().map(str::to_owned);
            Some(((s("kid")?, s("alg")?), e.get("since_ms")?.as_u64()?))
        };
        FirstMissing(
            entries
                .as_array()
                .map(|list| list.iter().filter_map(entry).collect())
                .unwrap_or_default(),
        )
    }

    /// The recorded form, entries sorted by (`kid`, `alg`).
    pub fn to_json(&self) -> String {
        let entries: Vec<Entry> = self
            .0
            .iter()
            .map(|((kid, alg), since_ms)| Entry {
                kid: kid.clone(),
                alg: alg.clone(),
                since_ms: *since_ms,
            })
            .collect();
        serde_json::to_string(&entries).unwrap_or_default()
    }

    /// When (`kid`, `alg`) was first found missing, in milliseconds since the epoch.
    pub fn since_ms(&self, kid: &str, alg: &str) -> Option<u64> {
        self.0.get(&(kid.to_owned(), alg.to_owned())).copied()
    }

    /// Each entry: `kid`, `alg`, first-missing time in milliseconds since the epoch; sorted by
    /// (`kid`, `alg`).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, u64)> {
        self.0
            .iter()
            .map(|((kid, alg), since)| (kid.as_str(), alg.as_str(), *since))
    }

    /// True when nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn insert(&mut self, key: &PublicJwk, since_ms: u64) {
        self.0.insert(
            (key.kid().to_owned(), key.alg().as_str().to_owned()),
            since_ms,
        );
    }
}

/// A key kept live by the grace period, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Retained {
    /// The key's `kid`.
    pub kid: String,
    /// Its `alg`.
    pub alg: String,
    /// When a run first found the IdP no longer publishing it (RFC 3339, UTC).
    pub missing_since: String,
    /// When it goes: the first run at or after this instant removes it (RFC 3339, UTC).
    pub until: String,
}

/// The grace-period decision for one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Live keys to push beside the IdP's, in live order.
    pub keep: Vec<PublicJwk>,
    /// The same keys as reported, in the same order.
    pub retained: Vec<Retained>,
    /// One line per key that is still within its period but left out for lack of room under
    /// `MAX_KEYS`, in live order.
    pub warnings: Vec<String>,
    /// First-missing times of every live key the IdP does not publish, kept or not: the record
    /// when nothing was written (those keys are all still live).
    pub all_missing: FirstMissing,
    /// First-missing times of the kept keys only: the record once a verified write removed the
    /// others.
    pub kept_missing: FirstMissing,
}

/// Decides which `live` keys to keep beside `desired` (the IdP's keys, already within
/// `max_keys` beside the `reserved` slots), given the `recorded` first-missing times, the clock
/// `now_ms` and the period `period_ms` (both in milliseconds). `reserved` is the number of
/// `MAX_KEYS` slots taken by keys every write keeps (the live symmetric keys).
pub fn decide(
    live: &[PublicJwk],
    desired: &[PublicJwk],
    recorded: &FirstMissing,
    now_ms: u64,
    period_ms: u64,
    max_keys: usize,
    reserved: usize,
) -> Decision {
    let published: BTreeSet<(&str, &str)> = desired
        .iter()
        .map(|k| (k.kid(), k.alg().as_str()))
        .collect();
    let mut d = Decision::default();
    // (position in live, since): live keys within their period.
    let mut candidates: Vec<(usize, u64)> = Vec::new();
    for (i, key) in live.iter().enumerate() {
        if published.contains(&(key.kid(), key.alg().as_str())) {
            continue;
        }
        let since = recorded
            .since_ms(key.kid(), key.alg().as_str())
            .map_or(now_ms, |t| t.min(now_ms));
        d.all_missing.insert(key, since);
        if now_ms < since.saturating_add(period_ms) {
            candidates.push((i, since));
        }
    }
    // The most recently missing first, ties in live order: a candidate's rank is the number of
    // candidates before it in that order. Quadratic, but n is at most MAX_KEYS (256), and it
    // spares the bundle a sort.
    let room = max_keys
        .saturating_sub(reserved)
        .saturating_sub(desired.len());
    let rank = |(i, since): (usize, u64)| {
        candidates
            .iter()
            .filter(|&&(j, t)| t > since || (t == since && j < i))
            .count()
    };
    let mut kept = Vec::new();
    for &(i, since) in &candidates {
        if rank((i, since)) < room {
            kept.push((i, since));
        } else {
            let key = &live[i];
            d.warnings.push(format!(
                "{} ({}): retired by the IdP and within its grace period, but there is no room for it under MAX_KEYS ({max_keys}); removed",
                key.kid(),
                key.alg()
            ));
        }
    }
    for (i, since) in kept {
        let key = &live[i];
        d.kept_missing.insert(key, since);
        d.retained.push(Retained {
            kid: key.kid().to_owned(),
            alg: key.alg().as_str().to_owned(),
            missing_since: rfc3339(since),
            until: rfc3339(since.saturating_add(period_ms)),
        });
        d.keep.push(key.clone());
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwks::{decode_key, Alg};
    use serde_json::json;

    const X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    const X2: &str = "WKn-ZIGevcwGIyyrzFoZNBdaq9_TsqzGl96oc0CWuis";
    const Y2: &str = "y77t-RvAHRKTsSGdIYUfweuOvwrvDD-Q3Hv5J0fSKbE";
    const HOUR: u64 = 3_600_000;
    /// 2026-09-14T10:00:00Z.
    const NOW: u64 = 1_789_380_000_000;

    fn key(kid: &str) -> PublicJwk {
        ec(kid, X, Y)
    }

    fn ec(kid: &str, x: &str, y: &str) -> PublicJwk {
        decode_key(
            &json!({"kty":"EC","kid":kid,"alg":"ES256","crv":"P-256","x":x,"y":y}),
            Alg::RS256,
        )
        .unwrap()
    }

    fn keys(kids: &[&str]) -> Vec<PublicJwk> {
        kids.iter().map(|k| key(k)).collect()
    }

    fn record(entries: &[(&str, u64)]) -> FirstMissing {
        let mut r = FirstMissing::default();
        for (kid, since) in entries {
            r.insert(&key(kid), *since);
        }
        r
    }

    fn kept(d: &Decision) -> Vec<&str> {
        d.keep.iter().map(PublicJwk::kid).collect()
    }

    #[test]
    fn a_newly_missing_key_is_kept_for_the_period_from_now() {
        let d = decide(
            &keys(&["a", "b"]),
            &keys(&["b"]),
            &FirstMissing::default(),
            NOW,
            2 * HOUR,
            16,
            0,
        );
        assert_eq!(kept(&d), ["a"]);
        assert_eq!(
            d.retained,
            vec![Retained {
                kid: "a".into(),
                alg: "ES256".into(),
                missing_since: "2026-09-14T10:00:00Z".into(),
                until: "2026-09-14T12:00:00Z".into(),
            }]
        );
        assert_eq!(d.all_missing, record(&[("a", NOW)]));
        assert_eq!(d.kept_missing, record(&[("a", NOW)]));
        assert!(d.warnings.is_empty());
    }

    #[test]
    fn the_period_counts_from_the_recorded_first_missing_run() {
        let rec = record(&[("a", NOW - HOUR)]);
        let d = decide(
            &keys(&["a", "b"]),
            &keys(&["b"]),
            &rec,
            NOW,
            2 * HOUR,
            16,
            0,
        );
        assert_eq!(kept(&d), ["a"]);
        assert_eq!(d.retained[0].until, "2026-09-14T11:00:00Z");
        assert_eq!(d.kept_missing, rec);
    }

    #[test]
    fn an_expired_key_goes_but_stays_recorded_until_written_away() {
        let rec = record(&[("a", NOW - 2 * HOUR)]);
        let d = decide(
            &keys(&["a", "b"]),
            &keys(&["b"]),
            &rec,
            NOW,
            2 * HOUR,
            16,
            0,
        );
        assert!(d.keep.is_empty());
        assert!(d.retained.is_empty());
        assert_eq!(d.all_missing, rec, "still live until a write removes it");
        assert!(d.kept_missing.is_empty());
        // One millisecond earlier it is still kept.
        let d = decide(
            &keys(&["a", "b"]),
            &keys(&["b"]),
            &rec,
            NOW - 1,
            2 * HOUR,
            16,
            0,
        );
        assert_eq!(kept(&d), ["a"]);
    }

    #[test]
    fn a_key_published_again_leaves_the_record() {
        let rec = record(&[("a", NOW - HOUR)]);
        let d = decide(
            &keys(&["a", "b"]),
            &keys(&["a", "b"]),
            &rec,
            NOW,
            2 * HOUR,
            16,
            0,
        );
        assert!(d.keep.is_empty());
        assert!(d.all_missing.is_empty());
        assert!(d.kept_missing.is_empty());
    }

    #[test]
    fn new_material_under_the_same_kid_and_alg_is_never_retained() {
        let live = vec![ec("a", X, Y)];
        let idp = vec![ec("a", X2, Y2)];
        let d = decide(&live, &idp, &FirstMissing::default(), NOW, 2 * HOUR, 16, 0);
        assert!(d.keep.is_empty());
        assert!(d.all_missing.is_empty());
    }

    #[test]
    fn the_idp_keys_win_the_room_under_max_keys() {
        // Room for one retired key: the one that went missing last.
        let rec = record(&[("old", NOW - HOUR), ("older", NOW - 90 * 60_000)]);
        let live = keys(&["older", "old", "newer"]);
        let d = decide(&live, &keys(&["x", "y"]), &rec, NOW, 2 * HOUR, 3, 0);
        assert_eq!(kept(&d), ["newer"]);
        assert_eq!(
            d.warnings,
            vec![
                "older (ES256): retired by the IdP and within its grace period, but there is no room for it under MAX_KEYS (3); removed",
                "old (ES256): retired by the IdP and within its grace period, but there is no room for it under MAX_KEYS (3); removed",
            ]
        );
        assert_eq!(d.kept_missing, record(&[("newer", NOW)]));
        assert_eq!(
            d.all_missing,
            record(&[
                ("old", NOW - HOUR),
                ("older", NOW - 90 * 60_000),
                ("newer", NOW)
            ])
        );
        // No room at all: the IdP already fills MAX_KEYS.
        let d = decide(&live, &keys(&["x", "y", "z"]), &rec, NOW, 2 * HOUR, 3, 0);
        assert!(d.keep.is_empty());
        assert_eq!(d.warnings.len(), 3);
    }

    /// Symmetric keys every write keeps take their slots before any retired key.
    #[test]
    fn reserved_slots_come_before_retired_keys() {
        let live = keys(&["old", "older"]);
        let rec = record(&[("old", NOW - HOUR), ("older", NOW - 90 * 60_000)]);
        // MAX_KEYS 4, one IdP key, two kept symmetric keys: room for one retired key.
        let d = decide(&live, &keys(&["x"]), &rec, NOW, 2 * HOUR, 4, 2);
        assert_eq!(kept(&d), ["old"]);
        assert_eq!(
            d.warnings,
            vec!["older (ES256): retired by the IdP and within its grace period, but there is no room for it under MAX_KEYS (4); removed"]
        );
        // Three reserved: none.
        let d = decide(&live, &keys(&["x"]), &rec, NOW, 2 * HOUR, 4, 3);
        assert!(d.keep.is_empty());
        assert_eq!(d.warnings.len(), 2);
    }

    #[test]
    fn kept_keys_keep_live_order_and_ties_keep_live_order() {
        let d = decide(
            &keys(&["c", "a", "b"]),
            &keys(&["x"]),
            &FirstMissing::default(),
            NOW,
            HOUR,
            3,
            0,
        );
        assert_eq!(kept(&d), ["c", "a"]);
        assert_eq!(d.warnings.len(), 1);
        assert!(d.warnings[0].starts_with("b (ES256)"));
    }

    #[test]
    fn a_record_from_the_future_counts_from_now() {
        let rec = record(&[("a", NOW + HOUR)]);
        let d = decide(&keys(&["a"]), &keys(&["b"]), &rec, NOW, HOUR, 16, 0);
        assert_eq!(d.kept_missing, record(&[("a", NOW)]));
    }

    #[test]
    fn the_record_round_trips_and_tolerates_garbage() {
        let rec = record(&[("b", 2), ("a", 1)]);
        let text = rec.to_json();
        assert_eq!(
            text,
            r#"[{"kid":"a","alg":"ES256","since_ms":1},{"kid":"b","alg":"ES256","since_ms":2}]"#
        );
        assert_eq!(FirstMissing::from_json(&text), rec);
        assert!(FirstMissing::from_json("not json").is_empty());
        assert!(FirstMissing::from_json("").is_empty());
    }
}
